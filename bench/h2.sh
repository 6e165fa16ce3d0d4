#!/usr/bin/env bash
# bench/h2.sh: HTTP/2 through `proxy`, nginx (`listen ... ssl http2`) and haproxy (`alpn
# h2,http/1.1`) in front of the same upstream, one run. nginx and haproxy are configured as
# in bench/proxy.sh (`nginx_proxy_conf`, `haproxy_proxy_cfg` in lib.sh), with HTTP/2 listeners.
#
#   bench/h2.sh                         # ~2 minutes with the defaults
#   REQUESTS=50000 RUNS=1 bench/h2.sh
#
# What it measures
#   - h2load -c $CONNS -m $STREAMS -n $REQUESTS on a 1 KiB page: CPU time of each proxy
#     process per request (utime + stime from /proc/PID/stat over the run / requests done),
#     req/s; best of $RUNS. Same placement as bench/proxy.sh: the proxies on CPU $SERVER_CPU,
#     the upstream (`static --workers 1`) and h2load on CPU $CLIENT_CPU.
#   - a browser-like page: 1 HTML page + 30 small assets, fetched $PAGES times over ONE HTTP/2
#     connection (h2load -c 1 -m 31) and over SIX HTTP/1.1 connections (h2load --h1 -c 6),
#     each fetch a fresh TLS connection set: wall time per page and proxy CPU per page. Over
#     loopback there is no round-trip time to save, so this shows the CPU side (handshakes,
#     syscalls); on a real network, one connection also saves five handshakes of RTTs.
#   - idle RSS of the proxy after one HTTP/2 request.
# Prints a table; exits 0 whatever the figures (a report), non-zero when something broke.
#
# Environment (defaults): CONNS=64 STREAMS=10 REQUESTS=200000 RUNS=2 PAGES=50
# SERVER_CPU=0 CLIENT_CPU=1 KEEP_TMP=0.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CONNS=${CONNS:-64}
STREAMS=${STREAMS:-10}
REQUESTS=${REQUESTS:-200000}
RUNS=${RUNS:-2}
PAGES=${PAGES:-50}
NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
HAPROXY=${HAPROXY:-$(command -v haproxy || echo /usr/sbin/haproxy)}
[[ -x $NGINX ]] || die "nginx is missing (apt-get install -y nginx-light)"
[[ -x $HAPROXY ]] || die "haproxy is missing (apt-get install -y haproxy)"
have h2load || die "h2load is missing (apt-get install -y nghttp2-client)"
have openssl || die "openssl is missing"

bench_init h2
cd "$REPO"
TARGET_DIR=${CARGO_TARGET_DIR:-$REPO/target}
say "==> cargo build --release -p static-server -p proxy"
cargo build --release -p static-server -p proxy 2>"$BENCH_TMP/build.log" ||
    { cat "$BENCH_TMP/build.log" >&2; die "the build failed"; }

ROOT=$BENCH_TMP/root
mkdir -p "$ROOT/assets"
head -c 1024 /dev/zero | tr '\0' 'x' >"$ROOT/page.html"
for i in $(seq 1 30); do head -c $((500 + i * 37)) /dev/zero | tr '\0' 'a' >"$ROOT/assets/a$i.css"; done
chmod -R a+rX "$ROOT"

