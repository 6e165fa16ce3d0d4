# Shared helpers for the scripts in scripts/ and tests/*/run.sh.
# Source it; it only sets variables for the calling script (nothing global).
# shellcheck shell=bash

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export REPO

MUSL_TARGET=x86_64-unknown-linux-musl
export MUSL_TARGET
# The Containerfiles copy the binaries from here (BUILD=host).
# shellcheck disable=SC2034  # used by the scripts that source this file
MUSL_RELEASE_DIR="$REPO/target/$MUSL_TARGET/release"

# ring (rustls) compiles C code for the musl target.
if [[ -z "${CC_x86_64_unknown_linux_musl:-}" ]] && command -v musl-gcc >/dev/null 2>&1; then
    export CC_x86_64_unknown_linux_musl=musl-gcc
fi
# arm64 (Graviton): Debian's aarch64 cross compiler builds ring's C code and links; Rust's
# aarch64 musl target brings its own musl, so the result is static all the same.
if command -v aarch64-linux-gnu-gcc >/dev/null 2>&1; then
    export CC_aarch64_unknown_linux_musl="${CC_aarch64_unknown_linux_musl:-aarch64-linux-gnu-gcc}"
    export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER="${CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER:-aarch64-linux-gnu-gcc}"
fi

# musl_target ARCH: the Rust target of an image architecture (amd64, arm64).
musl_target() {
    case $1 in
        amd64) echo x86_64-unknown-linux-musl ;;
        arm64) echo aarch64-unknown-linux-musl ;;
        *) return 1 ;;
    esac
}

# Keep HEALTHCHECK when podman/podman-compose build images (OCI format drops it).
export BUILDAH_FORMAT="${BUILDAH_FORMAT:-docker}"

if [[ -t 1 && -z "${NO_COLOR:-}" ]]; then
    _c_b=$'\e[1m' _c_g=$'\e[32m' _c_r=$'\e[31m' _c_y=$'\e[33m' _c_0=$'\e[0m'
else
    _c_b='' _c_g='' _c_r='' _c_y='' _c_0=''
fi

log()  { printf '%s==>%s %s\n' "$_c_b" "$_c_0" "$*" >&2; }
warn() { printf '%swarning:%s %s\n' "$_c_y" "$_c_0" "$*" >&2; }
die()  { printf '%serror:%s %s\n' "$_c_r" "$_c_0" "$*" >&2; exit 1; }
have() { command -v "$1" >/dev/null 2>&1; }

# use_engine: decides the container engine, its compose front end and podman's settings, and
# exports them (ENGINE, COMPOSE, CONTAINERS_CONF). Call it when it is needed, after
# scripts/setup.sh, never at source time: what is installed may change in between.
#   - ENGINE/COMPOSE set by the caller win (ENGINE=docker COMPOSE="docker compose"); the engine
#     must work, or this dies saying why.
#   - Otherwise podman (with podman-compose) when installed; else docker, only if its daemon
#     answers (a leftover docker client without a daemon does not count).
#   - podman gets scripts/containers.conf (runc, explicit ulimits: crun and podman's default
#     rlimits fail on some VMs) unless CONTAINERS_CONF is set, USE_SYSTEM_CONTAINERS_CONF=1, or
#     runc is missing.
use_engine() {
    if [[ -z "${ENGINE:-}" ]]; then
        if have podman; then
            ENGINE=podman
        elif have docker && docker info >/dev/null 2>&1; then
            ENGINE=docker
        elif have docker; then
            die "podman is missing and docker's daemon does not answer (docker info failed): run scripts/setup.sh --minimal (installs podman), or start the docker daemon and set ENGINE=docker"
        else
            die "no container engine: run scripts/setup.sh --minimal (installs podman)"
        fi
    fi
    case $ENGINE in
        podman) have podman || die "ENGINE=podman but podman is missing: run scripts/setup.sh --minimal" ;;
        docker)
            have docker || die "ENGINE=docker but docker is missing"
            docker info >/dev/null 2>&1 || die "ENGINE=docker but docker's daemon does not answer (docker info failed)"
            ;;
        *) die "ENGINE must be podman or docker (got: $ENGINE)" ;;
    esac
    if [[ -z "${COMPOSE:-}" ]]; then
        if [[ $ENGINE == docker ]]; then COMPOSE="docker compose"; else COMPOSE=podman-compose; fi
    fi
    if [[ $ENGINE == podman && -z "${CONTAINERS_CONF:-}" && "${USE_SYSTEM_CONTAINERS_CONF:-0}" != 1 ]] &&
        { have runc || [[ -x /usr/sbin/runc ]]; }; then
        CONTAINERS_CONF="$REPO/scripts/containers.conf"
        export CONTAINERS_CONF
    fi
    export ENGINE COMPOSE
}

