#!/usr/bin/env bash
# Slow clients against each server: slowhttptest opens N slow-header (Slowloris) and N
# slow-body (R-U-Dead-Yet) connections at once while a normal client requests a page once a
# second on a new connection.
#
#   tests/adversarial/slow.sh [--full]     fast: N=200 for 20 s; full: N=1000 for 30 s
#
# Checks, per server:
#   normal      at least 95% of the once-a-second requests succeed during the attack
#   slowloris   slowhttptest's slow-header connections are all closed by the server before the
#               test ends (slowhttptest never closes a connection itself before then)
#   rudy        the same for its slow-body connections (against the proxy they go to an
#               upstream that waits for the whole body, so only the proxy's timeout can end them)
#   trickle-*   a precise client: connections that send a header line (or 4 body bytes) every
#               2 s and never close on a response; each must be ended by the server within the
#               header timeout + 2 s (a timeout that restarts on every byte fails this)
# The servers run with their default timeouts (header 10 s).
set -uo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
adv_init slow "$@"
have slowhttptest || { say "slow: slowhttptest is missing (apt-get install slowhttptest)"; exit 1; }

if full; then N=1000 LENGTH=30 RATE=200 TRICKLE=50; else N=200 LENGTH=20 RATE=200 TRICKLE=20; fi
HEADER_TIMEOUT=10
# The server may answer the timeout (408) and the next sweep may be up to 1 s away.
LIFETIME_MAX=$((HEADER_TIMEOUT + 2))
report ""
report "### Slow clients ($N slow-header + $N slow-body connections, ${LENGTH}s)"

site=$ADV_TMP/site
make_site "$site"

# slow_stats PREFIX N LENGTH: "peak ended_at errors bad status". slowhttptest closes its
# connections itself only when the test length is over; a test that ends earlier with
# "No open connections left" had every connection closed by the server.
slow_stats() {
    python3 - "$1" "$2" "$3" <<'EOF'
import csv, re, sys
prefix, n, length = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rows = list(csv.DictReader(open(prefix + ".csv")))
peak = max((int(r["Connected"]) for r in rows), default=0)
text = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", open(prefix + ".out", errors="replace").read())
m = re.search(r"Test ended on (\d+)th second", text)
ended = int(m.group(1)) if m else -1
status = re.search(r"Exit status:\s*(.*)", text)
status = status.group(1).strip() if status else "?"
errors = re.findall(r"error:\s*(\d+)", text)
errors = int(errors[-1]) if errors else -1
ok = status.startswith("No open connections left") and 0 <= ended < length and errors == 0
print(peak, ended, errors, 0 if ok else 1, status.replace(" ", "_"))
EOF
}

