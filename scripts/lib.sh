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

# Podman: use the project's containers.conf (runc + explicit ulimits, needed on
# some VMs) unless you set CONTAINERS_CONF yourself, set
# USE_SYSTEM_CONTAINERS_CONF=1, or runc is not installed.
if [[ -z "${CONTAINERS_CONF:-}" && "${USE_SYSTEM_CONTAINERS_CONF:-0}" != 1 ]] \
    && { command -v runc >/dev/null 2>&1 || [[ -x /usr/sbin/runc ]]; }; then
    export CONTAINERS_CONF="$REPO/scripts/containers.conf"
fi
# Keep HEALTHCHECK when podman/podman-compose build images (OCI format drops it).
export BUILDAH_FORMAT="${BUILDAH_FORMAT:-docker}"

# Container engine and compose front end: podman and podman-compose, unless
# ENGINE / COMPOSE say otherwise (ENGINE=docker COMPOSE="docker compose"), or
# only docker is installed. The test suites use podman.
if [[ -z "${ENGINE:-}" ]]; then
    if command -v podman >/dev/null 2>&1 || ! command -v docker >/dev/null 2>&1; then ENGINE=podman; else ENGINE=docker; fi
fi
if [[ -z "${COMPOSE:-}" ]]; then
    if [[ $ENGINE == docker ]]; then COMPOSE="docker compose"; else COMPOSE=podman-compose; fi
fi

if [[ -t 1 && -z "${NO_COLOR:-}" ]]; then
    _c_b=$'\e[1m' _c_g=$'\e[32m' _c_r=$'\e[31m' _c_y=$'\e[33m' _c_0=$'\e[0m'
else
    _c_b='' _c_g='' _c_r='' _c_y='' _c_0=''
fi

log()  { printf '%s==>%s %s\n' "$_c_b" "$_c_0" "$*" >&2; }
warn() { printf '%swarning:%s %s\n' "$_c_y" "$_c_0" "$*" >&2; }
die()  { printf '%serror:%s %s\n' "$_c_r" "$_c_0" "$*" >&2; exit 1; }
have() { command -v "$1" >/dev/null 2>&1; }

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
