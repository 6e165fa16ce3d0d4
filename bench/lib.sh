# Shared helpers for bench/static.sh and bench/proxy.sh. Source it.
# shellcheck shell=bash
#
# Conventions: the server under test runs pinned to $SERVER_CPU, the load generator to
# $CLIENT_CPU (taskset); every process started here goes through `spawn`, is recorded in
# SPAWN_PIDS (scripts/lib.sh) and is stopped by the EXIT trap; every wrk run is bounded by -d and `timeout`.

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../scripts/lib.sh
source "$BENCH_DIR/../scripts/lib.sh" # REPO, say/note/die/have, spawn/stop_pid, free_port

SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
WRK_THREADS=${WRK_THREADS:-1}
WRK_TIMEOUT=${WRK_TIMEOUT:-5s}
CLK_TCK=$(getconf CLK_TCK)

BENCH_TMP=""
KNOWN_PIDS=()            # other processes of ours busy during runs (the proxy's upstream)
declare -A R=()          # results: R[server.metric]=value

bench_cleanup() {
    cleanup_spawned
    if [[ -n $BENCH_TMP && -d $BENCH_TMP && ${KEEP_TMP:-0} != 1 ]]; then rm -rf "$BENCH_TMP"; fi
}

bench_init() {
    local tag=$1
    for t in wrk taskset curl timeout ss python3; do have "$t" || die "$t is missing"; done
    local ncpu
    ncpu=$(nproc --all)
    ((SERVER_CPU < ncpu && CLIENT_CPU < ncpu)) || die "need CPUs $SERVER_CPU and $CLIENT_CPU (have $ncpu)"
    BENCH_TMP=$(mktemp -d "/tmp/bench-$tag.XXXXXX")
    chmod 755 "$BENCH_TMP" # nginx/haproxy workers run as nobody
    SPAWN_DIR=$BENCH_TMP
    trap bench_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    trap 'exit 129' HUP
    trap 'exit 141' PIPE # output piped to a reader that went away: still clean up
}

# pick_port VAR: sets VAR to a free port (free_port; not in a subshell, so VAR persists).
pick_port() { printf -v "$1" '%s' "$(free_port)"; }

# stop PID: TERM, wait up to 3 s, KILL (stop_pid without its status).
stop() { stop_pid "$1" || true; }

# wait_http URL [curl args...]: until it answers below 400 (curl -f), 10 s at most, or die.
wait_http() {
    local url=$1
    shift
    wait_for_http "$url" 10 -f "$@" || die "no 2xx from $url after 10 s"
}

# The only child of PID (nginx's worker), waiting for it to appear.
child_of() {
    local c
    for _ in $(seq 50); do
        c=$(pgrep -P "$1" | head -1)
        [[ -n $c ]] && { echo "$c"; return 0; }
        sleep 0.1
    done
    die "no child process of $1"
}


# nginx_temp_paths DIR: nginx.conf lines keeping every temporary file of nginx in DIR.
nginx_temp_paths() {
    local t
    for t in client_body:body proxy:proxy fastcgi:fastcgi uwsgi:uwsgi scgi:scgi; do
        printf '    %s_temp_path %s/%s;\n' "${t%%:*}" "$1" "${t#*:}"
    done
}

# nginx_proxy_conf DIR UPSTREAM_PORT CERT KEY LISTEN...: writes DIR/nginx.conf for the proxy
# benchmarks: one worker, no access log, keep-alive upstream connections (128 kept), the
# forwarding headers our proxy sets, proxy_buffering as $PROXY_BUFFERING (default on) without
# temporary files; each LISTEN is the argument list of one `listen` line.
nginx_proxy_conf() {
    local dir=$1 port=$2 cert=$3 key=$4 listen="" l
    shift 4
    for l in "$@"; do listen+="        listen $l;"$'\n'; done
    cat >"$dir/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events {
    worker_connections 4096;
    use epoll;
}
http {
    access_log off;
    server_tokens off;
    tcp_nodelay on;
    keepalive_timeout 65s;
    keepalive_requests 1000000;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_cache shared:SSL:1m;
$(nginx_temp_paths "$dir")
    upstream up {
        server 127.0.0.1:$port;
        keepalive 128;
        keepalive_requests 1000000;
        keepalive_timeout 60s;
    }
    server {
$listen        ssl_certificate $cert;
        ssl_certificate_key $key;
        location / {
            proxy_pass http://up;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host \$http_host;
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto \$scheme;
            proxy_set_header X-Forwarded-Host \$http_host;
            proxy_buffering ${PROXY_BUFFERING:-on};
            proxy_max_temp_file_size 0;
        }
    }
}
EOF
}

