#!/usr/bin/env bash
# bench/static.sh: `static` against nginx, same files, same CPU, one worker each, one run.
#
#   bench/static.sh                 # ~2.5 minutes with the defaults
#   DURATION=5s RUNS=1 LOGS=0 bench/static.sh
#
# What it does
#   - builds `static` (cargo build --release -p static-server, the repo's target/)
#   - writes a docroot in a temp dir: page.html (1 KiB) and big.bin (64 MiB)
#   - starts `static --workers 1 --log-format off` and nginx (worker_processes 1, access_log
#     off), both pinned to CPU $SERVER_CPU; wrk (1 thread) runs pinned to CPU $CLIENT_CPU
#   - warms both up, then measures each case RUNS times, alternating servers, and keeps the
#     best run (max req/s and MB/s, min p99); a run disturbed by other processes on the
#     machine (CPU used on the two cores by anything else > NOISE_LIMIT=10% of a core) is
#     repeated (NOISE_RETRIES=3, NOISE_BUDGET=900 s); figures still disturbed are marked (*)
#   - the 64 MiB file is fetched with wrk and, when python3 exists, with bench/bulk.py
#     (1 MiB reads): wrk reads 8 KiB at a time and saturates its core first
#   - with LOGS=1, a second req/s row with access logs ON for both (static: combined to
#     stdout, batched per event-loop turn; nginx: combined to a file, buffer=32k flush=1s,
#     the closest nginx equivalent)
#   - a 100 KiB compressible HTML page requested with Accept-Encoding: gzip: static makes the
#     gzip variant once per file version and caches it; nginx runs gzip on (level 6,
#     gzip_static on) and compresses every response; CPU time per request side by side
#   - the 1 KiB case also runs with --metrics-listen and a scrape every second (the counting
#     itself is always on; this shows what the listener and scrapes add)
#   - the 1 KiB case also runs against the fixed-response floor (common/examples/floor.rs, a
#     tiny mio server answering a canned 200 per request head) on the same CPU; every case
#     reports the server's CPU time per request (utime + stime from /proc/PID/stat over the
#     run, divided by the requests completed), the figure that wrk's own ceiling cannot hide
#   - prints metric | static | nginx | ratio | target | result. Exits 0 whatever the figures
#     (it is a report); non-zero only when something broke.
#
# nginx is tuned as a user who cares would run it: sendfile on, tcp_nopush on, tcp_nodelay on,
# keepalive_requests 1000000, access_log off, open_file_cache ON (nginx's best case: no
# open/stat per request, while `static` stats every request to notice edits).
#
# Environment (defaults): DURATION=10s CONNS=64 (1 KiB page and 100 KiB gzip page, keep-alive), BIG_DURATION=10s
# BIG_CONNS=4 (64 MiB file), WARMUP=3s, RUNS=2, LOGS=1, IMAGE=static, SERVER_CPU=0,
# CLIENT_CPU=1, WRK_THREADS=1, KEEP_TMP=0 (1 keeps the temp dir).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DURATION=${DURATION:-10s}
CONNS=${CONNS:-64}
BIG_DURATION=${BIG_DURATION:-10s}
BIG_CONNS=${BIG_CONNS:-4}
WARMUP=${WARMUP:-3s}
RUNS=${RUNS:-2}
LOGS=${LOGS:-1}
IMAGE=${IMAGE:-static}

NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
[[ -x $NGINX ]] || die "nginx is missing (apt-get install -y nginx-light)"

bench_init static
HAVE_BULK=0
have python3 && HAVE_BULK=1
cd "$REPO"

say "==> cargo build --release -p static-server"
cargo build --release -p static-server 2>"$BENCH_TMP/build.log" || { cat "$BENCH_TMP/build.log" >&2; die "build failed"; }
TARGET_DIR=${CARGO_TARGET_DIR:-$REPO/target}
BIN=$TARGET_DIR/release/static
[[ -x $BIN ]] || die "$BIN was not built"

