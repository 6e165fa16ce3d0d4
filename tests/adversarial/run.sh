#!/usr/bin/env bash
# The adversarial suite: hostile inputs and hostile conditions against both servers.
#
#   tests/adversarial/run.sh           the fast part (CI, about 10 minutes on 2 cores)
#   tests/adversarial/run.sh --full    the long part: the sizes the issue asks for, and writes
#                                      the figures to tests/adversarial/RESULTS.md
#   tests/adversarial/run.sh [--full] STEP...   only these steps (e.g. shutdown memory)
#
# Steps, in order (each a script beside this one; a missing one is skipped with a note):
#   corpus           malformed and hostile requests, raw sockets (corpus.sh)
#   redbot           REDbot lint of the main responses (redbot.sh)
#   fuzz             cargo-fuzz targets for a bounded time (fuzz.sh; FUZZ_SECONDS per target)
#   shutdown         SIGTERM under wrk load; large bodies streaming through the proxy
#   exhaustion       ulimit -n 128 and more connections than that
#   slow             slowhttptest slow headers and slow bodies (200 each; full: 1,000 each)
#   upstream_faults  upstreams killed, stopped, moved, one of two down (proxy)
#   memory           100,000 requests and 2,000 idle connections (full: 1,000,000; 10,000)
#   tls_scan         testssl.sh (fast: protocols and ciphers; full: everything) and sslyze
#
# Every step prints its own checks with their figures ("PASS name: ..." / "FAIL name: ...")
# and ends with "NAME: N passed, M failed"; those counts are added up here (a step without
# such a line counts as one check, by its exit status). The last line is
# "adversarial: N passed, M failed"; the exit status is non-zero if anything failed.
# Everything runs on 127.0.0.1 (and ::1); every load is bounded in count and time.
#
# Needs (scripts/setup.sh installs them): wrk, slowhttptest, nghttp2-client (h2load),
# testssl.sh, curl, openssl, python3 with venv; REDbot in $REPO/.venv (requirements.txt);
# sslyze is installed by tls_scan.sh into target/venv-sslyze (requirements-tls.txt).
set -uo pipefail
ADV_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$ADV_DIR/../.." && pwd)"
cd "$REPO" || exit 1

mode=fast
steps=()
all=(corpus redbot fuzz shutdown exhaustion slow upstream_faults memory tls_scan)
for arg in "$@"; do
    case $arg in
        --full) mode=full ;;
        --fast) mode=fast ;;
        -h | --help) awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "$0"; exit 0 ;;
        *)
            if [[ " ${all[*]} " == *" $arg "* ]]; then steps+=("$arg"); else
                echo "adversarial: unknown step or option: $arg (steps: ${all[*]})" >&2
                exit 2
            fi
            ;;
    esac
done
((${#steps[@]})) || steps=("${all[@]}")

export ADV_MODE=$mode
export ADV_BIN=${CARGO_TARGET_DIR:-$REPO/target}/release
report=$(mktemp /tmp/adv-report.XXXXXX)
export ADV_REPORT=$report
log=$(mktemp /tmp/adv-log.XXXXXX)
trap 'rm -f "$report" "$log"' EXIT

t_all=$(date +%s)
echo "adversarial ($mode): building the release binaries"
if ! cargo build --release -q -p static-server -p proxy; then
    echo "adversarial: 0 passed, 1 failed"
    exit 1
fi

passed=0 failed=0
summary=()
for step in "${steps[@]}"; do
    script=$ADV_DIR/$step.sh
    echo
    echo "==================== $step ===================="
    if [[ ! -f $script ]]; then
        echo "  (no $step.sh: skipped)"
        summary+=("  skip  $step (no script)")
        continue
    fi
    t0=$(date +%s)
    bash "$script" 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    dt=$(($(date +%s) - t0))
    line=$(grep -E '^[A-Za-z_ -]+: [0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
    if [[ -n $line ]]; then
        p=$(sed -E 's/.*: ([0-9]+) passed.*/\1/' <<<"$line")
        f=$(sed -E 's/.* ([0-9]+) failed.*/\1/' <<<"$line")
        # A step that failed without counting it (crashed, timed out) still counts as failed.
        ((rc != 0 && f == 0)) && f=1
    elif ((rc == 0)); then
        p=1 f=0
    else
        p=0 f=1
    fi
    passed=$((passed + p)) failed=$((failed + f))
    summary+=("  $( ((f == 0)) && echo PASS || echo FAIL)  $step: $p passed, $f failed (${dt}s, exit $rc)")
    if [[ $step =~ ^(corpus|redbot|fuzz)$ ]]; then
        {
            echo ""
            echo "### $step"
            echo "- ${line:-exit $rc} (${dt}s)"
        } >>"$report"
    fi
done

total=$(($(date +%s) - t_all))
echo
echo "==================== summary (${total}s, $mode)"
printf '%s\n' "${summary[@]}"

if [[ $mode == full && ${#steps[@]} == "${#all[@]}" ]]; then
    results=$ADV_DIR/RESULTS.md
    {
        echo "# Adversarial suite: figures of the last full run"
        echo
        echo "\`tests/adversarial/run.sh --full\` on $(date -u '+%Y-%m-%d %H:%M UTC'), commit" \
            "$(git rev-parse --short HEAD 2>/dev/null)$(git diff --quiet 2>/dev/null || echo ' (with uncommitted changes)'),"
        echo "$(nproc) CPUs, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)," \
            "Linux $(uname -r), open-files hard limit $(ulimit -Hn). Total ${total}s:" \
            "$passed checks passed, $failed failed."
        echo
        echo "Method notes: every figure below is printed by the check that judges it; the"
        echo "header comment of each script says exactly what is measured and what passes."
        printf '%s\n' "${summary[@]}" | sed 's/^  /- /'
        cat "$report"
    } >"$results"
    echo "figures written to ${results#"$REPO"/}"
fi
echo "adversarial: $passed passed, $failed failed"
((failed == 0))