# haproxy_proxy_cfg DIR UPSTREAM_PORT BIND...: writes DIR/haproxy.cfg for the proxy benchmarks:
# one thread, mode http, http-reuse always, the forwarding headers our proxy sets,
# `option splice-response` when HAPROXY_SPLICE=1; each BIND is the argument list of one
# `bind` line.
haproxy_proxy_cfg() {
    local dir=$1 port=$2 bind="" b splice=""
    shift 2
    for b in "$@"; do bind+="    bind $b"$'\n'; done
    ((${HAPROXY_SPLICE:-0})) && splice="option splice-response"
    cat >"$dir/haproxy.cfg" <<EOF
global
    nbthread 1
    maxconn 4000
    ssl-default-bind-options ssl-min-ver TLSv1.2
    pidfile $dir/haproxy.pid
defaults
    mode http
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    timeout http-keep-alive 60s
    option http-keep-alive
    http-reuse always
    $splice
frontend web
$bind    option forwardfor
    http-request set-header X-Forwarded-Proto https if { ssl_fc }
    http-request set-header X-Forwarded-Proto http if !{ ssl_fc }
    http-request set-header X-Forwarded-Host %[req.hdr(host)]
    default_backend up
backend up
    server s1 127.0.0.1:$port
EOF
}

# spawn_nginx NAME DIR: tests DIR/nginx.conf (its errors printed), starts nginx on
# $SERVER_CPU; sets N_PID (the master) and N_WORKER (its one worker, which is measured).
spawn_nginx() {
    local name=$1 dir=$2
    "$NGINX" -t -q -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" 2>"$dir/test.err" ||
        { cat "$dir/test.err" "$dir/error.log" >&2 2>/dev/null; die "nginx config test failed"; }
    spawn_on "$SERVER_CPU" "$name" "$NGINX" -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log"
    N_PID=$SPAWNED
    N_WORKER=$(child_of "$N_PID")
}

# spawn_haproxy DIR: checks DIR/haproxy.cfg (its errors printed), starts haproxy on
# $SERVER_CPU; sets H_PID.
spawn_haproxy() {
    "$HAPROXY" -c -q -f "$1/haproxy.cfg" >"$1/check.log" 2>&1 ||
        { cat "$1/check.log" >&2; die "haproxy config check failed"; }
    spawn_on "$SERVER_CPU" haproxy "$HAPROXY" -db -f "$1/haproxy.cfg"
    H_PID=$SPAWNED
}

