#!/usr/bin/env bash
# Upstream faults for the proxy, with real processes under load: `static` servers and
# helpers/adv.py upstreams behind one proxy, wrk running through it the whole time.
#
#   tests/adversarial/upstream_faults.sh [--full]   (same size in both modes: every fault is
#                                                    a few seconds; full only adds wrk load)
#
# Faults and checks:
#   killed     an upstream gets kill -9 in the middle of a 64 MiB response, for the four ways
#              a response can reach the client: Content-Length and chunked upstream responses,
#              to HTTP/1.1 and HTTP/1.0 clients. The client must see a closed connection and
#              a body that cannot pass for complete: short of its Content-Length, no last chunk,
#              or (close-delimited, where a FIN would look like the end) a reset.
#   stopped    kill -STOP of an upstream: every request to it gets 504 within the upstream
#              timeout (3 s here; the sweep adds at most 1 s); after kill -CONT traffic flows.
#   moved      the upstream (a host name) is killed and restarted on another address (the name
#              now resolves to ::1 instead of 127.0.0.1): traffic recovers within the DNS TTL
#              (5 s) without restarting the proxy. The proxy runs in a private mount namespace
#              whose /etc/hosts and /etc/nsswitch.conf (files only, no DNS) the test rewrites.
#   pair       one of a route's two upstreams gets kill -9: every request started after the
#              kill succeeds (served by the other), and so does every request of wrk's through
#              that route, those in flight at the kill included; after a restart it gets
#              traffic again.
# wrk runs through an unaffected route during the first three faults (all its responses must
# be 200: a fault stays with its route) and through the pair route during the last.
# A close-delimited upstream response ended by a clean FIN is indistinguishable from a complete
# one (for the proxy as for any client), so "killed" cuts only what can be told apart.
set -uo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
adv_init upstream_faults "$@"
have wrk || { say "upstream_faults: wrk is missing"; exit 1; }

UPSTREAM_TIMEOUT=3
DNS_TTL=5
if full; then WRK_CONNS=32; else WRK_CONNS=16; fi
report ""
report "### Upstream faults (proxy; wrk with $WRK_CONNS connections throughout)"

site=$ADV_TMP/site
make_site "$site" 64
lua=$ADV_TMP/statuses.lua
wrk_lua "$lua"
now() { date +%s.%N; }
# kill_now PID: kill -9 and reap at once (no "Killed" job notice later).
kill_now() { kill -KILL "$1" 2>/dev/null; wait "$1" 2>/dev/null; }

p_cl=$(free_port) p_ch=$(free_port) p_stop=$(free_port) p_move=$(free_port) p_a=$(free_port) p_b=$(free_port)
start_static up-cl "$site" --log-format off --listen "127.0.0.1:$p_cl" || exit 1
cl_pid=$SPAWNED
start_upstream chunked up-ch "127.0.0.1:$p_ch" || exit 1
ch_pid=$SPAWNED
start_static up-stop "$site" --log-format off --listen "127.0.0.1:$p_stop" || exit 1
stop_pid_=$SPAWNED
start_static up-move "$site" --log-format off --listen "127.0.0.1:$p_move" || exit 1
move_pid=$SPAWNED
start_static pair-a "$site" --listen "127.0.0.1:$p_a" || exit 1
a_pid=$SPAWNED
start_static pair-b "$site" --listen "127.0.0.1:$p_b" || exit 1

# The proxy resolves upstream.adv.test from a hosts file of its own.
hosts=$ADV_TMP/hosts
printf '127.0.0.1 upstream.adv.test\n' >"$hosts"
printf 'hosts: files\n' >"$ADV_TMP/nsswitch.conf"
PROXY_WRAP=()
if unshare -m --propagation private true 2>/dev/null; then
    PROXY_WRAP=(unshare -m --propagation private bash -c \
        'mount --bind "$1" /etc/hosts && mount --bind "$2" /etc/nsswitch.conf || exit 98; shift 2; exec "$@"' \
        _ "$hosts" "$ADV_TMP/nsswitch.conf")
    routes_move=(--route "/moving=http://upstream.adv.test:$p_move")
else
    routes_move=()
