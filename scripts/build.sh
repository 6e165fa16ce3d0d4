#!/usr/bin/env bash
# Builds the static musl binaries (and, with --images, the container images).
#
#   scripts/build.sh [--images] [--arch amd64|arm64|all] [static] [proxy]
#
#   static, proxy   which ones (default: both)
#   --arch          which architectures (default amd64; ARCH=... too): arm64
#                   cross-compiles with Debian's gcc-aarch64-linux-gnu
#                   (scripts/setup.sh installs it)
#   --images        also build the images with podman (or ENGINE=docker); they
#                   copy the binaries built here (BUILD=host), so an arm64
#                   image needs no emulation (FROM scratch, COPY only):
#                     <img>:latest, <img>:<version>   amd64 (what compose runs)
#                     <img>:<version>-<arch>          one per architecture
#                     <img>:<version>-multiarch       manifest list of them all
#                                                     (--arch all, podman)
#
# Binaries: target/<rust target>/release/{static,proxy}. The build fails if one
# of them is not statically linked or not for its architecture.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

images=0
which=()
arch=${ARCH:-amd64}
while (($#)); do
    case $1 in
        --images) images=1 ;;
        --arch) arch=${2:-}; shift ;;
        --arch=*) arch=${1#--arch=} ;;
        static|proxy) which+=("$1") ;;
        -h|--help) print_usage; exit 0 ;;
        *) die "unknown argument: $1 (try --help)" ;;
    esac
    shift
done
((${#which[@]})) || which=(static proxy)
case $arch in
    all) arches=(amd64 arm64) ;;
    amd64|arm64) arches=("$arch") ;;
    *) die "--arch must be amd64, arm64 or all (got: '$arch')" ;;
esac

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
for a in "${arches[@]}"; do
    target=$(musl_target "$a")
    if [[ $a == arm64 ]]; then
        have aarch64-linux-gnu-gcc || die "arm64 needs the aarch64 cross compiler: scripts/setup.sh (or apt-get install gcc-aarch64-linux-gnu)"
    fi
    if have rustup && ! rustup target list --installed | grep -qx "$target"; then
        log "rustup target add $target"
        rustup target add "$target"
    fi
    log "cargo build --release ${locked[*]} --target $target ${pkg_args[*]}"
    cargo build --release "${locked[@]}" --target "$target" "${pkg_args[@]}"

    # The Containerfiles take the binaries from the repo's target/; if
    # CARGO_TARGET_DIR points elsewhere, copy them there.
    out_dir="${CARGO_TARGET_DIR:-$REPO/target}/$target/release"
    dest="$REPO/target/$target/release"
    if [[ "$(realpath -m "$out_dir")" != "$(realpath -m "$dest")" ]]; then
        mkdir -p "$dest"
        for b in "${which[@]}"; do cp -f "$out_dir/$b" "$dest/$b"; done
    fi
    machine=$([[ $a == arm64 ]] && echo AArch64 || echo X86-64)
    for b in "${which[@]}"; do
        f="$dest/$b"
        [[ -x $f ]] || die "$f was not built"
        is_static_elf "$f" || die "$f is not statically linked: $(file -b "$f" 2>/dev/null)"
        readelf -h "$f" | grep -q "Machine:.*$machine" || die "$f is not an $a binary"
        printf '  %-7s %-5s %10s  %s (static)\n' "$b" "$a" "$(human "$(stat -c %s "$f")")" "${f#"$REPO"/}" >&2
    done
done
log "binaries built in $(since "$t0")s"

((images)) || exit 0

use_engine
version=$(workspace_version)
fmt=()
[[ $ENGINE == podman ]] && fmt=(--format docker)
for b in "${which[@]}"; do
    for a in "${arches[@]}"; do
        t1=$(now)
        blog=$(mktemp)
        tags=(-t "$b:$version-$a")
        [[ $a == amd64 ]] && tags+=(-t "$b:latest" -t "$b:$version")
        log "$ENGINE build --platform linux/$a -f Containerfile.$b ${tags[*]}"
        # --build-arg BUILD=host explicitly: Debian 12's podman needs it to skip the
        # bin-source stage (see the Containerfiles). --format docker keeps HEALTHCHECK.
        "$ENGINE" build "${fmt[@]}" --platform "linux/$a" --build-arg BUILD=host \
            --build-arg "TARGET=$(musl_target "$a")" --build-arg "VERSION=$version" \
            -f "Containerfile.$b" "${tags[@]}" . >"$blog" 2>&1 ||
            { cat "$blog" >&2; die "$ENGINE build of $b ($a) failed"; }
        rm -f "$blog"
        size=$("$ENGINE" image inspect "$b:$version-$a" --format '{{.Size}}')
        printf '  image %-7s %-5s %10s  (%ss)\n' "$b:$version-$a" "$a" "$(human "$size")" "$(since "$t1")" >&2
    done
    if ((${#arches[@]} > 1)) && [[ $ENGINE == podman ]]; then
        list="$b:$version-multiarch"
        podman manifest rm "$list" >/dev/null 2>&1 || true
        podman manifest create "$list" >/dev/null
        for a in "${arches[@]}"; do podman manifest add "$list" "containers-storage:localhost/$b:$version-$a" >/dev/null; done
        log "manifest list $list: ${arches[*]}"
    fi
done
