#!/usr/bin/env bash
# Graceful shutdown under load: SIGTERM while wrk and a recording client hammer each server.
#
#   tests/adversarial/shutdown.sh [--full]    fast: wrk 64 connections; full: wrk 256
#
# "Already accepted", precisely: a request whose last byte the client had written before
# kill(2) was called (client-side monotonic clock, read just before the call), on a connection
# whose handshake had completed. Such a request must get a complete 200 with the full body,
# whether it was answered before or after the signal. Requests written after the signal may
# be refused (connection refused, or the connection closed before any byte of a response);
# none may be truncated or time out. helpers/adv.py `shutdown` records every request of 8
# keep-alive and 4 new-connection-per-request clients and sends the signal itself.
# wrk runs alongside as load; its Lua response() hook counts statuses (any non-200 fails).
# wrk's socket errors are shown but not judged: it cannot tell a request refused after the
# signal (expected) from one cut short, which is what the recording client is for.
#
# Per server: every accepted request complete; nothing truncated after the signal; exit
# status 0 within the grace period (10 s, the default). Then, on fresh instances, SIGTERM
# while large bodies stream (static: a download of 64 MiB, full: 256 MiB; proxy: the same
# download and an upload of 64 MiB, full: 96 MiB, through it, to an upstream that hashes it):
# both complete, byte for byte, and the process exits 0 within the grace period.
set -uo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
adv_init shutdown "$@"
have wrk || { say "shutdown: wrk is missing (apt-get install wrk)"; exit 1; }

GRACE=10
if full; then CONNS=256 BIG=256 UPLOAD=96 RATE=48000000; else CONNS=64 BIG=64 UPLOAD=64 RATE=16000000; fi
report ""
report "### Graceful shutdown under load (wrk $CONNS connections + recording client; SIGTERM; grace ${GRACE}s)"

site=$ADV_TMP/site
make_site "$site" "$BIG"
big_sha=$(sha256sum "$site/big-$BIG.bin" | cut -d' ' -f1)
lua=$ADV_TMP/statuses.lua
wrk_lua "$lua"

# under_load NAME PID ADDR
under_load() {
    local name=$1 pid=$2 addr=$3 wrk_pid client rc=0
    spawn "$name-wrk" timeout 30 wrk -t2 -c"$CONNS" -d8s --timeout 5s -s "$lua" "http://$addr/index.html"
    wrk_pid=$SPAWNED
    sleep 2
    client=$ADV_TMP/$name-client.json
    timeout 40 $ADV_PY shutdown "$addr" --pid "$pid" --path /index.html --keepalive 8 --newconn 4 \
        --kill-after 3 --after 1.5 --grace "$GRACE" >"$client" 2>"$client.err"
    wait "$pid" 2>/dev/null || rc=$?
    wait "$wrk_pid" 2>/dev/null
    if ! jget "$client" 'j["accepted"]' >/dev/null 2>&1; then
        fail "$name shutdown client" "the recording client reported nothing" "$(cat "$client" "$client.err")"
        return
    fi
    local accepted ok inflight exit_s bad_acc bad_late outcomes late
    accepted=$(jget "$client" 'j["accepted"]') ok=$(jget "$client" 'j["accepted_ok"]')
    inflight=$(jget "$client" 'j["in_flight_at_signal"]') exit_s=$(jget "$client" 'j["exit_after_s"]')
    bad_acc=$(jget "$client" 'len(j["bad_accepted"])') bad_late=$(jget "$client" 'len(j["bad_after_signal"])')
    outcomes=$(jget "$client" 'j["accepted_outcomes"]') late=$(jget "$client" 'j["after_signal_outcomes"]')
    verdict "$name accepted requests complete" "$((accepted > 0 && ok == accepted && bad_acc == 0 ? 0 : 1))" \
        "$ok/$accepted accepted requests got a complete 200 ($inflight of them in flight at the signal)" \
        "$(jget "$client" 'j["bad_accepted"]')"
    verdict "$name nothing truncated after the signal" "$((bad_late == 0 ? 0 : 1))" \
        "requests written after the signal: $late" "$(jget "$client" 'j["bad_after_signal"]')"
    local in_time=1
    [[ $exit_s != None ]] && python3 -c "import sys; sys.exit(0 if $exit_s <= $GRACE else 1)" && in_time=0
    verdict "$name exit 0 within grace" "$((rc == 0 && in_time == 0 ? 0 : 1))" \
        "exit status $rc, ${exit_s}s after SIGTERM (grace ${GRACE}s)"
    local statuses errors requests non200
    statuses=$(grep -m1 '^statuses:' "$ADV_TMP/$name-wrk.out")
    errors=$(grep -m1 '^errors:' "$ADV_TMP/$name-wrk.out")
    requests=$(grep -m1 '^requests:' "$ADV_TMP/$name-wrk.out" | awk '{print $2}')
    non200=$(sed 's/^statuses://' <<<"$statuses" | tr ' ' '\n' | grep -v '^200=' | grep -c .)
    verdict "$name wrk statuses" "$((non200 == 0 && ${requests:-0} > 0 ? 0 : 1))" \
        "wrk: $requests responses, ${statuses#statuses: }; socket ${errors#errors: } (refusals after the signal)" \
        "$(tail -n 20 "$ADV_TMP/$name-wrk.out")"
}