fi
start_proxy proxy --log-format off --upstream-timeout "${UPSTREAM_TIMEOUT}s" --dns-ttl "${DNS_TTL}s" \
    --route "/cl=http://127.0.0.1:$p_cl" --route "/chunked=http://127.0.0.1:$p_ch" \
    --route "/stopped=http://127.0.0.1:$p_stop" "${routes_move[@]}" \
    --route "/pair=http://127.0.0.1:$p_a|http://127.0.0.1:$p_b" || exit 1
proxy_pid=$SPAWNED
PROXY=$ADDR
PROXY_WRAP=()

# wrk_start NAME PATH SECONDS / wrk_check NAME LABEL: load through the proxy, statuses judged.
wrk_start() {
    spawn "$1-wrk" timeout $(($3 + 15)) wrk -t1 -c"$WRK_CONNS" -d"$3s" --timeout 5s -s "$lua" "http://$PROXY$2"
    WRK_PID=$SPAWNED
}
wrk_figures() { # NAME -> "requests non200 statuses errors"
    local out=$ADV_TMP/$1-wrk.out statuses requests non200 errors
    statuses=$(grep -m1 '^statuses:' "$out" | sed 's/^statuses: *//')
    errors=$(grep -m1 '^errors:' "$out" | sed 's/^errors: *//')
    requests=$(grep -m1 '^requests:' "$out" | awk '{print $2}')
    non200=$(tr ' ' '\n' <<<"$statuses" | grep -v '^200=' | awk -F= '{s += $2} END {print s + 0}')
    printf '%s|%s|%s|%s\n' "${requests:-0}" "$non200" "$statuses" "$errors"
}
wrk_check() {
    wait "$WRK_PID" 2>/dev/null
    local requests non200 statuses errors
    IFS='|' read -r requests non200 statuses errors < <(wrk_figures "$1")
    verdict "$2" "$((requests > 0 && non200 == 0 ? 0 : 1))" \
        "wrk through an unaffected route: $requests responses ($statuses), socket errors: $errors" \
        "$(tail -n 15 "$ADV_TMP/$1-wrk.out")"
}

# --- killed mid-response --------------------------------------------------------------------
wrk_start killed /pair/index.html 30
cut_case() { # LABEL PATH HTTP10(0|1) UPSTREAM_KIND
    local label=$1 path=$2 http10=$3 kind=$4 ready=$ADV_TMP/cut-$RANDOM out pid slug
    slug=$(tr -c 'a-zA-Z0-9\n' '-' <<<"$label")
    local args=(cut "$PROXY" --path "$path" --ready-file "$ready" --min-bytes 1048576 --pause 0.5)
    ((http10)) && args+=(--http10)
    out=$ADV_TMP/cut-$slug.json
    timeout 40 $ADV_PY "${args[@]}" >"$out" &
    pid=$!
    for _ in $(seq 200); do [[ -f $ready ]] && break; sleep 0.05; done
    case $kind in
        static) kill_now "$cl_pid" ;;
        chunked) kill_now "$ch_pid" ;;
        self) ;; # the upstream resets the connection itself
    esac
    wait "$pid"
    # Back on the same port for the next case.
    case $kind in
        static) start_static "up-cl-$slug" "$site" --log-format off --listen "127.0.0.1:$p_cl" && cl_pid=$SPAWNED ;;
        chunked) start_upstream chunked "up-ch-$slug" "127.0.0.1:$p_ch" && ch_pid=$SPAWNED ;;
    esac
    local looks end framing body status signalled
    looks=$(jget "$out" 'j["complete_looking"]') end=$(jget "$out" 'j["end"]')
    framing=$(jget "$out" 'j["framing"]') body=$(jget "$out" 'j["body"]')
    status=$(jget "$out" 'j["status"]') signalled=$(jget "$out" 'j["signalled"]')
    local expected=""
    [[ $kind == static ]] && expected=" of $((64 * 1048576))"
    verdict "killed: $label" "$([[ $signalled == True && $looks == False && $status == 200 ]] && echo 0 || echo 1)" \
        "$status, $framing framing, $body$expected body bytes, then $end: $([[ $looks == False ]] && echo "visibly incomplete" || echo "LOOKS COMPLETE")" \
        "$(cat "$out")"
}
cut_case "content-length to HTTP/1.1" /cl/big-64.bin 0 static
cut_case "content-length to HTTP/1.0" /cl/big-64.bin 1 static
cut_case "chunked to HTTP/1.1" "/chunked/stream?chunks=100000&size=16384&delay_ms=1" 0 chunked
cut_case "chunked to HTTP/1.0 (close-delimited)" "/chunked/stream?chunks=100000&size=16384&delay_ms=1" 1 chunked
# Not a kill: an upstream whose body ends at its close resets the connection after 4 MiB. A
# FIN there would be the end of the body; a reset never is.
cut_case "close-delimited, upstream reset, to HTTP/1.1" "/chunked/close?chunks=256&size=16384&delay_ms=2&reset=1" 0 self
cut_case "close-delimited, upstream reset, to HTTP/1.0" "/chunked/close?chunks=256&size=16384&delay_ms=2&reset=1" 1 self
kill -INT "$WRK_PID" 2>/dev/null
wrk_check killed "killed: other routes unaffected"

