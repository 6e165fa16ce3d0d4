#!/usr/bin/env bash
# Memory under load and at rest, per server.
#
#   tests/adversarial/memory.sh [--full]   fast: 100,000 requests, 2,000 idle connections
#                                          full: 1,000,000 requests, 10,000 idle connections
#
# requests  h2load (HTTP/1.1, 64 keep-alive connections, 2 threads) sends a fixed number of
#           requests for a 4 KiB page (through the proxy: to a static upstream); VmRSS is
#           sampled every 0.2 s. "Settled" is the median of the samples taken in the second
#           tenth of the run (after warm-up); every later sample while the load runs must lie
#           within 10% of it, and one taken 2 s after the run (connections closed) must not be
#           above that band. Every request must succeed. The access log is on (combined, to
#           /dev/null), as in production.
# idle      a fresh server (--max-connections 20000, so the per-worker share of the default
#           10,000 is no limit; the servers raise their soft open-files limit to the hard one)
#           warms up with 1,000 requests; then N connections each make one keep-alive request
#           and stay open, idle. The VmRSS growth
#           (median of 5 samples before and after, the after ones taken 3 s into the idle
#           period, when idle connections have given back their buffers) divided by N must be at
#           most 8 KiB. All N must still be open when the client lets go. The idle servers run
#           with MALLOC_MMAP_THRESHOLD_=4096: every buffer is mapped on its own and unmapped when
#           freed, so the growth is what idle connections hold; with glibc's default, the holes
#           freed buffers leave between live allocations made the figure swing 4-8.4 KiB from
#           run to run of the same build.
#           The proxy budgets two descriptors per connection (client and upstream), so it holds
#           at most (hard open-files limit - 64) / 2 connections, split over its workers. Where
#           the hard limit is too low for N and cannot be raised (it needs CAP_SYS_RESOURCE),
#           the proxy gets 96% of what it can hold (the kernel does not spread connections over
#           the workers exactly evenly) and the line says so.
set -uo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
adv_init memory "$@"
have h2load || { say "memory: h2load is missing (apt-get install nghttp2-client)"; exit 1; }

if full; then REQUESTS=1000000 IDLE=10000; else REQUESTS=100000 IDLE=2000; fi
report ""
report "### Memory ($REQUESTS requests; $IDLE idle keep-alive connections)"

site=$ADV_TMP/site
make_site "$site"
head -c 4096 /dev/urandom | base64 -w 76 | head -c 4096 >"$site/page.txt"

# judge_rss SAMPLES START END -> "settled peak final lo hi n bad" (KiB; START/END in sampler seconds)
judge_rss() {
    python3 - "$@" <<'EOF'
import json, statistics, sys
samples = json.load(open(sys.argv[1]))
start, end = float(sys.argv[2]), float(sys.argv[3])
dur = end - start
warm = [k for t, k in samples if start + 0.1 * dur <= t <= start + 0.2 * dur]
if not warm:
    warm = [k for t, k in samples if t >= start][:3]
settled = statistics.median(warm)
# While the load runs (its last half second excluded: h2load closing its connections frees
# their buffers), within 10% either way; afterwards it may only have gone down.
during = [k for t, k in samples if start + 0.2 * dur < t < end - 0.5] or [settled]
final = samples[-1][1]
lo, hi = min(during), max(during)
bad = hi > settled * 1.10 or lo < settled * 0.90 or final > settled * 1.10
print(int(settled), max(k for _, k in samples), final, lo, hi, len(samples), 1 if bad else 0)
EOF
}

# load NAME PID ADDR [UPSTREAM_PID]
load() {
    local name=$1 pid=$2 addr=$3 up_pid=${4:-}
    local stop=$ADV_TMP/$name-rss.stop samples=$ADV_TMP/$name-rss.json
    local t0 t_start t_end sampler usampler=""
    t0=$(date +%s.%N)
    spawn "$name-rss" $ADV_PY rss --pid "$pid" --interval 0.2 --stop-file "$stop" --out "$samples"
    sampler=$SPAWNED
    if [[ -n $up_pid ]]; then
        spawn "$name-up-rss" $ADV_PY rss --pid "$up_pid" --interval 0.5 --stop-file "$stop" --out "$samples.up"
        usampler=$SPAWNED
    fi
    sleep 1
    t_start=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.3f", b - a }')
    timeout 600 h2load --h1 -n "$REQUESTS" -c 64 -t 2 "http://$addr/page.txt" >"$ADV_TMP/$name-h2load.out" 2>&1
    t_end=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.3f", b - a }')
    sleep 2
    touch "$stop"
    wait "$sampler"
    [[ -n $usampler ]] && wait "$usampler"
    local h line succeeded failed rps settled peak final lo hi n bad
    h=$ADV_TMP/$name-h2load.out
    line=$(grep -m1 '^requests:' "$h")
    succeeded=$(sed -E 's/.* ([0-9]+) succeeded.*/\1/' <<<"$line")
    failed=$(sed -E 's/.* ([0-9]+) failed.*/\1/' <<<"$line")
    rps=$(grep -m1 '^finished in' "$h" | sed -E 's/.*, ([0-9.]+) req\/s.*/\1/')
    verdict "$name requests" "$([[ $succeeded == "$REQUESTS" && $failed == 0 ]] && echo 0 || echo 1)" \
        "$succeeded/$REQUESTS succeeded, $failed failed, $rps req/s (h2load, 64 connections)" "$(tail -n 12 "$h")"
    read -r settled peak final lo hi n bad < <(judge_rss "$samples" "$t_start" "$t_end")
    local extra=""
    if [[ -n $up_pid ]]; then
        local up
        up=$(python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); print(min(k for _,k in s), max(k for _,k in s))' "$samples.up")
        extra="; its static upstream ${up% *}-${up#* } KiB"
    fi
    verdict "$name RSS flat" "$bad" \
        "settled at $settled KiB; during the rest of the run $lo-$hi KiB (limit +-10%: $((settled * 90 / 100))-$((settled * 110 / 100))), 2 s after it $final KiB; peak $peak KiB, $n samples$extra"
}