# CPU ticks (user+system, all threads) of the given pids, summed.
cpu_ticks() {
    local t=0 pid s
    for pid in "$@"; do
        s=$(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$pid/stat" 2>/dev/null || echo 0)
        t=$((t + s))
    done
    echo "$t"
}

# "BUSY TOTAL" jiffies of one CPU from /proc/stat (busy: everything but idle and iowait).
core_jiffies() {
    awk -v c="cpu$1" '$1 == c { t = 0; for (i = 2; i <= 9 && i <= NF; i++) t += $i; print t - $5 - $6, t }' /proc/stat
}
# core_busy "BUSY0 TOTAL0" "BUSY1 TOTAL1": percent busy between two core_jiffies samples.
core_busy() { awk -v a="$1" -v b="$2" 'BEGIN { split(a, x, " "); split(b, y, " "); d = y[2] - x[2]; printf "%.0f\n", (d > 0 ? 100 * (y[1] - x[1]) / d : 0) }'; }

# wait_quiet: the machine is shared (builds, other tests); wait up to QUIET_WAIT seconds
# (default 120) for both benchmark CPUs to be < 15% busy over a second, else warn and go on.
wait_quiet() {
    local limit=${QUIET_WAIT:-120} waited=0 s0 c0 s1 c1 b0 b1
    while :; do
        s0=$(core_jiffies "$SERVER_CPU"); c0=$(core_jiffies "$CLIENT_CPU")
        sleep 1
        s1=$(core_jiffies "$SERVER_CPU"); c1=$(core_jiffies "$CLIENT_CPU")
        b0=$(core_busy "$s0" "$s1"); b1=$(core_busy "$c0" "$c1")
        if ((b0 < 15 && b1 < 15)); then
            ((waited == 0)) || note "machine quiet after ${waited}s"
            return 0
        fi
        if ((waited >= limit)); then
            say "warning: CPUs still busy (CPU $SERVER_CPU ${b0}%, CPU $CLIENT_CPU ${b1}%) from other processes after ${limit}s: figures will be noisy"
            QUIET_WARNING="other processes kept CPU $SERVER_CPU ${b0}% / CPU $CLIENT_CPU ${b1}% busy before the start: figures are noisy"
            return 0
        fi
        ((waited == 0)) && note "CPUs busy (CPU $SERVER_CPU ${b0}%, CPU $CLIENT_CPU ${b1}%): waiting up to ${limit}s for other work to finish"
        sleep 4
        waited=$((waited + 5))
    done
}
QUIET_WARNING=""

# kv "LINE" KEY: the value of KEY=value in LINE.
kv() { tr ' ' '\n' <<<"$1" | awk -F= -v k="$2" '$1 == k { print $2 }'; }

# run_wrk CONNS DURATION URL PIDS...: one bounded wrk run (LOADGEN=bulk: bench/bulk.py, the
# large-read client for big bodies) from $CLIENT_CPU; PIDS are the
# server-side processes whose CPU use is measured. Prints one line:
#   rps mbps p50_ms p99_ms errors requests
#   cpu      the PIDS' CPU, % of one core (on Linux this includes the softirq work of loopback
#            packets processed in their context)
#   us_req   the PIDS' CPU time (utime + stime from /proc/PID/stat) per completed request, in
#            microseconds: the cost of a request, whatever caps the req/s (wrk, the upstream)
#   wrk      wrk's CPU, % of one core
#   known    CPU of KNOWN_PIDS (the proxy benchmark's upstream), % of one core
#   foreign  CPU used on the two benchmark cores by anything else (other processes on this
#            shared machine), % of one core: high means the run was disturbed
run_wrk() {
    local conns=$1 duration=$2 url=$3
    shift 3
    local secs=${duration%s}
    local t0 t1 w0 w1 out line s0 s1 c0 c1
    local k0 k1
    t0=$(cpu_ticks "$@")
    k0=$(cpu_ticks "${KNOWN_PIDS[@]}")
    s0=$(core_jiffies "$SERVER_CPU"); c0=$(core_jiffies "$CLIENT_CPU")
    w0=$(date +%s%N)
    # The subshell's cutime+cstime after wrk is reaped: wrk's CPU (timeout and taskset exec).
    # WRK_HEADER="Name: value" adds a request header (wrk only).
    local cmd=(wrk -t"$WRK_THREADS" -c"$conns" -d"$duration" --timeout "$WRK_TIMEOUT"
        -s "$BENCH_DIR/report.lua")
    [[ -n ${WRK_HEADER:-} ]] && cmd+=(-H "$WRK_HEADER")
    cmd+=("$url")
    [[ ${LOADGEN:-wrk} == bulk ]] && cmd=(python3 "$BENCH_DIR/bulk.py" "$url" "$conns" "$secs")
    out=$(timeout --kill-after=5 $((secs + 30)) taskset -c "$CLIENT_CPU" "${cmd[@]}" 2>&1
        rc=$? self=$BASHPID
        echo "CHILD_TICKS $(awk '{ sub(/^.*\) /, ""); print $14 + $15 }' "/proc/$self/stat")"
        exit $rc) || { say "$out"; die "wrk failed against $url"; }
    w1=$(date +%s%N)
    s1=$(core_jiffies "$SERVER_CPU"); c1=$(core_jiffies "$CLIENT_CPU")
    t1=$(cpu_ticks "$@")
    k1=$(cpu_ticks "${KNOWN_PIDS[@]}")
    line=$(grep -E '^(WRK|BULK) ' <<<"$out") || { say "$out"; die "no summary from ${cmd[0]}"; }
    awk -v l="$line" -v ct="$(awk '$1 == "CHILD_TICKS" { print $2 }' <<<"$out")" \
        -v s0="$s0" -v s1="$s1" -v c0="$c0" -v c1="$c1" \
        -v dt=$((t1 - t0)) -v kt=$((k1 - k0)) -v hz="$CLK_TCK" -v wall=$((w1 - w0)) 'BEGIN {
        n = split(l, kvs, " "); for (i = 2; i <= n; i++) { split(kvs[i], p, "="); v[p[1]] = p[2] }
        s = v["duration_us"] / 1e6
        err = v["errors"] + v["err_connect"] + v["err_read"] + v["err_write"] + v["err_status"] + v["err_timeout"]
        split(s0, a, " "); split(s1, b, " "); split(c0, c, " "); split(c1, d, " ")
        span = b[2] - a[2]; if (span <= 0) span = 1
        busy = (b[1] - a[1]) + (d[1] - c[1])
        foreign = 100 * (busy - dt - ct - kt) / span; if (foreign < 0) foreign = 0
        secs = wall / 1e9
        us_req = v["requests"] > 0 ? 1e6 * dt / hz / v["requests"] : 0
        printf "rps=%.0f mbps=%.1f p50_ms=%.3f p99_ms=%.3f errors=%d requests=%d cpu=%.0f wrk=%.0f known=%.0f foreign=%.0f us_req=%.2f\n",
            v["requests"] / s, v["bytes"] / s / 1e6, v["p50_us"] / 1000, v["p99_us"] / 1000,
            err, v["requests"], 100 * dt / hz / secs, 100 * ct / hz / secs, 100 * kt / hz / secs, foreign, us_req
    }'
}