attack() { # NAME ADDR PROBE_PATH BODY_PATH
    local name=$1 addr=$2 probe_path=$3 body_path=$4 url="http://$2"
    local pids=() t0
    t0=$(date +%s)
    # slowhttptest needs a descriptor per connection; raise its limit in its own subshell.
    spawn "$name-slowloris" bash -c 'ulimit -n 8192; exec timeout $(($2 + 20)) slowhttptest -H -c "$1" -r "$3" -i 3 -l "$2" -p 3 -g -o "$4" -u "$5"' _ \
        "$N" "$LENGTH" "$RATE" "$ADV_TMP/$name-slowloris" "$url$probe_path"
    pids+=("$SPAWNED")
    spawn "$name-rudy" bash -c 'ulimit -n 8192; exec timeout $(($2 + 20)) slowhttptest -B -c "$1" -r "$3" -i 3 -s 65536 -l "$2" -p 3 -g -o "$4" -u "$5"' _ \
        "$N" "$LENGTH" "$RATE" "$ADV_TMP/$name-rudy" "$url$body_path"
    pids+=("$SPAWNED")
    spawn "$name-trickle-h" timeout $((LENGTH + 20)) $ADV_PY trickle "$addr" --mode header --path "$probe_path" \
        --count "$TRICKLE" --rate 50 --interval 2 --max-time "$LENGTH"
    pids+=("$SPAWNED")
    spawn "$name-trickle-b" timeout $((LENGTH + 20)) $ADV_PY trickle "$addr" --mode body --path "$body_path" \
        --count "$TRICKLE" --rate 50 --interval 2 --max-time "$LENGTH"
    pids+=("$SPAWNED")
    sleep 1 # the probe starts once the attack connections are being opened
    spawn "$name-probe" timeout $((LENGTH + 20)) $ADV_PY probe "$addr" --path "$probe_path" \
        --interval 1 --duration $((LENGTH - 2)) --timeout 5
    pids+=("$SPAWNED")
    local pid
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null; done
    note "$name: attack over after $(($(date +%s) - t0)) s"

    # normal client
    local probe=$ADV_TMP/$name-probe.out total ok
    total=$(jget "$probe" 'j["total"]') ok=$(jget "$probe" 'j["ok"]')
    local need=$(((total * 95 + 99) / 100))
    verdict "$name normal client" "$((ok >= need && total > 0 ? 0 : 1))" \
        "$ok/$total requests succeeded during the attack (need >= 95%), p50 $(jget "$probe" 'j["p50_ms"]') ms, max $(jget "$probe" 'j["max_ms"]') ms" \
        "$(jget "$probe" 'j["failed"]')"

    local kind peak ended errors bad status
    for kind in slowloris rudy; do
        if [[ ! -s $ADV_TMP/$name-$kind.csv ]]; then
            fail "$name $kind" "slowhttptest wrote no statistics" "$(tail -c 600 "$ADV_TMP/$name-$kind.out")"
            continue
        fi
        read -r peak ended errors bad status < <(slow_stats "$ADV_TMP/$name-$kind" "$N" "$LENGTH")
        verdict "$name $kind" "$bad" \
            "$N connections, $peak open at the peak, $errors errors; slowhttptest: '${status//_/ }' at t=${ended}s of ${LENGTH}s" \
            "$(tail -n 4 "$ADV_TMP/$name-$kind.csv")"
    done

    local mode out count closed_n maxl p50 resp
    for mode in h b; do
        out=$ADV_TMP/$name-trickle-$mode.out
        count=$(jget "$out" 'j["count"]') closed_n=$(jget "$out" 'j["closed_by_server"]')
        maxl=$(jget "$out" 'j["lifetime_max_s"]') p50=$(jget "$out" 'j["lifetime_p50_s"]')
        resp=$(jget "$out" 'j["responses"]')
        bad=1
        if [[ $closed_n == "$count" && $maxl != None ]] && python3 -c "import sys; sys.exit(0 if $maxl <= $LIFETIME_MAX else 1)"; then bad=0; fi
        verdict "$name trickle-$([[ $mode == h ]] && echo header || echo body)" "$bad" \
            "$closed_n/$count closed by the server, lifetime p50 ${p50}s max ${maxl}s (limit ${LIFETIME_MAX}s); responses $resp"
    done
}

# --- static ---------------------------------------------------------------------------------
start_static static "$site" --log-format off || exit 1
static_pid=$SPAWNED
attack static "$ADDR" /index.html /index.html
kill -0 "$static_pid" 2>/dev/null && alive=0 || alive=1
verdict "static survived" "$alive" "process still running after the attack"
stop_pid "$static_pid" >/dev/null

# --- proxy ----------------------------------------------------------------------------------
# The upstream of '/' is a static server; '/sink' goes to an upstream that reads whole bodies
# before answering, as an application would.
start_static upstream "$site" --log-format off || exit 1
up=$ADDR
sink_port=$(free_port)
start_upstream sink sink "127.0.0.1:$sink_port" || exit 1
start_proxy proxy --log-format off --route "/=http://$up" --route "/sink=http://127.0.0.1:$sink_port" || exit 1
proxy_pid=$SPAWNED
attack proxy "$ADDR" /index.html /sink/upload
kill -0 "$proxy_pid" 2>/dev/null && alive=0 || alive=1
verdict "proxy survived" "$alive" "process still running after the attack"

adv_summary