PKI=$BENCH_TMP/pki
mkdir -p "$PKI"
(
    cd "$PKI"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
        -subj "/CN=localhost" -keyout leaf.key -out leaf.pem \
        -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" -addext "basicConstraints=critical,CA:FALSE"
    cat leaf.pem leaf.key >haproxy.pem
    chmod 644 ./*
) >"$BENCH_TMP/pki.log" 2>&1 || { cat "$BENCH_TMP/pki.log" >&2; die "certificate generation failed"; }

pick_port U_PORT
spawn_on "$CLIENT_CPU" upstream "$TARGET_DIR/release/static" --listen "127.0.0.1:$U_PORT" \
    --root "$ROOT" --workers 1 --log-format off
KNOWN_PIDS=("$SPAWNED")
wait_http "http://127.0.0.1:$U_PORT/page.html"

pick_port P_PLAIN
pick_port P_TLS
spawn_on "$SERVER_CPU" proxy "$TARGET_DIR/release/proxy" --listen "127.0.0.1:$P_PLAIN" \
    --tls-listen "127.0.0.1:$P_TLS" --cert "$PKI/leaf.pem" --key "$PKI/leaf.key" \
    --route "/=http://127.0.0.1:$U_PORT" --workers 1 --log-format off
P_PID=$SPAWNED

pick_port N_TLS
NDIR=$BENCH_TMP/nginx
mkdir -p "$NDIR"
nginx_proxy_conf "$NDIR" "$U_PORT" "$PKI/leaf.pem" "$PKI/leaf.key" "127.0.0.1:$N_TLS ssl http2"
spawn_nginx nginx "$NDIR"

pick_port H_TLS
HDIR=$BENCH_TMP/haproxy
mkdir -p "$HDIR"
haproxy_proxy_cfg "$HDIR" "$U_PORT" "127.0.0.1:$H_TLS ssl crt $PKI/haproxy.pem alpn h2,http/1.1"
spawn_haproxy "$HDIR"

NAMES=(proxy nginx haproxy)
declare -A URL=([proxy]=https://127.0.0.1:$P_TLS [nginx]=https://127.0.0.1:$N_TLS [haproxy]=https://127.0.0.1:$H_TLS)
declare -A PID=([proxy]=$P_PID [nginx]=$N_WORKER [haproxy]=$H_PID)
for n in "${NAMES[@]}"; do
    wait_http "${URL[$n]}/page.html" -k
    proto=$(curl -sk --http2 -o /dev/null -w '%{http_version}' "${URL[$n]}/page.html")
    [[ $proto == 2 ]] || die "$n does not answer over HTTP/2 (got HTTP/$proto)"
done
R[proxy.idle_kb]=$(proc_kb "$P_PID" VmRSS)

# h2load_run NAME ARGS...: one h2load run from CLIENT_CPU; prints "done us_per_req rps ms".
h2load_run() {
    local name=$1
    shift
    local t0 t1 out done rps ms
    t0=$(cpu_ticks "${PID[$name]}")
    out=$(taskset -c "$CLIENT_CPU" timeout 300 h2load "$@" 2>&1) || { echo "$out" >&2; die "h2load failed against $name"; }
    t1=$(cpu_ticks "${PID[$name]}")
    done=$(awk '/^requests:/ { print $8 }' <<<"$out")
    rps=$(awk '/^finished in/ { print $4 }' <<<"$out")
    ms=$(awk '/^finished in/ { v = $3; sub(/,$/, "", v); if (v ~ /ms$/) { sub(/ms$/, "", v); print v } else { sub(/s$/, "", v); print v * 1000 } }' <<<"$out")
    local failed
    failed=$(awk '/^requests:/ { print $10 + $12 }' <<<"$out")
    R[$name.errors]=$(( ${R[$name.errors]:-0} + failed ))
    awk -v d="$done" -v a="$t0" -v b="$t1" -v hz="$CLK_TCK" -v r="$rps" -v m="$ms" \
        'BEGIN { printf "%d %.2f %.0f %.1f\n", d, (d > 0 ? (b - a) * 1e6 / hz / d : 0), r, m }'
}

wait_quiet
say "==> warm-up"
for n in "${NAMES[@]}"; do h2load_run "$n" -c "$CONNS" -m "$STREAMS" -n 20000 "${URL[$n]}/page.html" >/dev/null; done

say "==> 1 KiB page, h2load -c $CONNS -m $STREAMS -n $REQUESTS, best of $RUNS"
for ((i = 1; i <= RUNS; i++)); do
    for n in "${NAMES[@]}"; do
        read -r done us rps _ <<<"$(h2load_run "$n" -c "$CONNS" -m "$STREAMS" -n "$REQUESTS" "${URL[$n]}/page.html")"
        note "$n: $done requests, $us us/request, $rps req/s"
        keep_min "$n.us" "$us"
        keep_max "$n.rps" "$rps"
    done
done

ASSETS=()
for i in $(seq 1 30); do ASSETS+=("/assets/a$i.css"); done
say "==> a page of 31 resources, $PAGES times: one HTTP/2 connection vs six HTTP/1.1 connections"
for n in "${NAMES[@]}"; do
    for mode in h2 h1; do
        total_ms=0 t0=$(cpu_ticks "${PID[$n]}")
        for ((i = 0; i < PAGES; i++)); do
            urls=("${URL[$n]}/page.html")
            for a in "${ASSETS[@]}"; do urls+=("${URL[$n]}$a"); done
            if [[ $mode == h2 ]]; then
                read -r _ _ _ ms <<<"$(h2load_run "$n" -c 1 -m 31 -n 31 "${urls[@]}")"
            else
                read -r _ _ _ ms <<<"$(h2load_run "$n" --h1 -c 6 -m 1 -n 31 "${urls[@]}")"
            fi
            total_ms=$(awk -v a="$total_ms" -v b="$ms" 'BEGIN { print a + b }')
        done
        t1=$(cpu_ticks "${PID[$n]}")
        R[$n.page_$mode.ms]=$(awk -v t="$total_ms" -v p="$PAGES" 'BEGIN { printf "%.2f\n", t / p }')
        R[$n.page_$mode.us]=$(awk -v a="$t0" -v b="$t1" -v hz="$CLK_TCK" -v p="$PAGES" 'BEGIN { printf "%.0f\n", (b - a) * 1e6 / hz / p }')
        note "$n $mode: ${R[$n.page_$mode.ms]} ms/page, ${R[$n.page_$mode.us]} us CPU/page"
    done
done

v() { local x=${R[$1]:-}; echo "${x:-n/a}"; }
row "CPU us/request, 1 KiB, h2 -c $CONNS -m $STREAMS" "$(v proxy.us)" "$(v nginx.us)" "$(v haproxy.us)" \
    "$(ratio "$(v proxy.us)" "$(v nginx.us)")" "$(ratio "$(v proxy.us)" "$(v haproxy.us)")" "<= 0.8x nginx" \
    "$(at_most "$(ratio "$(v proxy.us)" "$(v nginx.us)")" 0.8)"
row "req/s, 1 KiB, h2" "$(fmt_int "$(v proxy.rps)")" "$(fmt_int "$(v nginx.rps)")" "$(fmt_int "$(v haproxy.rps)")" \
    "$(ratio "$(v proxy.rps)" "$(v nginx.rps)")" "$(ratio "$(v proxy.rps)" "$(v haproxy.rps)")" "(info)" "-"
for mode in h2 h1; do
    label="31-resource page over $([[ $mode == h2 ]] && echo "1 h2 connection" || echo "6 HTTP/1.1 connections")"
    row "$label: ms / CPU us" "$(v proxy.page_$mode.ms) / $(v proxy.page_$mode.us)" "$(v nginx.page_$mode.ms) / $(v nginx.page_$mode.us)" \
        "$(v haproxy.page_$mode.ms) / $(v haproxy.page_$mode.us)" "$(ratio "$(v proxy.page_$mode.us)" "$(v nginx.page_$mode.us)")" \
        "$(ratio "$(v proxy.page_$mode.us)" "$(v haproxy.page_$mode.us)")" "(info)" "-"
done
row "idle RSS after one h2 request" "$(kib_to_mib "$(v proxy.idle_kb)")" "-" "-" "-" "-" "< 4 MiB" "$(below "$(v proxy.idle_kb)" 4096)"
row "failed requests" "$(v proxy.errors)" "$(v nginx.errors)" "$(v haproxy.errors)" "-" "-" "0" \
    "$( (( ${R[proxy.errors]:-0} == 0 )) && echo PASS || echo FAIL)"
echo
echo "HTTP/2: proxy vs $("$NGINX" -v 2>&1 | sed 's/.*: //') vs $("$HAPROXY" -v | head -1 | cut -d' ' -f1-3); 1 worker each on CPU $SERVER_CPU; upstream and h2load on CPU $CLIENT_CPU"
echo
print_table "$(printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s' metric proxy nginx haproxy "vs nginx" "vs haproxy" target result)"
exit 0