# --- stopped --------------------------------------------------------------------------------
wrk_start stopped /pair/index.html 12
steady=$ADV_TMP/stopped.json
spawn stopped-steady $ADV_PY steady "$PROXY" --path /stopped/index.html --workers 8 --interval 0.25 \
    --duration 11 --timeout 15 --out "$steady"
steady_pid=$SPAWNED
sleep 2
t_stop=$(now)
kill -STOP "$stop_pid_"
sleep 6
t_cont=$(now)
kill -CONT "$stop_pid_"
wait "$steady_pid"
before=$($ADV_PY window "$steady" --to "$t_stop")
during=$($ADV_PY window "$steady" --from "$(awk -v t="$t_stop" 'BEGIN { printf "%.3f", t + 0.05 }')" \
    --to "$(awk -v t="$t_cont" -v u="$UPSTREAM_TIMEOUT" 'BEGIN { printf "%.3f", t - u - 1.5 }')")
after=$($ADV_PY window "$steady" --from "$(awk -v t="$t_cont" 'BEGIN { printf "%.3f", t + 0.5 }')")
j() { python3 -c 'import json,sys; v=eval(sys.argv[2], {"j": json.loads(sys.argv[1])}); print(json.dumps(v) if isinstance(v,(dict,list)) else v)' "$1" "$2"; }
n=$(j "$during" 'j["n"]') n504=$(j "$during" 'j["outcomes"].get("504/complete", 0)')
minms=$(j "$during" 'j["min_ms"]') maxms=$(j "$during" 'j["max_ms"]')
limit_ms=$(((UPSTREAM_TIMEOUT + 1) * 1000 + 500))
bad=1
if ((n > 0 && n504 == n)) && python3 -c "import sys; sys.exit(0 if $minms >= $((UPSTREAM_TIMEOUT * 1000 - 100)) and $maxms <= $limit_ms else 1)"; then bad=0; fi
verdict "stopped: 504 within the timeout" "$bad" \
    "$n504/$n requests to the stopped upstream got 504 after $minms-$maxms ms (timeout ${UPSTREAM_TIMEOUT}s, limit $limit_ms ms)" \
    "$during"
bn=$(j "$before" 'j["n"]') bok=$(j "$before" 'j["ok"]') an=$(j "$after" 'j["n"]') aok=$(j "$after" 'j["ok"]')
verdict "stopped: flows before and after" "$((bn > 0 && an > 0 && bok == bn && aok == an ? 0 : 1))" \
    "before STOP $bok/$bn ok; from 0.5 s after CONT $aok/$an ok" "$before $after"
wrk_check stopped "stopped: other routes unaffected"

