#!/usr/bin/env bash
# The test command.
#
#   scripts/test.sh [SUITE...]
#
# Suites, run in this order when none is named:
#   rust         cargo fmt --check, cargo clippy -D warnings, cargo test --release
#   container    the static and proxy images with podman (tests/container/run.sh)
#   compose      sites A and B behind the HTTPS proxy (tests/compose/run.sh)
#   infra        infrastructure checks (tests/infra/run.sh)
#   adversarial  attacks on the servers (tests/adversarial/run.sh), if present
#
# Runs scripts/setup.sh first (quick when all is installed) unless SKIP_SETUP=1.
# Each suite prints its own summary; the last line is "N passed, M failed",
# counting suites, and the exit status is non-zero if any suite failed.
set -uo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO" || exit 1

all=(rust container compose infra adversarial)
suites=()
for arg in "$@"; do
    case $arg in
        -h|--help) print_usage; exit 0 ;;
        rust|container|compose|infra|adversarial) suites+=("$arg") ;;
        *) die "unknown suite: $arg (suites: ${all[*]})" ;;
    esac
done
explicit=1
if ((${#suites[@]} == 0)); then
    explicit=0
    suites=("${all[@]}")
fi

t_all=$(now)
if [[ "${SKIP_SETUP:-0}" != 1 ]]; then
    t0=$(now)
    bash "$REPO/scripts/setup.sh" || die "scripts/setup.sh failed"
    echo "setup: $(since "$t0")s"
fi

suite_rust() {
    # Not the lib.sh check(): cargo's own output is worth seeing as it runs.
    local rc failed=0 passed=0
    step() {
        local name=$1 t
        shift
        t=$(now)
        echo "--- $name"
        "$@"
        rc=$?
        if ((rc == 0)); then
            passed=$((passed + 1)); echo "  ok   $name ($(since "$t")s)"
        else
            failed=$((failed + 1)); echo "  FAIL $name (exit $rc, $(since "$t")s)"
        fi
    }
    local locked=()
    [[ -f Cargo.lock ]] && locked=(--locked)
    step "cargo fmt --check" cargo fmt --all -- --check
    step "cargo clippy" cargo clippy --workspace --all-targets "${locked[@]}" -- -D warnings
    step "cargo test --release" cargo test --workspace --release "${locked[@]}"
    echo "rust: $passed passed, $failed failed"
    ((failed == 0))
}

run_script_suite() { # name path
    local name=$1 path=$2
    if [[ ! -f $path ]]; then
        echo "$name: ${path#"$REPO"/} does not exist"
        return 1
    fi
    bash "$path"
}

passed=0 failed=0
results=()
for s in "${suites[@]}"; do
    if [[ $s == adversarial && $explicit == 0 && ! -f tests/adversarial/run.sh ]]; then
        continue
    fi
    echo
    echo "==================== suite: $s ===================="
    t0=$(now)
    case $s in
        rust) suite_rust ;;
        *) run_script_suite "$s" "$REPO/tests/$s/run.sh" ;;
    esac
    rc=$?
    dt=$(since "$t0")
    if ((rc == 0)); then
        passed=$((passed + 1)); results+=("  PASS  $s  (${dt}s)")
    else
        failed=$((failed + 1)); results+=("  FAIL  $s  (${dt}s, exit $rc)")
    fi
    echo "==================== $s: $([[ $rc == 0 ]] && echo passed || echo FAILED) in ${dt}s"
done

echo
echo "==================== summary ($(since "$t_all")s)"
printf '%s\n' "${results[@]}"
echo "$passed passed, $failed failed"
((failed == 0))