# streaming NAME PID ADDR [UPLOAD_PATH]
streaming() {
    local name=$1 pid=$2 addr=$3 upload=${4:-} out rc=0 args=()
    out=$ADV_TMP/$name-stream.json
    # Uploads stay below the proxy's default --max-body (100 MiB).
    [[ -n $upload ]] && args=(--upload "$upload" --upload-size "$((UPLOAD * 1048576))")
    timeout 60 $ADV_PY stream "$addr" --pid "$pid" --download "/big-$BIG.bin" "${args[@]}" \
        --rate "$RATE" --kill-after 1 --grace "$GRACE" --timeout 40 >"$out"
    wait "$pid" 2>/dev/null || rc=$?
    local d_end d_len d_sha exit_s sig d_t
    d_end=$(jget "$out" 'j["download"].get("end")') d_len=$(jget "$out" 'j["download"].get("body")')
    d_sha=$(jget "$out" 'j["download"].get("sha256")') d_t=$(jget "$out" 'j["download"].get("t_end")')
    exit_s=$(jget "$out" 'j["exit_after_s"]') sig=$(jget "$out" 'j["signal_at_s"]')
    verdict "$name download across SIGTERM" "$([[ $d_end == complete && $d_sha == "$big_sha" ]] && echo 0 || echo 1)" \
        "$d_len bytes, sha256 $([[ $d_sha == "$big_sha" ]] && echo matches || echo DIFFERS), signal at ${sig}s, done at ${d_t}s" \
        "$(cat "$out")"
    if [[ -n $upload ]]; then
        local u_answer u_sha u_sent u_t
        u_answer=$(jget "$out" 'j["upload"].get("answer")') u_sha=$(jget "$out" 'j["upload"].get("sha256")')
        u_sent=$(jget "$out" 'j["upload"].get("sent")') u_t=$(jget "$out" 'j["upload"].get("t_end")')
        verdict "$name upload across SIGTERM" "$([[ $u_answer == "received $u_sent sha256 $u_sha" ]] && echo 0 || echo 1)" \
            "$u_sent bytes sent, upstream answered '${u_answer}', done at ${u_t}s" "$(cat "$out")"
    fi
    local in_time=1
    [[ $exit_s != None ]] && python3 -c "import sys; sys.exit(0 if $exit_s <= $GRACE else 1)" && in_time=0
    verdict "$name exit 0 after streaming" "$((rc == 0 && in_time == 0 ? 0 : 1))" \
        "exit status $rc, ${exit_s}s after SIGTERM (grace ${GRACE}s)"
}

# --- static ---------------------------------------------------------------------------------
start_static static "$site" --log-format off || exit 1
under_load static "$SPAWNED" "$ADDR"
start_static static-stream "$site" --log-format off || exit 1
streaming static "$SPAWNED" "$ADDR"

# --- proxy ----------------------------------------------------------------------------------
start_static upstream "$site" --log-format off || exit 1
up=$ADDR
sink_port=$(free_port)
start_upstream sink sink "127.0.0.1:$sink_port" || exit 1
start_proxy proxy --log-format off --route "/=http://$up" --route "/sink=http://127.0.0.1:$sink_port" || exit 1
under_load proxy "$SPAWNED" "$ADDR"
start_proxy proxy-stream --log-format off --route "/=http://$up" --route "/sink=http://127.0.0.1:$sink_port" || exit 1
streaming proxy "$SPAWNED" "$ADDR" /sink/upload

adv_summary