# ---- content -----------------------------------------------------------------------------
ROOT=$BENCH_TMP/root
mkdir -p "$ROOT"
{
    printf '<!doctype html>\n<html><head><title>bench</title></head><body>\n'
    printf '<p>%s</p>\n' "$(head -c 2000 /dev/zero | tr '\0' 'x')"
} | head -c 1008 >"$ROOT/page.html"
printf '\n</body></html>\n' >>"$ROOT/page.html"
head -c $((64 << 20)) /dev/urandom >"$ROOT/big.bin"
# 100 KiB of HTML that compresses like real pages do (about 6:1), not like a run of one byte.
python3 - "$ROOT/article.html" <<'PY'
import random, sys
random.seed(7)
words = ("the server static proxy request response header cache file page site worker event "
         "socket buffer compress gzip latency memory route upstream client nginx caddy engineer "
         "platform deploy container image binary kernel loop timeout connection stream").split()
out = ["<!doctype html>\n<html lang=en><head><meta charset=utf-8><title>article</title>"
       "<link rel=stylesheet href=/style.css></head><body><main>\n"]
size = len(out[0])
i = 0
while size < 100 * 1024 - 200:
    words_n = random.randint(30, 90)
    text = " ".join(random.choice(words) for _ in range(words_n))
    line = f'<p class="para p{i % 7}" id="p{i}">{text.capitalize()}.</p>\n'
    out.append(line); size += len(line); i += 1
out.append("</main></body></html>\n")
data = "".join(out).encode()[: 100 * 1024]
open(sys.argv[1], "wb").write(data)
PY
chmod -R a+rX "$ROOT"
PAGE_SIZE=$(stat -c %s "$ROOT/page.html")
BIG_SIZE=$(stat -c %s "$ROOT/big.bin")
((PAGE_SIZE == 1024)) || die "page.html is $PAGE_SIZE bytes"

# ---- servers -----------------------------------------------------------------------------
# start_static LOGFORMAT: sets S_PID, S_PORT.
start_static() {
    pick_port S_PORT
    spawn_on "$SERVER_CPU" "static-$1" "$BIN" --listen "127.0.0.1:$S_PORT" --root "$ROOT" \
        --workers 1 --log-format "$1"
    S_PID=$SPAWNED
    wait_http "http://127.0.0.1:$S_PORT/page.html"
}

# start_nginx on|off: sets N_PID (master), N_WORKER, N_PORT.
start_nginx() {
    pick_port N_PORT
    local dir=$BENCH_TMP/nginx-$1 log="access_log off;"
    mkdir -p "$dir"
    [[ $1 == on ]] && log="access_log $dir/access.log combined buffer=32k flush=1s;"
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
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    $log
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_timeout 65s;
    keepalive_requests 1000000;
    server_tokens off;
    open_file_cache max=1000 inactive=60s;
    open_file_cache_valid 60s;
    open_file_cache_min_uses 1;
    open_file_cache_errors on;
    # Compression as a user who turns it on runs it; it only applies to requests that send
    # Accept-Encoding (the 100 KiB case), never to the 1 KiB and 64 MiB cases.
    gzip on;
    gzip_comp_level 6;
    gzip_static on;
    gzip_min_length 1024;
    gzip_types text/css application/javascript application/json image/svg+xml;
$(nginx_temp_paths "$dir")
    server {
        listen 127.0.0.1:$N_PORT;
        root $ROOT;
    }
}
EOF
    spawn_nginx "nginx-$1" "$dir"
    wait_http "http://127.0.0.1:$N_PORT/page.html"
}

# check_same NAME PORT: both files come back whole; prints the response head size.
check_content() {
    local name=$1 port=$2 got
    got=$(curl -fsS -o /dev/null -w '%{http_code} %{size_download}' "http://127.0.0.1:$port/page.html")
    [[ $got == "200 $PAGE_SIZE" ]] || die "$name: page.html gave '$got'"
    got=$(curl -fsS -o /dev/null -w '%{http_code} %{size_download}' "http://127.0.0.1:$port/big.bin")
    [[ $got == "200 $BIG_SIZE" ]] || die "$name: big.bin gave '$got'"
    curl -fsS -o /dev/null -w '%{size_header}' "http://127.0.0.1:$port/page.html"
}