# Run as root, or through sudo when there is one.
as_root() {
    if [[ $(id -u) -eq 0 ]]; then "$@"
    elif have sudo; then sudo "$@"
    else die "need root for: $*"
    fi
}

# Seconds since the epoch, with fractions.
now() { date +%s.%N; }
# Elapsed seconds since $1 (from now), one decimal.
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# --- tiny test framework: check NAME CMD...; summary SUITE ------------------
PASSED=0
FAILED=0
FAILED_NAMES=()
pass() { PASSED=$((PASSED + 1)); printf '  %sok%s   %s\n' "$_c_g" "$_c_0" "$1"; }
fail() {
    FAILED=$((FAILED + 1)); FAILED_NAMES+=("$1")
    printf '  %sFAIL%s %s\n' "$_c_r" "$_c_0" "$1"
    if [[ -n "${2:-}" ]]; then printf '%s\n' "$2" | sed 's/^/       /' | head -n 40; fi
}
# check NAME CMD [ARGS...]: runs CMD, pass if it exits 0; its output is shown on failure.
check() {
    local name=$1 out rc
    shift
    out=$("$@" 2>&1) && rc=0 || rc=$?
    if [[ $rc -eq 0 ]]; then pass "$name"; else fail "$name (exit $rc)" "$out"; fi
    return 0
}
# summary SUITE: prints "SUITE: N passed, M failed" and returns 1 if any failed.
summary() {
    local n
    if ((FAILED > 0)); then
        for n in "${FAILED_NAMES[@]}"; do printf '  failed: %s\n' "$n"; done
    fi
    printf '%s: %d passed, %d failed\n' "$1" "$PASSED" "$FAILED"
    ((FAILED == 0))
}

# --- HTTP helpers ------------------------------------------------------------
# wait_for_http URL [TIMEOUT_S] [CURL_ARGS...]: waits until URL answers at all
# (any HTTP status); returns 1 on timeout.
wait_for_http() {
    local url=$1 timeout=${2:-30} deadline
    shift 2 || shift $#
    deadline=$(($(date +%s) + timeout))
    while :; do
        if curl -s -o /dev/null -m 2 "$@" "$url"; then return 0; fi
        (($(date +%s) >= deadline)) && return 1
        sleep 0.2
    done
}

# free_port: prints a TCP port that is free on 127.0.0.1 right now.
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# is_static_elf FILE: true if FILE is an ELF without a program interpreter and
# without shared-library dependencies.
is_static_elf() {
    local f=$1 phdrs dyn
    [[ -f "$f" ]] || return 1
    phdrs=$(readelf -lW "$f" 2>/dev/null) || return 1
    dyn=$(readelf -dW "$f" 2>/dev/null) || true
    [[ $phdrs != *INTERP* && $dyn != *'(NEEDED)'* ]]
}

# human SIZE_IN_BYTES
human() { awk -v b="$1" 'BEGIN { if (b >= 1048576) printf "%.2f MiB", b/1048576; else printf "%.1f KiB", b/1024 }'; }

# Workspace version from Cargo.toml ([workspace.package] version).
workspace_version() {
    sed -n '/^\[workspace.package\]/,/^\[/ s/^version *= *"\(.*\)"/\1/p' "$REPO/Cargo.toml" | head -n1
}

# print_usage: the calling script's header comment (after the #! line).
print_usage() { awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "$0"; }