# idle NAME PID ADDR COUNT [NOTE]
idle() {
    local name=$1 pid=$2 addr=$3 count=$4 note=${5:-}
    local ready=$ADV_TMP/$name-idle.ready release=$ADV_TMP/$name-idle.release
    h2load --h1 -n 1000 -c 10 "http://$addr/page.txt" >/dev/null 2>&1
    sleep 2
    local before after
    before=$(for _ in 1 2 3 4 5; do proc_kb "$pid" VmRSS; sleep 0.2; done | sort -n | sed -n 3p)
    spawn "$name-idle" bash -c 'ulimit -n "$(ulimit -Hn)"; exec "$@"' _ python3 "$ADV_DIR/helpers/adv.py" idle "$addr" \
        --path /page.txt --count "$count" --batch 500 --hold 60 --max-time 120 --ready-file "$ready" --release-file "$release"
    local client=$SPAWNED
    for _ in $(seq 1200); do [[ -f $ready ]] && break; sleep 0.1; done
    sleep 3
    after=$(for _ in 1 2 3 4 5; do proc_kb "$pid" VmRSS; sleep 0.2; done | sort -n | sed -n 3p)
    touch "$release"
    wait "$client"
    local out=$ADV_TMP/$name-idle.out held ok alive per
    held=$(jget "$out" 'j["idle"]') ok=$(jget "$out" 'j["ok"]') alive=$(jget "$out" 'j["alive_at_release"]')
    per=$(awk -v a="$after" -v b="$before" -v n="$count" 'BEGIN { printf "%.2f", (a - b) / n }')
    local bad=1
    if ((held == count && ok == count && alive == count)) && awk -v p="$per" 'BEGIN { exit !(p <= 8) }'; then bad=0; fi
    verdict "$name idle connections" "$bad" \
        "$alive/$count keep-alive connections open and idle: VmRSS $before -> $after KiB, $per KiB each (limit 8)$note" \
        "$(cat "$out")"
}

# --- static ---------------------------------------------------------------------------------
SPAWN_STDOUT=/dev/null start_static static "$site" || exit 1
load static "$SPAWNED" "$ADDR"
stop_pid "$SPAWNED" >/dev/null
hard=$(ulimit -Hn)
MALLOC_MMAP_THRESHOLD_=4096 start_static static-idle "$site" --log-format off --max-connections 20000 || exit 1
idle static "$SPAWNED" "$ADDR" "$IDLE"
stop_pid "$SPAWNED" >/dev/null

# --- proxy ----------------------------------------------------------------------------------
SPAWN_STDOUT=/dev/null start_static upstream "$site" --log-format off || exit 1
up_pid=$SPAWNED up=$ADDR
SPAWN_STDOUT=/dev/null start_proxy proxy --route "/=http://$up" || exit 1
load proxy "$SPAWNED" "$ADDR" "$up_pid"
stop_pid "$SPAWNED" >/dev/null
# Try to raise the hard limit for the proxy (root with CAP_SYS_RESOURCE can).
want=$((2 * IDLE + 64 + 256))
if [[ $hard != unlimited ]] && ((hard < want)) && (ulimit -n "$want") 2>/dev/null; then
    NOFILE=$want MALLOC_MMAP_THRESHOLD_=4096 start_proxy proxy-idle --log-format off --max-connections 20000 --route "/=http://$up" || exit 1
    hard=$want
else
    MALLOC_MMAP_THRESHOLD_=4096 start_proxy proxy-idle --log-format off --max-connections 20000 --route "/=http://$up" || exit 1
fi
count=$IDLE note=""
if [[ $hard != unlimited ]] && ((2 * IDLE + 64 > hard)); then
    count=$(((hard - 64) / 2 * 96 / 100))
    note=" ($count, not $IDLE: the hard open-files limit here is $hard and cannot be raised; at two descriptors per connection the proxy holds at most $(((hard - 64) / 2)))"
fi
idle proxy "$SPAWNED" "$ADDR" "$count" "$note"

adv_summary