say "==> machine: $(nproc) CPUs ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)), kernel $(uname -r)"
say "==> $("$NGINX" -v 2>&1), $(wrk --version 2>&1 | head -1 | cut -d' ' -f1-2), static $("$BIN" --version | cut -d' ' -f2)"
say "==> servers on CPU $SERVER_CPU, wrk ($WRK_THREADS thread) on CPU $CLIENT_CPU; 1 KiB: $CONNS conns x $DURATION; 64 MiB: $BIG_CONNS conns x $BIG_DURATION; best of $RUNS"

wait_quiet
start_static off
start_nginx off
# Idle RSS: right after startup and one request.
R[static.idle_kb]=$(proc_kb "$S_PID" VmRSS)
R[nginx.idle_kb]=$(proc_kb "$N_WORKER" VmRSS)
R[nginx.master_idle_kb]=$(proc_kb "$N_PID" VmRSS)
R[static.head]=$(check_content static "$S_PORT")
R[nginx.head]=$(check_content nginx "$N_PORT")

S_PAGE=http://127.0.0.1:$S_PORT/page.html
N_PAGE=http://127.0.0.1:$N_PORT/page.html
S_BIG=http://127.0.0.1:$S_PORT/big.bin
N_BIG=http://127.0.0.1:$N_PORT/big.bin

say "==> warm-up ($WARMUP each)"
run_wrk "$CONNS" "$WARMUP" "$S_PAGE" "$S_PID" >/dev/null
run_wrk "$CONNS" "$WARMUP" "$N_PAGE" "$N_WORKER" >/dev/null
run_wrk "$BIG_CONNS" "$WARMUP" "$S_BIG" "$S_PID" >/dev/null
run_wrk "$BIG_CONNS" "$WARMUP" "$N_BIG" "$N_WORKER" >/dev/null

# The fixed-response floor (common/examples/floor.rs) on the same CPU: the least CPU a mio
# server can spend per request, measured the same way.
FLOOR_BIN=$(build_floor)
pick_port F_PORT
spawn_on "$SERVER_CPU" floor "$FLOOR_BIN" "127.0.0.1:$F_PORT"
F_PID=$SPAWNED
wait_http "http://127.0.0.1:$F_PORT/page.html"
F_PAGE=http://127.0.0.1:$F_PORT/page.html
run_wrk "$CONNS" "$WARMUP" "$F_PAGE" "$F_PID" >/dev/null

say "==> 1 KiB page, keep-alive, $CONNS connections"
for ((i = 1; i <= RUNS; i++)); do
    measure static.small "$CONNS" "$DURATION" "$S_PAGE" "$S_PID"
    measure nginx.small "$CONNS" "$DURATION" "$N_PAGE" "$N_WORKER"
    measure floor.small "$CONNS" "$DURATION" "$F_PAGE" "$F_PID"
done
stop "$F_PID"
# Metrics: the counting itself is always compiled in and on (a few relaxed loads and stores per
# request); what --metrics-listen adds is the listener and the scrapes. Measured with a scrape
# every second, against the instance without a listener above.
pick_port SM_PORT
pick_port SM_METRICS
spawn_on "$SERVER_CPU" static-metrics "$BIN" --listen "127.0.0.1:$SM_PORT" --root "$ROOT" \
    --workers 1 --log-format off --metrics-listen "127.0.0.1:$SM_METRICS"
SM_PID=$SPAWNED
wait_http "http://127.0.0.1:$SM_PORT/page.html"
wait_http "http://127.0.0.1:$SM_METRICS/metrics"
run_wrk "$CONNS" "$WARMUP" "http://127.0.0.1:$SM_PORT/page.html" "$SM_PID" >/dev/null
say "==> 1 KiB page with --metrics-listen, scraped every second"
( while sleep 1; do curl -fsS -o /dev/null "http://127.0.0.1:$SM_METRICS/metrics" || true; done ) &
SCRAPER=$!
SPAWN_PIDS+=("$SCRAPER")
for ((i = 1; i <= RUNS; i++)); do
    measure static.metrics "$CONNS" "$DURATION" "http://127.0.0.1:$SM_PORT/page.html" "$SM_PID"
