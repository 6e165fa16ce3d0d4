#!/usr/bin/env bash
# Descriptor exhaustion: each server runs with `ulimit -n 128` (soft and hard, in the subshell
# that execs it) and more connections are opened than that allows.
#
#   tests/adversarial/exhaustion.sh [--full]     fast: 300 connections per flood; full: 1000
#
# Floods, per server:
#   idle        connections that send nothing (static) or one request each (proxy)
#   files       (static) connections that each ask for a 32 MiB file and read nothing, so every
#               one holds a second descriptor; opening files fails before accepting does
#   pools       (proxy) three floods in a row through three routes to three upstreams, so the
#               upstream pools hold descriptors the connection limit does not count
# Checks, per flood: the process keeps running; a request sent while the server is exhausted
# waits and is answered once the flood's connections close; a request after that is answered
# at once; the condition is logged exactly once (plus one line when it clears), not per
# connection.
set -uo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
adv_init exhaustion "$@"

LIMIT=128
if full; then COUNT=1000; else COUNT=300; fi
HOLD_S=3
report ""
report "### Descriptor exhaustion (ulimit -n $LIMIT, $COUNT connections per flood)"

site=$ADV_TMP/site
make_site "$site" 32

# The lines of FILE after line FROM that report exhaustion or its end.
episode_lines() { tail -n +"$(($2 + 1))" "$1" | grep -cE "$3"; }

# flood NAME ADDR PID ERRFILE SEND_PATH...: one or more floods in a row (one per path; '-' sends
# nothing), then the checks.
flood() {
    local name=$1 addr=$2 pid=$3 err=$4
    shift 4
    local from fds=0 peak_fds=0 i=0 path holds=() queued_pid t_release
    from=$(wc -l <"$err")
    for path in "$@"; do
        i=$((i + 1))
        local ready=$ADV_TMP/$name-ready-$i release=$ADV_TMP/$name-release-$i
        local args=(hold "$addr" --count "$COUNT" --hold 30 --ready-file "$ready" --release-file "$release")
        [[ $path != - ]] && args+=(--path "$path")
        spawn "$name-hold-$i" timeout 60 $ADV_PY "${args[@]}"
        holds+=("$SPAWNED")
        for _ in $(seq 200); do [[ -f $ready ]] && break; sleep 0.05; done
        sleep 1
        # Descriptors below the limit (one inherited from the shell may sit above it).
        fds=$(find "/proc/$pid/fd" -mindepth 1 -maxdepth 1 -printf '%f\n' 2>/dev/null | awk -v l="$LIMIT" '$1 < l' | wc -l)
        ((fds > peak_fds)) && peak_fds=$fds
        if ((i == $#)); then
            # The last flood holds while a normal request arrives, then lets go.
            spawn "$name-queued" timeout 30 $ADV_PY probe "$addr" --path /index.html --duration 1 --timeout 20
            queued_pid=$SPAWNED
            sleep "$HOLD_S"
        fi
        touch "$release"
        wait "${holds[-1]}"
    done
    wait "$queued_pid"
    local after
    after=$($ADV_PY probe "$addr" --path /index.html --duration 1 --timeout 5)
    local alive=1
    kill -0 "$pid" 2>/dev/null && alive=0
    verdict "$name keeps running" "$alive" \
        "$COUNT connections per flood x $#; up to $peak_fds of $LIMIT descriptors in use"
    local q_ok q_ms a_ok a_ms
    q_ok=$(jget "$ADV_TMP/$name-queued.out" 'j["ok"]') q_ms=$(jget "$ADV_TMP/$name-queued.out" 'j["max_ms"]')
    a_ok=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["ok"])' "$after")
    a_ms=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["max_ms"])' "$after")
    verdict "$name serves again" "$((q_ok == 1 && a_ok == 1 ? 0 : 1))" \
        "request sent while exhausted answered after ${q_ms} ms (held ${HOLD_S}s); next request ${a_ms} ms" \
        "$(cat "$ADV_TMP/$name-queued.out") $after"
    # The end of the episode is logged once nothing has run into the limit for 5 s.
    for _ in $(seq 120); do
        (($(episode_lines "$err" "$from" 'resources available again') > 0)) && break
        sleep 0.1
    done
    local reports ends statuses
    reports=$(episode_lines "$err" "$from" 'accept paused|cannot open files|connection limit|Too many open files')
    ends=$(episode_lines "$err" "$from" 'resources available again')
    statuses=$(for f in "$ADV_TMP/$name"-hold-*.out; do jget "$f" 'j["responses"]'; done | paste -sd ' ')
    verdict "$name logs once" "$((reports == 1 && ends == 1 ? 0 : 1))" \
        "$reports exhaustion line(s) and $ends recovery line(s) for $(($# * COUNT)) connections; flood responses $statuses" \
        "$(tail -n +"$((from + 1))" "$err" | head -n 8)"
}

# --- static ---------------------------------------------------------------------------------
NOFILE=$LIMIT start_static static "$site" --log-format off || exit 1
static_pid=$SPAWNED
grep -q "^Max open files *$LIMIT *$LIMIT" "/proc/$static_pid/limits" ||
    { fail "static ulimit" "the descriptor limit was not applied"; adv_summary; exit 1; }
flood static-idle "$ADDR" "$static_pid" "$ADV_TMP/static.err" -
flood static-files "$ADDR" "$static_pid" "$ADV_TMP/static.err" /big-32.bin
stop_pid "$static_pid" >/dev/null

# --- proxy ----------------------------------------------------------------------------------
ups=()
for i in 1 2 3; do
    start_static "upstream$i" "$site" --log-format off || exit 1
    ups+=("$ADDR")
done
NOFILE=$LIMIT start_proxy proxy --log-format off \
    --route "/=http://${ups[0]}" --route "/r2=http://${ups[1]}" --route "/r3=http://${ups[2]}" || exit 1
proxy_pid=$SPAWNED
flood proxy-idle "$ADDR" "$proxy_pid" "$ADV_TMP/proxy.err" /index.html
flood proxy-pools "$ADDR" "$proxy_pid" "$ADV_TMP/proxy.err" /index.html /r2/index.html /r3/index.html

adv_summary
