#!/usr/bin/env bash
# Builds the cargo-fuzz targets in fuzz/ and runs each one for a bounded time; fails on any
# crash (a panic, a failed invariant assertion, an overflow, a timeout or a sanitizer report).
#
#   tests/adversarial/fuzz.sh [SECONDS_PER_TARGET]
#
#   SECONDS_PER_TARGET  default $FUZZ_SECONDS, else 20 (the CI setting)
#   FUZZ_TARGETS        space-separated subset, e.g. "resolve chunked" (default: all)
#   FUZZ_JOBS           targets fuzzed at the same time (default: CPUs)
#   FUZZ_SANITIZER      none (default) or address. The code under test is safe Rust, so ASan
#                       only watches httparse's SIMD code, at the price of +45 s build time
#                       and a third of the executions; the invariant assertions, overflow
#                       checks and debug assertions are on either way.
#   FUZZ_CODEGEN_UNITS  default 16: a build about 40% faster for slightly slower runs
#   FUZZ_TARGET_DIR     where the fuzz build goes (default fuzz/target; CARGO_TARGET_DIR is
#                       not used, so fuzz builds never thrash the workspace's own)
#
# Needs the nightly toolchain and cargo-fuzz and installs what is missing (`rustup toolchain
# install nightly --profile minimal`; `cargo install cargo-fuzz --locked`: about 2 min 10 s on
# two cores). The seed corpus fuzz/corpus/<target>/ is only read: inputs libFuzzer finds go to
# a temporary directory, removed afterwards. A crashing input is kept in
# fuzz/artifacts/<target>/ (not in git); the summary prints the command that reproduces it.
# To fuzz longer, see fuzz/README.md.
set -euo pipefail
# shellcheck source=../../scripts/lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/scripts/lib.sh"
cd "$REPO"

seconds=${1:-${FUZZ_SECONDS:-20}}
[[ $seconds =~ ^[0-9]+$ && $seconds -gt 0 ]] || die "seconds per target must be a positive integer, got '$seconds'"
jobs=${FUZZ_JOBS:-$(nproc)}
sanitizer=${FUZZ_SANITIZER:-none}
codegen_units=${FUZZ_CODEGEN_UNITS:-16}
target_dir=${FUZZ_TARGET_DIR:-$REPO/fuzz/target}
all_targets=(request_head resolve conditional chunked routes forward static_features h2_frames hpack)
read -r -a targets <<<"${FUZZ_TARGETS:-${all_targets[*]}}"

# Longer inputs where the limits live past libFuzzer's default 4096 bytes: head limits (8 KiB)
# and chunk-extension/trailer limits (4 and 8 KiB).
max_len() {
    case $1 in
        request_head | chunked | forward | h2_frames | hpack) echo 16384 ;;
        *) echo 4096 ;;
    esac
}

t_start=$(now)
if ! cargo +nightly --version >/dev/null 2>&1; then
    have rustup || die "the nightly toolchain is missing and there is no rustup to install it"
    log "installing the nightly toolchain (rustup toolchain install nightly --profile minimal)"
    rustup toolchain install nightly --profile minimal
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    log "installing cargo-fuzz (cargo install cargo-fuzz --locked)"
    t=$(now)
    cargo install cargo-fuzz --locked
    log "cargo-fuzz installed in $(since "$t")s"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/fuzz.XXXXXX")
pids=()
cleanup() {
    local pid
    for pid in "${pids[@]+"${pids[@]}"}"; do
        kill "$pid" 2>/dev/null || true
    done
    rm -rf "$work"
}
trap cleanup EXIT

# All targets in one cargo invocation (they share every dependency); release mode with debug
# assertions and overflow checks, as cargo fuzz builds by default.
log "building the fuzz targets (sanitizer: $sanitizer)"
t=$(now)
if ! cargo +nightly fuzz build --sanitizer "$sanitizer" --codegen-units "$codegen_units" \
    --target-dir "$target_dir" >"$work/build.log" 2>&1; then
    cat "$work/build.log" >&2
    die "cargo fuzz build failed"
fi
build_s=$(since "$t")
log "built in ${build_s}s"
host=$(rustc +nightly -vV | sed -n 's/^host: //p')
bin_dir="$target_dir/$host/release"
for name in "${targets[@]}"; do
    [[ -x $bin_dir/$name ]] || die "no fuzz target '$name' (targets: ${all_targets[*]})"
done

run_target() { # name -> writes $work/<name>.log, exits with libFuzzer's status
    local name=$1
    mkdir -p "$work/$name.corpus" "$REPO/fuzz/artifacts/$name" "$REPO/fuzz/corpus/$name"
    "$bin_dir/$name" "$work/$name.corpus" "$REPO/fuzz/corpus/$name" \
        -max_total_time="$seconds" -max_len="$(max_len "$name")" -timeout=10 \
        -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$REPO/fuzz/artifacts/$name/" >"$work/$name.log" 2>&1
}

log "fuzzing ${#targets[@]} targets for ${seconds}s each, $jobs at a time"
declare -A status
queue=("${targets[@]}")
running=()
while ((${#queue[@]} || ${#running[@]})); do
    while ((${#queue[@]})) && ((${#running[@]} < jobs)); do
        name=${queue[0]}
        queue=("${queue[@]:1}")
        run_target "$name" &
        pids+=($!)
        running+=("$!:$name")
    done
    wait -n || true
    still=()
    for entry in "${running[@]}"; do
        pid=${entry%%:*} name=${entry#*:}
        if kill -0 "$pid" 2>/dev/null; then
            still+=("$entry")
        else
            rc=0
            wait "$pid" || rc=$?
            status[$name]=$rc
        fi
    done
    running=("${still[@]+"${still[@]}"}")
done

failed=0 total_execs=0
printf '\n%-14s %12s %10s %8s %s\n' target executions exec/s corpus result
for name in "${targets[@]}"; do
    logf="$work/$name.log"
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$logf" | tail -1)
    [[ -n $execs ]] || execs=$(sed -n 's/^#\([0-9]*\).*DONE.*/\1/p' "$logf" | tail -1)
    [[ -n $execs ]] || execs=$(sed -n 's/^#\([0-9]*\).*/\1/p' "$logf" | tail -1)
    execs=${execs:-0}
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$logf" | tail -1)
    units=$(sed -n 's/.*DONE .*corp: \([0-9]*\)\/.*/\1/p' "$logf" | tail -1)
    total_execs=$((total_execs + execs))
    if [[ ${status[$name]} == 0 ]]; then
        result=ok
    else
        result="CRASH (exit ${status[$name]})"
        failed=$((failed + 1))
    fi
    printf '%-14s %12s %10s %8s %s\n' "$name" "$execs" "${rate:-?}" "${units:-?}" "$result"
done
for name in "${targets[@]}"; do
    [[ ${status[$name]} == 0 ]] && continue
    echo
    echo "--- $name: libFuzzer output (tail)"
    grep -v '^#[0-9]' "$work/$name.log" | tail -40
    artifact=$(find "$REPO/fuzz/artifacts/$name" -type f -newer "$work/build.log" | head -1)
    echo "--- reproduce: cargo +nightly fuzz run -s $sanitizer $name ${artifact:-fuzz/artifacts/$name/<file>}"
done
echo
echo "fuzz: ${#targets[@]} targets, ${seconds}s each, $total_execs executions, build ${build_s}s, total $(since "$t_start")s"
echo "fuzz: $(( ${#targets[@]} - failed )) passed, $failed failed"
((failed == 0))