done
stop "$SCRAPER"
R[static.scraped]=$(curl -fsS "http://127.0.0.1:$SM_METRICS/metrics" | awk '/^static_http_requests_total\{method="GET",status_class="2xx"\}/ { print $2 }')
stop "$SM_PID"
say "==> 100 KiB HTML with Accept-Encoding: gzip, keep-alive, $CONNS connections"
S_ARTICLE=http://127.0.0.1:$S_PORT/article.html
N_ARTICLE=http://127.0.0.1:$N_PORT/article.html
for url in "$S_ARTICLE" "$N_ARTICLE"; do
    enc=$(curl -fsS -H 'Accept-Encoding: gzip' -o "$BENCH_TMP/article.gz" -w '%{content_type}' -D - "$url" |
        awk 'tolower($1) == "content-encoding:" { print $2 }' | tr -d '\r')
    [[ $enc == gzip ]] || die "$url did not answer with gzip"
    gzip -dc "$BENCH_TMP/article.gz" | cmp -s - "$ROOT/article.html" || die "$url: the gzip body does not inflate to the page"
done
R[static.gzip_bytes]=$(curl -fsS -H 'Accept-Encoding: gzip' -o /dev/null -w '%{size_download}' "$S_ARTICLE")
R[nginx.gzip_bytes]=$(curl -fsS -H 'Accept-Encoding: gzip' -o /dev/null -w '%{size_download}' "$N_ARTICLE")
WRK_HEADER="Accept-Encoding: gzip" run_wrk "$CONNS" "$WARMUP" "$S_ARTICLE" "$S_PID" >/dev/null
WRK_HEADER="Accept-Encoding: gzip" run_wrk "$CONNS" "$WARMUP" "$N_ARTICLE" "$N_WORKER" >/dev/null
for ((i = 1; i <= RUNS; i++)); do
    WRK_HEADER="Accept-Encoding: gzip" measure static.gzip "$CONNS" "$DURATION" "$S_ARTICLE" "$S_PID"
    WRK_HEADER="Accept-Encoding: gzip" measure nginx.gzip "$CONNS" "$DURATION" "$N_ARTICLE" "$N_WORKER"
done
say "==> 64 MiB file, keep-alive, $BIG_CONNS connections"
for ((i = 1; i <= RUNS; i++)); do
    measure static.big "$BIG_CONNS" "$BIG_DURATION" "$S_BIG" "$S_PID"
    measure nginx.big "$BIG_CONNS" "$BIG_DURATION" "$N_BIG" "$N_WORKER"
done
if ((HAVE_BULK)); then
    say "==> 64 MiB file, $BIG_CONNS connections, bench/bulk.py (1 MiB reads; wrk's 8 KiB reads cap it)"
    LOADGEN=bulk run_wrk "$BIG_CONNS" "$WARMUP" "$S_BIG" "$S_PID" >/dev/null
    LOADGEN=bulk run_wrk "$BIG_CONNS" "$WARMUP" "$N_BIG" "$N_WORKER" >/dev/null
    for ((i = 1; i <= RUNS; i++)); do
        LOADGEN=bulk measure static.bulk "$BIG_CONNS" "$BIG_DURATION" "$S_BIG" "$S_PID"
        LOADGEN=bulk measure nginx.bulk "$BIG_CONNS" "$BIG_DURATION" "$N_BIG" "$N_WORKER"
    done
fi
R[static.peak_kb]=$(proc_kb "$S_PID" VmHWM)
R[nginx.peak_kb]=$(proc_kb "$N_WORKER" VmHWM)
R[static.after_kb]=$(proc_kb "$S_PID" VmRSS)
stop "$S_PID"
stop "$N_PID"