# --- moved ----------------------------------------------------------------------------------
if ((${#routes_move[@]})); then
    wrk_start moved /pair/index.html 14
    steady=$ADV_TMP/moved.json
    spawn moved-steady $ADV_PY steady "$PROXY" --path /moving/index.html --workers 4 --interval 0.05 \
        --duration 13 --timeout 10 --out "$steady"
    steady_pid=$SPAWNED
    sleep 2
    t_kill=$(now)
    kill_now "$move_pid"
    printf '::1 upstream.adv.test\n' >"$hosts" # in place: the bind mount follows the inode
    sleep 1
    start_static up-move-v6 "$site" --log-format off --listen "[::1]:$p_move" || exit 1
    t_up=$(now)
    wait "$steady_pid"
    before=$($ADV_PY window "$steady" --to "$t_kill")
    after=$($ADV_PY window "$steady" --from "$t_up")
    settled=$($ADV_PY window "$steady" --from "$(awk -v t="$t_up" -v d="$DNS_TTL" 'BEGIN { printf "%.3f", t + d + 1 }')")
    stable=$(j "$after" 'j["stable_from_s"]') first=$(j "$after" 'j["first_ok_s"]')
    sn=$(j "$settled" 'j["n"]') sok=$(j "$settled" 'j["ok"]')
    gap=$($ADV_PY window "$steady" --from "$t_kill" --to "$t_up")
    bad=1
    if [[ $stable != None ]] && ((sn > 0 && sok == sn)) && kill -0 "$proxy_pid" 2>/dev/null &&
        python3 -c "import sys; sys.exit(0 if $stable <= $DNS_TTL + 1 else 1)"; then bad=0; fi
    verdict "moved: traffic recovers on the new address" "$bad" \
        "after the restart on [::1]: first 200 at +${first}s, all 200 from +${stable}s (TTL ${DNS_TTL}s); while it was down (1 s): $(j "$gap" 'j["outcomes"]'); same proxy process" \
        "$after"
    verdict "moved: flows before the move" "$(($(j "$before" 'j["ok"]') == $(j "$before" 'j["n"]') ? 0 : 1))" \
        "$(j "$before" 'j["ok"]')/$(j "$before" 'j["n"]') ok before the kill" "$before"
    wrk_check moved "moved: other routes unaffected"
else
    fail "moved" "cannot create a mount namespace (unshare -m needs root) for the proxy's private /etc/hosts"
fi

# --- one of two upstreams down --------------------------------------------------------------
wrk_start pair /pair/index.html 9
steady=$ADV_TMP/pair.json
spawn pair-steady $ADV_PY steady "$PROXY" --path /pair/index.html --workers 8 --interval 0.02 \
    --duration 9 --timeout 10 --out "$steady"
steady_pid=$SPAWNED
sleep 3
t_kill=$(now)
kill_now "$a_pid"
sleep 3
start_static pair-a2 "$site" --listen "127.0.0.1:$p_a" || exit 1
t_restart=$(now)
wait "$steady_pid"
wait "$WRK_PID" 2>/dev/null
down=$($ADV_PY window "$steady" --from "$t_kill" --to "$t_restart")
dn=$(j "$down" 'j["n"]') dok=$(j "$down" 'j["ok"]')
inflight=$($ADV_PY window "$steady" --from "$(awk -v t="$t_kill" 'BEGIN { printf "%.3f", t - 0.2 }')" --to "$t_kill")
IFS='|' read -r requests non200 statuses errors < <(wrk_figures pair)
verdict "pair: traffic goes to the other" "$((dn > 0 && dok == dn && requests > 0 && non200 == 0 ? 0 : 1))" \
    "$dok/$dn requests started after the kill succeeded; wrk through the same route, across the kill: $requests responses ($statuses), socket errors: $errors" \
    "$down"
sleep 1.5 # the restarted upstream's access log is written once per loop turn
served=$(grep -c . "$ADV_TMP/pair-a2.out" 2>/dev/null)
after=$($ADV_PY window "$steady" --from "$t_restart")
verdict "pair: restarted upstream gets traffic again" "$((served > 0 && $(j "$after" 'j["ok"]') == $(j "$after" 'j["n"]') ? 0 : 1))" \
    "$served requests served by the restarted upstream in the last $(awk -v a="$t_restart" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }') s; $(j "$after" 'j["ok"]')/$(j "$after" 'j["n"]') ok" "$after"

kill -0 "$proxy_pid" 2>/dev/null && alive=0 || alive=1
verdict "proxy survived every fault" "$alive" "one proxy process (pid $proxy_pid) from start to end"
adv_summary