NOISE_LIMIT=${NOISE_LIMIT:-10}
NOISE_RETRIES=${NOISE_RETRIES:-3}
# Seconds that repeating disturbed runs (waits included) may add to the whole script.
NOISE_BUDGET=${NOISE_BUDGET:-900}

# keep_max KEY VALUE / keep_min KEY VALUE: best-of-N bookkeeping in R.
keep_max() { if [[ -z ${R[$1]:-} ]] || awk -v a="$2" -v b="${R[$1]}" 'BEGIN { exit !(a > b) }'; then R[$1]=$2; fi; }
keep_min() { if [[ -z ${R[$1]:-} ]] || awk -v a="$2" -v b="${R[$1]}" 'BEGIN { exit !(a < b) }'; then R[$1]=$2; fi; }

# measure KEYPREFIX CONNS DURATION URL PIDS...: one run folded into R (best of runs): max
# rps/mbps, min p99, the CPU figures of the run with the best throughput, errors summed. A run
# that other processes disturbed (foreign CPU > NOISE_LIMIT % of a core) is repeated after
# waiting for the machine to calm down, up to NOISE_RETRIES times and while NOISE_BUDGET
# seconds last; then the least disturbed attempt counts.
measure() {
    local key=$1 conns=$2 duration=$3 url=$4
    shift 4
    local line best="" rps foreign best_foreign=999999 try=0 t0
    while :; do
        t0=$(date +%s)
        line=$(run_wrk "$conns" "$duration" "$url" "$@")
        foreign=$(kv "$line" foreign)
        if ((foreign < best_foreign)); then best=$line best_foreign=$foreign; fi
        if ((foreign <= NOISE_LIMIT)); then
            note "$key: $line"
            break
        fi
        if ((try >= NOISE_RETRIES || NOISE_BUDGET <= 0)); then
            note "$key: $line (disturbed; keeping the least disturbed attempt, other=$best_foreign%)"
            R[$key.noisy]=$(( ${R[$key.noisy]:-0} + 1 ))
            break
        fi
        note "$key: $line (disturbed by other processes: repeating)"
        try=$((try + 1))
        QUIET_WAIT=${QUIET_WAIT_RETRY:-60} wait_quiet
        NOISE_BUDGET=$((NOISE_BUDGET - ($(date +%s) - t0)))
    done
    line=$best
    foreign=$best_foreign
    rps=$(kv "$line" rps)
    if [[ -z ${R[$key.rps]:-} ]] || awk -v a="$rps" -v b="${R[$key.rps]}" 'BEGIN { exit !(a > b) }'; then
        R[$key.best_noisy]=$((foreign > NOISE_LIMIT))
        R[$key.cpu]=$(kv "$line" cpu)
        R[$key.wrk]=$(kv "$line" wrk)
        R[$key.known]=$(kv "$line" known)
        R[$key.p50]=$(kv "$line" p50_ms)
        R[$key.foreign]=$foreign
    fi
    keep_max "$key.rps" "$rps"
    keep_max "$key.mbps" "$(kv "$line" mbps)"
    keep_min "$key.us" "$(kv "$line" us_req)"
    keep_min "$key.p99" "$(kv "$line" p99_ms)"
    R[$key.errors]=$(( ${R[$key.errors]:-0} + $(kv "$line" errors) ))
}