if [[ $LOGS == 1 ]]; then
    say "==> 1 KiB page with access logs ON (static: combined to stdout -> file; nginx: combined, buffer=32k flush=1s)"
    start_static combined
    start_nginx on
    run_wrk "$CONNS" "$WARMUP" "http://127.0.0.1:$S_PORT/page.html" "$S_PID" >/dev/null
    run_wrk "$CONNS" "$WARMUP" "http://127.0.0.1:$N_PORT/page.html" "$N_WORKER" >/dev/null
    for ((i = 1; i <= RUNS; i++)); do
        measure static.logs "$CONNS" "$DURATION" "http://127.0.0.1:$S_PORT/page.html" "$S_PID"
        measure nginx.logs "$CONNS" "$DURATION" "http://127.0.0.1:$N_PORT/page.html" "$N_WORKER"
    done
    stop "$S_PID"
    stop "$N_PID"
    R[static.log_lines]=$(wc -l <"$BENCH_TMP/static-combined.out")
    R[nginx.log_lines]=$(wc -l <"$BENCH_TMP/nginx-on/access.log")
    note "access log lines written: static ${R[static.log_lines]}, nginx ${R[nginx.log_lines]}"
fi

# ---- the shipped (musl, static) binary's idle RSS -------------------------------------------
MUSL=$TARGET_DIR/x86_64-unknown-linux-musl/release/static
MUSL_IDLE=""
if [[ -x $MUSL ]]; then
    pick_port M_PORT
    idle_rss MUSL_IDLE static-musl "http://127.0.0.1:$M_PORT/page.html" -- \
        "$MUSL" --listen "127.0.0.1:$M_PORT" --root "$ROOT" --workers 1 --log-format off
    MUSL_STALE=$(stale_note "$MUSL" "$REPO/static/src" "$REPO/common/src")
fi

# ---- sizes -------------------------------------------------------------------------------
read -r IMG_SIZE IMG_NOTE <<<"$(image_size "$IMAGE" "$TARGET_DIR/x86_64-unknown-linux-musl/release/static")"
MUSL_SIZE=n/a
[[ -f $MUSL ]] && MUSL_SIZE=$(stat -c %s "$MUSL")
GNU_SIZE=$(stat -c %s "$BIN")
NGINX_SIZE=$(stat -c %s "$(readlink -f "$NGINX")")

# ---- table -------------------------------------------------------------------------------
errs() { echo $(( ${R[$1.small.errors]:-0} + ${R[$1.gzip.errors]:-0} + ${R[$1.big.errors]:-0} + ${R[$1.bulk.errors]:-0} + ${R[$1.logs.errors]:-0} )); }
fmt_rps() { fmt_int "${R[$1.rps]:-}"; }
r_small=$(ratio "${R[static.small.rps]}" "${R[nginx.small.rps]}")
r_big=$(ratio "${R[static.big.mbps]}" "${R[nginx.big.mbps]}")
row "req/s, 1 KiB page, logs off" "$(fmt_rps static.small)$(mark static.small)" "$(fmt_rps nginx.small)$(mark nginx.small)" "$r_small" ">= 1.30x nginx" "$(at_least "$r_small" 1.3)"
if [[ $LOGS == 1 ]]; then
    r_logs=$(ratio "${R[static.logs.rps]}" "${R[nginx.logs.rps]}")
    row "req/s, 1 KiB page, logs ON" "$(fmt_rps static.logs)$(mark static.logs)" "$(fmt_rps nginx.logs)$(mark nginx.logs)" "$r_logs" "(info)" "-"
