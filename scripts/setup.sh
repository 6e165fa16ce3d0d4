#!/usr/bin/env bash
# Installs what building, running and testing this project needs, on Debian 12
# (or Ubuntu). Idempotent and quick when everything is already there: apt runs
# only if a package is missing, pip only if the requirements changed.
#
#   scripts/setup.sh            everything: build, containers, all test suites
#   scripts/setup.sh --minimal  only what scripts/up.sh needs (musl, podman,
#                               podman-compose, openssl, curl); also SETUP_MINIMAL=1
#
# It exports nothing: the other scripts get their settings from scripts/lib.sh.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

minimal=${SETUP_MINIMAL:-0}
for arg in "$@"; do
    case $arg in
        --minimal) minimal=1 ;;
        -h|--help) print_usage; exit 0 ;;
        *) die "unknown argument: $arg (try --help)" ;;
    esac
done

t0=$(now)

# --- system packages -----------------------------------------------------------
# Needed to build and run: musl toolchain for ring, podman with runc and a
# network stack with DNS (netavark + aardvark-dns), podman-compose, openssl for
# the dev certificates, curl for health waits, binutils for readelf.
pkgs=(musl-tools podman runc podman-compose netavark aardvark-dns iptables
      openssl curl ca-certificates binutils file)
if [[ $minimal != 1 ]]; then
    # Test suites: jq (JSON logs), nginx/haproxy/wrk (comparisons, load),
    # chromium (screenshots), slowhttptest (slow-client attacks), fonts for
    # readable screenshots; testssl.sh and h2load (nghttp2-client) for the adversarial TLS
    # scan and million-request memory check; util-linux for unshare (upstream move test).
    pkgs+=(jq nginx-light haproxy wrk chromium slowhttptest fonts-dejavu-core procps
           testssl.sh nghttp2-client util-linux)
    # arm64 images: the aarch64 cross compiler (ring's C code, the link) and qemu-user to
    # run the result in the container suite.
    pkgs+=(gcc-aarch64-linux-gnu qemu-user)
    if ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
        pkgs+=(python3-venv)
    fi
fi

missing=()
for p in "${pkgs[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done

if ((${#missing[@]})); then
    if ! have apt-get; then
        die "missing packages (${missing[*]}) and no apt-get: install their equivalents by hand"
    fi
    log "installing: ${missing[*]}"
    # Another apt may be running (e.g. an image's first boot): wait for its lock.
    apt_opts=(-o DPkg::Lock::Timeout=900 -o Acquire::Retries=3)
    as_root env DEBIAN_FRONTEND=noninteractive apt-get "${apt_opts[@]}" -qq update
    # nginx and haproxy are here for the benchmarks and comparisons, which start their own
    # instances on loopback: a package's postinst must not start them as system services
    # (nginx would take port 80). policy-rc.d answering 101 ("action not allowed") is Debian's
    # way to say so for the length of this install; a policy already in place is left alone.
    policy=/usr/sbin/policy-rc.d
    own_policy=0
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\nexit 101\n' | as_root tee "$policy" >/dev/null && as_root chmod 755 "$policy" && own_policy=1
    fi
    rc=0
    as_root env DEBIAN_FRONTEND=noninteractive apt-get "${apt_opts[@]}" -y -qq \
        -o Dpkg::Use-Pty=0 install "${missing[@]}" >/dev/null || rc=$?
    ((own_policy)) && as_root rm -f "$policy"
    ((rc == 0)) || die "apt-get install failed (exit $rc)"
    # Nor at the next boot.
    if have systemctl && [[ -d /run/systemd/system ]]; then
        for svc in nginx haproxy; do
            [[ " ${missing[*]} " == *" $svc"* ]] && as_root systemctl disable --now "$svc" >/dev/null 2>&1 || true
        done
    fi
else
    log "system packages: all present"
fi

# --- Rust ------------------------------------------------------------------------
if have rustup; then
    targets=("$MUSL_TARGET")
    [[ $minimal != 1 ]] && targets+=(aarch64-unknown-linux-musl)
    installed_targets=$(rustup target list --installed)
    for t in "${targets[@]}"; do
        if ! grep -qx "$t" <<<"$installed_targets"; then
            log "rustup target add $t"
            rustup target add "$t"
        fi
    done
    if [[ $minimal != 1 ]]; then
        installed=$(rustup component list --installed)
        for c in clippy rustfmt; do
            if ! grep -q "^$c" <<<"$installed"; then
                log "rustup component add $c"
                rustup component add "$c"
            fi
        done
    fi
elif have cargo; then
    warn "no rustup: make sure your Rust toolchain has the $MUSL_TARGET target"
else
    die "no Rust toolchain: install rustup (https://rustup.rs) first"
fi

# --- Python venv for the infra and adversarial tests ------------------------------
reqs=()
for f in scripts/requirements-infra.txt tests/adversarial/requirements.txt; do
    [[ -f "$REPO/$f" ]] && reqs+=("$REPO/$f")
done
if [[ $minimal != 1 ]] && ((${#reqs[@]})); then
    venv="$REPO/.venv"
    stamp="$venv/.requirements.sha256"
    want=$(cat "${reqs[@]}" | sha256sum | cut -d' ' -f1)
    if [[ ! -x "$venv/bin/python" ]]; then
        log "creating $venv"
        python3 -m venv "$venv"
    fi
    if [[ "$(cat "$stamp" 2>/dev/null)" != "$want" ]]; then
        log "pip install -r ${reqs[*]#"$REPO/"}"
        pip_args=()
        for f in "${reqs[@]}"; do pip_args+=(-r "$f"); done
        "$venv/bin/python" -m pip install -q --disable-pip-version-check "${pip_args[@]}"
        echo "$want" >"$stamp"
    fi
fi

log "setup done in $(since "$t0")s"