# build_floor: builds the fixed-response floor (common/examples/floor.rs: a tiny mio server
# answering every request head with a canned 200 and a 1 KiB body) and prints its path.
build_floor() {
    cargo build --release -p common --example floor 2>"$BENCH_TMP/build-floor.log" ||
        { cat "$BENCH_TMP/build-floor.log" >&2; die "the floor server does not build"; }
    echo "${CARGO_TARGET_DIR:-$REPO/target}/release/examples/floor"
}

# us KEY: the best CPU microseconds per request of a case, or n/a.
us() { local v=${R[$1.us]:-}; [[ -z $v ]] && echo n/a || printf '%.2f\n' "$v"; }
# at_most RATIO LIMIT: PASS when RATIO (e.g. 0.82x) is at most LIMIT.
at_most() { local v=${1%x}; [[ $v == - || -z $v || $v == n/a ]] && { echo "n/a"; return; }; awk -v a="$v" -v b="$2" 'BEGIN { print (a <= b) ? "PASS" : "FAIL" }'; }

# ---- table -----------------------------------------------------------------------------

TABLE=()
# row METRIC OURS THEIRS... : see the scripts for the column layout.
row() { local IFS=$'\t'; TABLE+=("$*"); }

print_table() {
    local header=$1
    {
        printf '%s\n' "$header"
        printf '%s\n' "${TABLE[@]}"
    } | awk -F'\t' '
        { for (i = 1; i <= NF; i++) { cell[NR, i] = $i; if (length($i) > w[i]) w[i] = length($i) }
          if (NF > nf) nf = NF; rows = NR }
        END {
            for (r = 1; r <= rows; r++) {
                line = ""
                for (i = 1; i <= nf; i++) line = line sprintf(i == 1 ? "%-" w[i] "s" : " | %-" w[i] "s", cell[r, i])
                print line
                if (r == 1) {
                    sep = ""
                    for (i = 1; i <= nf; i++) { d = ""; for (j = 0; j < w[i]; j++) d = d "-"; sep = sep (i > 1 ? "-+-" : "") d }
                    print sep
                }
            }
        }'
}