fi
r_us=$(ratio "${R[static.small.us]:-}" "${R[nginx.small.us]:-}")
row "CPU us/request, 1 KiB page (utime+stime)" "$(us static.small)" "$(us nginx.small)" "$r_us" "(info, lower is better)" "-"
r_floor=$(ratio "${R[static.small.us]:-}" "${R[floor.small.us]:-}")
row "  vs the fixed-response floor ($(us floor.small) us)" "$r_floor" "$(ratio "${R[nginx.small.us]:-}" "${R[floor.small.us]:-}")" "-" "static <= 1.10x floor" "$(at_most "$r_floor" 1.10)"
r_metrics=$(ratio "${R[static.metrics.us]:-}" "${R[static.small.us]:-}")
row "CPU us/request, 1 KiB, --metrics-listen + 1 scrape/s" "$(us static.metrics)" "-" "$r_metrics" "<= 1.03x without" "$(at_most "$r_metrics" 1.03)"
row "  requests counted by the scraped instance" "${R[static.scraped]:-n/a}" "-" "-" "(info)" "-"
r_gzip=$(ratio "${R[static.gzip.us]:-}" "${R[nginx.gzip.us]:-}")
row "CPU us/request, 100 KiB HTML, gzip" "$(us static.gzip)" "$(us nginx.gzip)" "$r_gzip" "static <= 0.30x nginx" "$(at_most "$r_gzip" 0.30)"
row "req/s, 100 KiB HTML, gzip" "$(fmt_rps static.gzip)$(mark static.gzip)" "$(fmt_rps nginx.gzip)$(mark nginx.gzip)" "$(ratio "${R[static.gzip.rps]:-}" "${R[nginx.gzip.rps]:-}")" "(info)" "-"
row "  gzip body bytes (of 102400)" "${R[static.gzip_bytes]}" "${R[nginx.gzip_bytes]}" "-" "(info)" "-"
row "p99, 1 KiB page (ms)" "${R[static.small.p99]}" "${R[nginx.small.p99]}" "$(ratio "${R[static.small.p99]}" "${R[nginx.small.p99]}")" "(info, lower is better)" "-"
row "MB/s, 64 MiB file (wrk)" "${R[static.big.mbps]}$(mark static.big)" "${R[nginx.big.mbps]}$(mark nginx.big)" "$r_big" ">= 1.00x nginx" "$(at_least "$r_big" 1.0)"
row "p99, 64 MiB file, wrk (ms)" "${R[static.big.p99]}" "${R[nginx.big.p99]}" "$(ratio "${R[static.big.p99]}" "${R[nginx.big.p99]}")" "(info, lower is better)" "-"
if ((HAVE_BULK)); then
    r_bulk=$(ratio "${R[static.bulk.mbps]}" "${R[nginx.bulk.mbps]}")
    row "MB/s, 64 MiB file (bulk.py, 1 MiB reads)" "${R[static.bulk.mbps]}$(mark static.bulk)" "${R[nginx.bulk.mbps]}$(mark nginx.bulk)" "$r_bulk" ">= 1.00x nginx" "$(at_least "$r_bulk" 1.0)"
