#!/usr/bin/env bash
# Builds the static musl binaries (and, with --images, the container images).
#
#   scripts/build.sh [--images] [static] [proxy]
#
#   static, proxy   which ones (default: both)
#   --images        also build the images static:latest / proxy:latest with
#                   podman (or ENGINE=docker); BUILD=host: they copy the
#                   binaries built here
#
# Binaries: target/x86_64-unknown-linux-musl/release/{static,proxy}. The build
# fails if one of them is not statically linked.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

images=0
which=()
for arg in "$@"; do
    case $arg in
        --images) images=1 ;;
        static|proxy) which+=("$arg") ;;
        -h|--help) print_usage; exit 0 ;;
        *) die "unknown argument: $arg (try --help)" ;;
    esac
done
((${#which[@]})) || which=(static proxy)

cd "$REPO"
have cargo || die "cargo is missing (install Rust via rustup, then run scripts/setup.sh --minimal)"
have musl-gcc || warn "musl-gcc is missing: ring will not build (scripts/setup.sh --minimal installs musl-tools)"

pkg_args=()
for b in "${which[@]}"; do
    case $b in
        static) pkg_args+=(-p static-server) ;;
        proxy) pkg_args+=(-p proxy) ;;
    esac
done
locked=()
[[ -f Cargo.lock ]] && locked=(--locked)

t0=$(now)
log "cargo build --release ${locked[*]} --target $MUSL_TARGET ${pkg_args[*]}"
cargo build --release "${locked[@]}" --target "$MUSL_TARGET" "${pkg_args[@]}"

# The Containerfiles take the binaries from the repo's target/; if
# CARGO_TARGET_DIR points elsewhere, copy them there.
out_dir="${CARGO_TARGET_DIR:-$REPO/target}/$MUSL_TARGET/release"
if [[ "$(realpath -m "$out_dir")" != "$(realpath -m "$MUSL_RELEASE_DIR")" ]]; then
    mkdir -p "$MUSL_RELEASE_DIR"
    for b in "${which[@]}"; do cp -f "$out_dir/$b" "$MUSL_RELEASE_DIR/$b"; done
fi

for b in "${which[@]}"; do
    f="$MUSL_RELEASE_DIR/$b"
    [[ -x $f ]] || die "$f was not built"
    is_static_elf "$f" || die "$f is not statically linked: $(file -b "$f" 2>/dev/null)"
    printf '  %-7s %10s  %s (static)\n' "$b" "$(human "$(stat -c %s "$f")")" "${f#"$REPO"/}" >&2
done
log "binaries built in $(since "$t0")s"

((images)) || exit 0

use_engine
version=$(workspace_version)
fmt=()
[[ $ENGINE == podman ]] && fmt=(--format docker)
for b in "${which[@]}"; do
    t1=$(now)
    blog=$(mktemp)
    log "$ENGINE build -f Containerfile.$b -t $b:latest"
    # --build-arg BUILD=host explicitly: Debian 12's podman needs it to skip the
    # bin-source stage (see the Containerfiles). --format docker keeps HEALTHCHECK.
    "$ENGINE" build "${fmt[@]}" --build-arg BUILD=host --build-arg "VERSION=$version" \
        -f "Containerfile.$b" -t "$b:latest" -t "$b:$version" . >"$blog" 2>&1 ||
        { cat "$blog" >&2; die "$ENGINE build of $b failed"; }
    rm -f "$blog"
    size=$("$ENGINE" image inspect "$b:latest" --format '{{.Size}}')
    printf '  image %-7s %10s  (%ss)\n' "$b:latest" "$(human "$size")" "$(since "$t1")" >&2
done