# ratio A B: A/B with 2 decimals, "-" when either is missing or B is 0.
ratio() { awk -v a="${1:-}" -v b="${2:-}" 'BEGIN { if (a == "" || b == "" || a == "n/a" || b == "n/a" || b + 0 == 0) print "-"; else printf "%.2fx\n", a / b }'; }
# at_least RATIO_OR_VALUE LIMIT / below VALUE LIMIT: PASS or FAIL ("-" without a value).
at_least() { local v=${1%x}; [[ $v == - || -z $v || $v == n/a ]] && { echo "n/a"; return; }; awk -v a="$v" -v b="$2" 'BEGIN { print (a >= b) ? "PASS" : "FAIL" }'; }
below()    { local v=$1; [[ $v == - || -z $v || $v == n/a ]] && { echo "n/a"; return; }; awk -v a="$v" -v b="$2" 'BEGIN { print (a < b) ? "PASS" : "FAIL" }'; }

# Human-readable sizes.
kib_to_mib() { [[ -z ${1:-} || $1 == n/a ]] && { echo n/a; return; }; awk -v k="$1" 'BEGIN { printf "%.2f MiB\n", k / 1024 }'; }
bytes_h() {
    [[ -z ${1:-} || $1 == n/a ]] && { echo n/a; return; }
    awk -v b="$1" 'BEGIN { if (b >= 1048576) printf "%.2f MiB\n", b / 1048576; else printf "%.1f KiB\n", b / 1024 }'
}
fmt_int() { [[ -z ${1:-} ]] && { echo n/a; return; }; printf "%'d\n" "$1" 2>/dev/null || echo "$1"; }

# image_size IMAGE BINARY: prints "SIZE_BYTES NOTE"; SIZE_BYTES is n/a without the image.
# A real image cannot be smaller than the binary it ships: a smaller one is a placeholder.
image_size() {
    local image=$1 bin=$2 size bsize
    if have podman && size=$(podman image inspect "$image" --format '{{.Size}}' 2>/dev/null) && [[ -n $size ]]; then
        local created
        created=$(podman image inspect "$image" --format '{{.Created}}' 2>/dev/null | cut -c1-19)
        if [[ -f $bin ]] && bsize=$(stat -c %s "$bin") && ((size < bsize / 2)); then
            echo "$size image '$image' ($created) is much smaller than $(basename "$bin") ($(bytes_h "$bsize")): a placeholder, rebuild with scripts/build.sh --images"
        elif [[ -f $bin ]] && (($(date -d "$created" +%s 2>/dev/null || echo 0) < $(stat -c %Y "$bin"))); then
            echo "$size image '$image' built $created, before the current $(basename "$bin") binary: may be stale (scripts/build.sh --images)"
        else
            echo "$size image '$image' built $created"
        fi
    else
        echo "n/a no image '$image' (scripts/build.sh --images builds it)"
    fi
}

# idle_rss VAR NAME URL [CURL_ARGS...] -- CMD...: starts CMD pinned to $SERVER_CPU, waits for
# URL to answer (startup + one request), sets VAR to its VmRSS in kB, and stops it.
idle_rss() {
    local var=$1 name=$2 url=$3
    shift 3
    local curl_args=()
    while [[ $1 != -- ]]; do curl_args+=("$1"); shift; done
    shift
    spawn_on "$SERVER_CPU" "$name" "$@"
    local pid=$SPAWNED
    wait_http "$url" "${curl_args[@]}"
    printf -v "$var" '%s' "$(proc_kb "$pid" VmRSS)"
    stop "$pid"
}

# stale_note BINARY DIRS...: " (older than the sources: stale)" when a file under DIRS is newer.
stale_note() {
    local bin=$1
    shift
    [[ -n $(find "$@" -newer "$bin" -type f -print -quit 2>/dev/null) ]] && echo " (stale: older than the sources)"
    return 0
}

# mark KEY: " (*)" when the best run of KEY (the one whose figures are shown) was still
# disturbed by other processes.
mark() { ((${R[$1.best_noisy]:-0} > 0)) && echo " (*)"; return 0; }