fi
row "idle RSS (startup + 1 request)" "$(kib_to_mib "${R[static.idle_kb]}")" "$(kib_to_mib "${R[nginx.idle_kb]}") (worker)" "$(ratio "${R[static.idle_kb]}" "${R[nginx.idle_kb]}")" "static < 2 MiB" "$(below "${R[static.idle_kb]}" 2048)"
[[ -n $MUSL_IDLE ]] && row "idle RSS, musl build (as in the image)" "$(kib_to_mib "$MUSL_IDLE")" "$(kib_to_mib "${R[nginx.idle_kb]}") (worker)" "$(ratio "$MUSL_IDLE" "${R[nginx.idle_kb]}")" "static < 2 MiB" "$(below "$MUSL_IDLE" 2048)"
row "peak RSS (VmHWM after runs)" "$(kib_to_mib "${R[static.peak_kb]}")" "$(kib_to_mib "${R[nginx.peak_kb]}") (worker)" "$(ratio "${R[static.peak_kb]}" "${R[nginx.peak_kb]}")" "(info)" "-"
row "image size" "$(bytes_h "$IMG_SIZE")" "n/a" "-" "static < 1 MiB" "$(below "$IMG_SIZE" 1048576)"
row "binary size (musl / glibc)" "$(bytes_h "$MUSL_SIZE") / $(bytes_h "$GNU_SIZE")" "$(bytes_h "$NGINX_SIZE") (+ libs)" "-" "(info)" "-"
per_core() { awk -v r="${R[$1.rps]:-}" -v c="${R[$1.cpu]:-}" 'BEGIN { if (r == "" || c + 0 == 0) print "n/a"; else printf "%.0f\n", r * 100 / c }'; }
eff_s=$(per_core static.small)
eff_n=$(per_core nginx.small)
row "req/s per busy server core, 1 KiB page" "$(fmt_int "$eff_s")" "$(fmt_int "$eff_n")" "$(ratio "$eff_s" "$eff_n")" "(info: req/s / server CPU)" "-"
row "CPU % server / wrk / other, best 1 KiB run" "${R[static.small.cpu]} / ${R[static.small.wrk]} / ${R[static.small.foreign]}" "${R[nginx.small.cpu]} / ${R[nginx.small.wrk]} / ${R[nginx.small.foreign]}" "-" "(info)" "-"
row "CPU % server / wrk / other, best 64 MiB run" "${R[static.big.cpu]} / ${R[static.big.wrk]} / ${R[static.big.foreign]}" "${R[nginx.big.cpu]} / ${R[nginx.big.wrk]} / ${R[nginx.big.foreign]}" "-" "(info)" "-"
((HAVE_BULK)) && row "CPU % server / bulk.py / other, best 64 MiB" "${R[static.bulk.cpu]} / ${R[static.bulk.wrk]} / ${R[static.bulk.foreign]}" "${R[nginx.bulk.cpu]} / ${R[nginx.bulk.wrk]} / ${R[nginx.bulk.foreign]}" "-" "(info)" "-"
row "response head bytes, 1 KiB page" "${R[static.head]}" "${R[nginx.head]}" "-" "(info)" "-"
row "client errors (all measured runs)" "$(errs static)" "$(errs nginx)" "-" "0" "$( (( $(errs static) == 0 )) && echo PASS || echo FAIL)"

echo
echo "static vs nginx $("$NGINX" -v 2>&1 | sed 's/.*nginx\///') — 1 worker each on CPU $SERVER_CPU, wrk on CPU $CLIENT_CPU, best of $RUNS runs (max req/s and MB/s, min p99)"
echo "1 KiB: $CONNS keep-alive connections x $DURATION; 64 MiB: $BIG_CONNS connections x $BIG_DURATION; MB = 10^6 bytes"
echo
print_table "$(printf '%s\t%s\t%s\t%s\t%s\t%s' metric static nginx ratio target result)"
echo
echo "notes:"
echo "  - nginx: sendfile, tcp_nopush, tcp_nodelay, keepalive_requests 1000000, access_log off,"
echo "    open_file_cache ON (its best case: no open/stat per request; static stats every request)."
echo "  - RSS: static = the process; nginx = its worker (the master adds $(kib_to_mib "${R[nginx.master_idle_kb]}"))."
echo "  - static RSS after the runs: $(kib_to_mib "${R[static.after_kb]}"). The measured build is glibc-linked"
echo "    (cargo build --release): its RSS counts ~1.5-2 MiB of shared libc pages; the musl row is the"
echo "    static binary the image ships$( [[ -x $MUSL ]] && echo "${MUSL_STALE:-}" || echo " (not built: scripts/build.sh static)")."
echo "  - image: $IMG_NOTE"
[[ -z $QUIET_WARNING ]] || echo "  - WARNING: $QUIET_WARNING."
noisy=0
for k in static.small nginx.small static.big nginx.big static.bulk nginx.bulk static.logs nginx.logs; do noisy=$((noisy + ${R[$k.noisy]:-0})); done
((noisy == 0)) || echo "  - WARNING: (*) $noisy measured run(s) stayed disturbed by other processes (> ${NOISE_LIMIT}% of a core) after retries:
    the figures marked (*) are unreliable; 'req/s per busy server core' holds up better under contention."
echo "  - CPU %: of one core over the run; 'other' = CPU on the two benchmark cores used by anything"
echo "    else on the machine. wrk near 100% means the load generator, not the server, was the"
echo "    limit: then 'req/s per busy server core' is the fairer efficiency comparison."
exit 0
