#!/usr/bin/env bash
# bench/proxy.sh: `proxy` against nginx and haproxy in front of the same upstream, one run.
#
#   bench/proxy.sh                  # ~5 minutes with the defaults
#   DURATION=5s RUNS=1 bench/proxy.sh
#
# What it does
#   - builds `static` (the upstream) and `proxy` (cargo build --release -p static-server /
#     -p proxy, the repo's target/). When the proxy does not build, the nginx and haproxy
#     halves still run (PROXY_WAIT=MINUTES polls the build every 5 minutes first).
#   - makes a throw-away EC P-256 CA and a leaf for 127.0.0.1/localhost (openssl); all three
#     proxies terminate TLS with that same chain and key
#   - upstream: `static --workers 1` serving page.html (1 KiB) and big.bin (64 MiB)
#   - CPU placement (2 cores): the proxy under test on CPU $SERVER_CPU; the upstream AND the
#     load generator share CPU $CLIENT_CPU. Identical for all three proxies, so the ratios
#     compare like with like; absolute req/s are capped by what CPU $CLIENT_CPU can do for
#     wrk + upstream, which is why 'req/s per busy proxy core' is printed as well.
#   - proxies, one worker each, access logs off:
#       proxy    two instances: plain-only, and one with --cert (its plain listener redirects
#                to HTTPS, so plain is measured on the first)
#       nginx    worker_processes 1; upstream keepalive 128; proxy_http_version 1.1;
#                Connection ""; X-Forwarded-* headers; proxy_buffering as PROXY_BUFFERING
#                (default on, with proxy_max_temp_file_size 0 so big bodies never touch disk)
#       haproxy  nbthread 1; mode http; http-reuse always; option forwardfor; X-Forwarded-*
#   - measures RUNS times per case, alternating proxies, keeps the best (max req/s and MB/s,
#     min p99); a run disturbed by other processes (see lib.sh) is repeated
#   - every case reports each proxy's CPU time per request (utime + stime from /proc/PID/stat
#     over the run, divided by the requests completed): on 2 cores wrk and the upstream cap
#     req/s at about the same figure for all three, and CPU per request is what tells them
#     apart. The 1 KiB case also runs against the fixed-response floor (common/examples/
#     floor.rs: a tiny mio server answering a canned 200 per request head) on the same CPU.
#   - prints metric | proxy | nginx | haproxy | vs nginx | vs haproxy | target | result and
#     exits 0 whatever the figures (it is a report); non-zero only when something broke
#
# Environment (defaults): DURATION=10s CONNS=64 (1 KiB page, keep-alive, plain and HTTPS),
# BIG_DURATION=10s BIG_CONNS=4 (64 MiB body), WARMUP=3s, RUNS=2, IMAGE=proxy,
# PROXY_BUFFERING=on, HAPROXY_SPLICE=0 (1: option splice-response), PROXY_WAIT=0,
# SERVER_CPU=0, CLIENT_CPU=1, KEEP_TMP=0.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DURATION=${DURATION:-10s}
CONNS=${CONNS:-64}
BIG_DURATION=${BIG_DURATION:-10s}
BIG_CONNS=${BIG_CONNS:-4}
WARMUP=${WARMUP:-3s}
RUNS=${RUNS:-2}
IMAGE=${IMAGE:-proxy}
PROXY_BUFFERING=${PROXY_BUFFERING:-on}
HAPROXY_SPLICE=${HAPROXY_SPLICE:-0}
PROXY_WAIT=${PROXY_WAIT:-0}

NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
HAPROXY=${HAPROXY:-$(command -v haproxy || echo /usr/sbin/haproxy)}
[[ -x $NGINX ]] || die "nginx is missing (apt-get install -y nginx-light)"
[[ -x $HAPROXY ]] || die "haproxy is missing (apt-get install -y haproxy)"
have openssl || die "openssl is missing"

bench_init proxy
HAVE_BULK=0
have python3 && HAVE_BULK=1
cd "$REPO"
TARGET_DIR=${CARGO_TARGET_DIR:-$REPO/target}

say "==> cargo build --release -p static-server"
cargo build --release -p static-server 2>"$BENCH_TMP/build-static.log" ||
    { cat "$BENCH_TMP/build-static.log" >&2; die "the upstream (static) does not build"; }
UPSTREAM_BIN=$TARGET_DIR/release/static

HAVE_PROXY=0
PROXY_BIN=$TARGET_DIR/release/proxy
deadline=$(( $(date +%s) + PROXY_WAIT * 60 ))
while :; do
    say "==> cargo build --release -p proxy"
    if cargo build --release -p proxy 2>"$BENCH_TMP/build-proxy.log" && [[ -x $PROXY_BIN ]] &&
        "$PROXY_BIN" --help 2>/dev/null | grep -q -- --tls-listen; then
        HAVE_PROXY=1
        break
    fi
    if (($(date +%s) + 300 > deadline)); then
        say "warning: the proxy does not build (or has no --tls-listen); measuring nginx and haproxy only:"
        tail -5 "$BENCH_TMP/build-proxy.log" >&2
        break
    fi
    say "   the proxy does not build yet; trying again in 5 minutes (PROXY_WAIT=$PROXY_WAIT)"
    sleep 300
done

# ---- content and certificates ------------------------------------------------------------
ROOT=$BENCH_TMP/root
mkdir -p "$ROOT"
{
    printf '<!doctype html>\n<html><head><title>bench</title></head><body>\n'
    printf '<p>%s</p>\n' "$(head -c 2000 /dev/zero | tr '\0' 'x')"
} | head -c 1008 >"$ROOT/page.html"
printf '\n</body></html>\n' >>"$ROOT/page.html"
head -c $((64 << 20)) /dev/urandom >"$ROOT/big.bin"
chmod -R a+rX "$ROOT"
PAGE_SIZE=$(stat -c %s "$ROOT/page.html")
BIG_SIZE=$(stat -c %s "$ROOT/big.bin")

PKI=$BENCH_TMP/pki
mkdir -p "$PKI"
(
    cd "$PKI"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
        -subj "/CN=bench test CA" -keyout ca.key -out ca.pem \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -subj "/CN=localhost" -keyout leaf.key -out leaf.csr
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n' >leaf.ext
    openssl x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
        -extfile leaf.ext -out leaf.pem
    cat leaf.pem ca.pem >chain.pem
    cat chain.pem leaf.key >haproxy.pem # haproxy wants chain and key in one file
    chmod 644 ./*
) >"$BENCH_TMP/pki.log" 2>&1 || { cat "$BENCH_TMP/pki.log" >&2; die "certificate generation failed"; }
CURL_TLS=(--cacert "$PKI/ca.pem")

# ---- processes ---------------------------------------------------------------------------
pick_port U_PORT
spawn_on "$CLIENT_CPU" upstream "$UPSTREAM_BIN" --listen "127.0.0.1:$U_PORT" --root "$ROOT" \
    --workers 1 --log-format off
U_PID=$SPAWNED
KNOWN_PIDS=("$U_PID") # its CPU is expected, not a disturbance
wait_http "http://127.0.0.1:$U_PORT/page.html"

if ((HAVE_PROXY)); then
    pick_port P_PORT
    spawn_on "$SERVER_CPU" proxy-plain "$PROXY_BIN" --listen "127.0.0.1:$P_PORT" \
        --route "/=http://127.0.0.1:$U_PORT" --workers 1 --log-format off
    P_PID=$SPAWNED
    pick_port PT_PLAIN
    pick_port PT_PORT
    spawn_on "$SERVER_CPU" proxy-tls "$PROXY_BIN" --listen "127.0.0.1:$PT_PLAIN" \
        --tls-listen "127.0.0.1:$PT_PORT" --cert "$PKI/chain.pem" --key "$PKI/leaf.key" \
        --route "/=http://127.0.0.1:$U_PORT" --workers 1 --log-format off
    PT_PID=$SPAWNED
    wait_http "http://127.0.0.1:$P_PORT/page.html"
    wait_http "https://127.0.0.1:$PT_PORT/page.html" "${CURL_TLS[@]}"
fi

pick_port N_PORT
pick_port N_TLS
NDIR=$BENCH_TMP/nginx
mkdir -p "$NDIR"
nginx_proxy_conf "$NDIR" "$U_PORT" "$PKI/chain.pem" "$PKI/leaf.key" "127.0.0.1:$N_PORT" "127.0.0.1:$N_TLS ssl"
spawn_nginx nginx "$NDIR"

pick_port H_PORT
pick_port H_TLS
HDIR=$BENCH_TMP/haproxy
mkdir -p "$HDIR"
haproxy_proxy_cfg "$HDIR" "$U_PORT" "127.0.0.1:$H_PORT" "127.0.0.1:$H_TLS ssl crt $PKI/haproxy.pem alpn http/1.1"
spawn_haproxy "$HDIR"

wait_http "http://127.0.0.1:$N_PORT/page.html"
wait_http "https://127.0.0.1:$N_TLS/page.html" "${CURL_TLS[@]}"
wait_http "http://127.0.0.1:$H_PORT/page.html"
wait_http "https://127.0.0.1:$H_TLS/page.html" "${CURL_TLS[@]}"

# Names, plain URL base, TLS URL base and measured pid of each proxy.
NAMES=(nginx haproxy)
declare -A PLAIN=([nginx]=http://127.0.0.1:$N_PORT [haproxy]=http://127.0.0.1:$H_PORT)
declare -A TLS=([nginx]=https://127.0.0.1:$N_TLS [haproxy]=https://127.0.0.1:$H_TLS)
declare -A PID_PLAIN=([nginx]=$N_WORKER [haproxy]=$H_PID)
declare -A PID_TLS=([nginx]=$N_WORKER [haproxy]=$H_PID)
if ((HAVE_PROXY)); then
    NAMES=(proxy nginx haproxy)
    PLAIN[proxy]=http://127.0.0.1:$P_PORT
    TLS[proxy]=https://127.0.0.1:$PT_PORT
    PID_PLAIN[proxy]=$P_PID
    PID_TLS[proxy]=$PT_PID
fi

# Idle RSS: right after startup and one proxied request (the TLS one for the TLS instance).
# (wait_http above made that one request, plain and/or HTTPS.)
for n in "${NAMES[@]}"; do
    R[$n.idle_kb]=$(proc_kb "${PID_PLAIN[$n]}" VmRSS)
    R[$n.idle_tls_kb]=$(proc_kb "${PID_TLS[$n]}" VmRSS)
done
for n in "${NAMES[@]}"; do
    R[$n.head]=$(curl -fsS -o /dev/null -w '%{size_header}' "${PLAIN[$n]}/page.html")
    R[$n.head_tls]=$(curl -fsS -o /dev/null -w '%{size_header}' "${CURL_TLS[@]}" "${TLS[$n]}/page.html")
    got=$(curl -fsS -o /dev/null -w '%{http_code} %{size_download}' "${PLAIN[$n]}/page.html")
    [[ $got == "200 $PAGE_SIZE" ]] || die "$n: page.html gave '$got'"
    got=$(curl -fsS -o /dev/null -w '%{http_code} %{size_download}' "${PLAIN[$n]}/big.bin")
    [[ $got == "200 $BIG_SIZE" ]] || die "$n: big.bin gave '$got'"
    got=$(curl -fsS -o /dev/null -w '%{http_code} %{size_download}' "${CURL_TLS[@]}" "${TLS[$n]}/page.html")
    [[ $got == "200 $PAGE_SIZE" ]] || die "$n: https page.html gave '$got'"
    R[$n.cipher]=$(openssl s_client -connect "${TLS[$n]#https://}" -servername localhost </dev/null 2>/dev/null |
        awk '/^New, / { sub(/,$/, "", $2); print $2 "/" $NF; exit }')
done
R[nginx.master_kb]=$(proc_kb "$N_PID" VmRSS)

say "==> machine: $(nproc) CPUs ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)), kernel $(uname -r)"
say "==> $("$NGINX" -v 2>&1 | sed 's/.*: //'), $("$HAPROXY" -v | head -1 | cut -d' ' -f1-3), $(wrk --version 2>&1 | head -1 | cut -d' ' -f1-2), $(openssl version | cut -d' ' -f1-2)"
say "==> proxies on CPU $SERVER_CPU; upstream + wrk on CPU $CLIENT_CPU; 1 KiB: $CONNS conns x $DURATION; 64 MiB: $BIG_CONNS conns x $BIG_DURATION; best of $RUNS"
wait_quiet

say "==> warm-up ($WARMUP each case)"
for n in "${NAMES[@]}"; do
    run_wrk "$CONNS" "$WARMUP" "${PLAIN[$n]}/page.html" "${PID_PLAIN[$n]}" >/dev/null
    run_wrk "$CONNS" "$WARMUP" "${TLS[$n]}/page.html" "${PID_TLS[$n]}" >/dev/null
    run_wrk "$BIG_CONNS" "$WARMUP" "${PLAIN[$n]}/big.bin" "${PID_PLAIN[$n]}" >/dev/null
done

# The fixed-response floor (common/examples/floor.rs) on the proxies' CPU: what answering a
# request costs a mio server that does nothing else, measured the same way.
FLOOR_BIN=$(build_floor)
pick_port F_PORT
spawn_on "$SERVER_CPU" floor "$FLOOR_BIN" "127.0.0.1:$F_PORT"
F_PID=$SPAWNED
wait_http "http://127.0.0.1:$F_PORT/page.html"
run_wrk "$CONNS" "$WARMUP" "http://127.0.0.1:$F_PORT/page.html" "$F_PID" >/dev/null

say "==> 1 KiB page over plain HTTP, keep-alive, $CONNS connections"
for ((i = 1; i <= RUNS; i++)); do
    for n in "${NAMES[@]}"; do measure "$n.small" "$CONNS" "$DURATION" "${PLAIN[$n]}/page.html" "${PID_PLAIN[$n]}"; done
    measure floor.small "$CONNS" "$DURATION" "http://127.0.0.1:$F_PORT/page.html" "$F_PID"
done
stop "$F_PID"
say "==> 1 KiB page over HTTPS, keep-alive, $CONNS connections"
for ((i = 1; i <= RUNS; i++)); do
    for n in "${NAMES[@]}"; do measure "$n.tls" "$CONNS" "$DURATION" "${TLS[$n]}/page.html" "${PID_TLS[$n]}"; done
done
say "==> 64 MiB body over plain HTTP, $BIG_CONNS connections (wrk)"
for ((i = 1; i <= RUNS; i++)); do
    for n in "${NAMES[@]}"; do measure "$n.big" "$BIG_CONNS" "$BIG_DURATION" "${PLAIN[$n]}/big.bin" "${PID_PLAIN[$n]}"; done
done
if ((HAVE_BULK)); then
    say "==> 64 MiB body over plain HTTP, $BIG_CONNS connections (bench/bulk.py, 1 MiB reads)"
    for ((i = 1; i <= RUNS; i++)); do
        for n in "${NAMES[@]}"; do LOADGEN=bulk measure "$n.bulk" "$BIG_CONNS" "$BIG_DURATION" "${PLAIN[$n]}/big.bin" "${PID_PLAIN[$n]}"; done
    done
fi
for n in "${NAMES[@]}"; do
    R[$n.peak_kb]=$(proc_kb "${PID_PLAIN[$n]}" VmHWM)
    R[$n.peak_tls_kb]=$(proc_kb "${PID_TLS[$n]}" VmHWM)
done

# ---- the shipped (musl, static) binary's idle RSS -------------------------------------------
MUSL=$TARGET_DIR/x86_64-unknown-linux-musl/release/proxy
MUSL_IDLE="" MUSL_IDLE_TLS="" MUSL_STALE=""
if [[ -x $MUSL ]] && "$MUSL" --help 2>/dev/null | grep -q -- --tls-listen; then
    pick_port M_PORT
    idle_rss MUSL_IDLE proxy-musl "http://127.0.0.1:$M_PORT/page.html" -- \
        "$MUSL" --listen "127.0.0.1:$M_PORT" --route "/=http://127.0.0.1:$U_PORT" --workers 1 --log-format off
    pick_port M_PLAIN
    pick_port M_TLS
    idle_rss MUSL_IDLE_TLS proxy-musl-tls "https://127.0.0.1:$M_TLS/page.html" "${CURL_TLS[@]}" -- \
        "$MUSL" --listen "127.0.0.1:$M_PLAIN" --tls-listen "127.0.0.1:$M_TLS" --cert "$PKI/chain.pem" \
        --key "$PKI/leaf.key" --route "/=http://127.0.0.1:$U_PORT" --workers 1 --log-format off
    MUSL_STALE=$(stale_note "$MUSL" "$REPO/proxy/src" "$REPO/common/src")
fi

# ---- sizes -------------------------------------------------------------------------------
read -r IMG_SIZE IMG_NOTE <<<"$(image_size "$IMAGE" "$MUSL")"
MUSL_SIZE=n/a
[[ -f $MUSL ]] && MUSL_SIZE=$(stat -c %s "$MUSL")
GNU_SIZE=n/a
[[ -f $PROXY_BIN ]] && GNU_SIZE=$(stat -c %s "$PROXY_BIN")

# ---- table -------------------------------------------------------------------------------
v() { local x=${R[$1]:-}; echo "${x:-n/a}"; }
vi() { local x=${R[$1]:-}; [[ -n $x ]] && fmt_int "$x" || echo n/a; }
per_core() { awk -v r="${R[$1.rps]:-}" -v c="${R[$1.cpu]:-}" 'BEGIN { if (r == "" || c + 0 == 0) print ""; else printf "%.0f\n", r * 100 / c }'; }
for n in proxy nginx haproxy; do
    R[$n.small.eff]=$(per_core "$n.small")
    R[$n.tls.eff]=$(per_core "$n.tls")
done
# prow METRIC KEY TARGET_NGINX TARGET_HAPROXY (ratios of higher-is-better throughputs).
prow() {
    local label=$1 key=$2 tn=${3:-} th=${4:-} rn rh res="-" tgt="(info)"
    rn=$(ratio "${R[proxy.$key]:-}" "${R[nginx.$key]:-}")
    rh=$(ratio "${R[proxy.$key]:-}" "${R[haproxy.$key]:-}")
    if [[ -n $tn || -n $th ]]; then
        tgt="" res=""
        [[ -n $tn ]] && { tgt+=">= ${tn}x nginx"; res+=$(at_least "$rn" "$tn"); }
        [[ -n $tn && -n $th ]] && { tgt+=", "; res+="/"; }
        [[ -n $th ]] && { tgt+=">= ${th}x haproxy"; res+=$(at_least "$rh" "$th"); }
    fi
    local fmt=v
    [[ $key == *rps || $key == *eff ]] && fmt=vi
    local base=${key%.*}
    row "$label" "$($fmt "proxy.$key")$(mark "proxy.$base")" "$($fmt "nginx.$key")$(mark "nginx.$base")" "$($fmt "haproxy.$key")$(mark "haproxy.$base")" "$rn" "$rh" "$tgt" "$res"
}
# urow METRIC KEY: CPU microseconds per request (lower is better); targets as ratios.
urow() {
    local label=$1 key=$2 rn rh
    rn=$(ratio "${R[proxy.$key.us]:-}" "${R[nginx.$key.us]:-}")
    rh=$(ratio "${R[proxy.$key.us]:-}" "${R[haproxy.$key.us]:-}")
    row "$label" "$(us "proxy.$key")" "$(us "nginx.$key")" "$(us "haproxy.$key")" "$rn" "$rh" \
        "<= 0.85x nginx, <= 0.75x haproxy" "$(at_most "$rn" 0.85)/$(at_most "$rh" 0.75)"
}
urow "CPU us/request, 1 KiB, plain HTTP" small
urow "CPU us/request, 1 KiB, HTTPS" tls
row "  fixed-response floor: $(us floor.small) us/request" "$(ratio "${R[proxy.small.us]:-}" "${R[floor.small.us]:-}")" \
    "$(ratio "${R[nginx.small.us]:-}" "${R[floor.small.us]:-}")" "$(ratio "${R[haproxy.small.us]:-}" "${R[floor.small.us]:-}")" "-" "-" "(info: x floor)" "-"
prow "req/s, 1 KiB, plain HTTP" small.rps 1.2 1.0
prow "req/s, 1 KiB, HTTPS" tls.rps 0.9
prow "p99, 1 KiB, plain (ms, lower is better)" small.p99
prow "p99, 1 KiB, HTTPS (ms, lower is better)" tls.p99
prow "MB/s, 64 MiB body (wrk)" big.mbps
((HAVE_BULK)) && prow "MB/s, 64 MiB body (bulk.py, 1 MiB reads)" bulk.mbps
prow "req/s per busy proxy core, 1 KiB plain" small.eff
prow "req/s per busy proxy core, 1 KiB HTTPS" tls.eff
row "idle RSS, plain instance" "$(kib_to_mib "$(v proxy.idle_kb)")" "$(kib_to_mib "$(v nginx.idle_kb)")" "$(kib_to_mib "$(v haproxy.idle_kb)")" \
    "$(ratio "${R[proxy.idle_kb]:-}" "${R[nginx.idle_kb]:-}")" "$(ratio "${R[proxy.idle_kb]:-}" "${R[haproxy.idle_kb]:-}")" "proxy < 4 MiB" "$(below "$(v proxy.idle_kb)" 4096)"
row "idle RSS, TLS instance" "$(kib_to_mib "$(v proxy.idle_tls_kb)")" "(same process)" "(same process)" \
    "$(ratio "${R[proxy.idle_tls_kb]:-}" "${R[nginx.idle_tls_kb]:-}")" "$(ratio "${R[proxy.idle_tls_kb]:-}" "${R[haproxy.idle_tls_kb]:-}")" "proxy < 4 MiB" "$(below "$(v proxy.idle_tls_kb)" 4096)"
[[ -n $MUSL_IDLE ]] && row "idle RSS, musl build (as in the image), plain / TLS" "$(kib_to_mib "$MUSL_IDLE") / $(kib_to_mib "$MUSL_IDLE_TLS")" "-" "-" "-" "-" "proxy < 4 MiB" "$(below "$MUSL_IDLE" 4096)/$(below "$MUSL_IDLE_TLS" 4096)"
row "peak RSS (VmHWM), plain / TLS instance" "$(kib_to_mib "$(v proxy.peak_kb)") / $(kib_to_mib "$(v proxy.peak_tls_kb)")" "$(kib_to_mib "$(v nginx.peak_kb)")" "$(kib_to_mib "$(v haproxy.peak_kb)")" \
    "$(ratio "${R[proxy.peak_tls_kb]:-}" "${R[nginx.peak_kb]:-}")" "$(ratio "${R[proxy.peak_tls_kb]:-}" "${R[haproxy.peak_kb]:-}")" "(info)" "-"
row "image size" "$(bytes_h "$IMG_SIZE")" "n/a" "n/a" "-" "-" "proxy < 2.5 MiB" "$(below "$IMG_SIZE" 2621440)"
row "binary size (musl / glibc)" "$(bytes_h "$MUSL_SIZE") / $(bytes_h "$GNU_SIZE")" "$(bytes_h "$(stat -c %s "$(readlink -f "$NGINX")")") (+ libs)" "$(bytes_h "$(stat -c %s "$(readlink -f "$HAPROXY")")") (+ libs)" "-" "-" "(info)" "-"
for c in small tls bulk; do
    [[ $c == bulk ]] && ! ((HAVE_BULK)) && continue
    label="CPU % proxy / client / upstream / other, $c"
    cpus() { echo "$(v "$1.$c.cpu") / $(v "$1.$c.wrk") / $(v "$1.$c.known") / $(v "$1.$c.foreign")"; }
    row "$label" "$(cpus proxy)" "$(cpus nginx)" "$(cpus haproxy)" "-" "-" "(info)" "-"
done
row "TLS version/cipher negotiated" "$(v proxy.cipher)" "$(v nginx.cipher)" "$(v haproxy.cipher)" "-" "-" "(info)" "-"
row "response head bytes, plain / HTTPS" "$(v proxy.head) / $(v proxy.head_tls)" "$(v nginx.head) / $(v nginx.head_tls)" "$(v haproxy.head) / $(v haproxy.head_tls)" "-" "-" "(info)" "-"
errs() { echo $(( ${R[$1.small.errors]:-0} + ${R[$1.tls.errors]:-0} + ${R[$1.big.errors]:-0} + ${R[$1.bulk.errors]:-0} )); }
row "client errors (all measured runs)" "$( ((HAVE_PROXY)) && errs proxy || echo n/a)" "$(errs nginx)" "$(errs haproxy)" "-" "-" "0" \
    "$( ((HAVE_PROXY)) || { echo n/a; exit 0; }; (( $(errs proxy) == 0 )) && echo PASS || echo FAIL)"

echo
echo "proxy vs nginx $("$NGINX" -v 2>&1 | sed 's/.*nginx\///') vs haproxy $("$HAPROXY" -v | head -1 | cut -d' ' -f3) — 1 worker each on CPU $SERVER_CPU; upstream (static) and wrk share CPU $CLIENT_CPU"
echo "best of $RUNS runs (max req/s and MB/s, min p99); 1 KiB: $CONNS keep-alive connections x $DURATION; 64 MiB: $BIG_CONNS connections x $BIG_DURATION; MB = 10^6 bytes"
((HAVE_PROXY)) || echo "THE PROXY DID NOT BUILD: its column is n/a (see above)."
echo
print_table "$(printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s' metric proxy nginx haproxy "vs nginx" "vs haproxy" target result)"
echo
echo "notes:"
echo "  - nginx: upstream keepalive 128 (keepalive_requests 1000000), proxy_http_version 1.1, Connection \"\","
echo "    Host/X-Forwarded-For/-Proto/-Host set, proxy_buffering $PROXY_BUFFERING, proxy_max_temp_file_size 0, access_log off."
echo "  - haproxy: nbthread 1, mode http, http-reuse always, option forwardfor, X-Forwarded-Proto/-Host$( ((HAPROXY_SPLICE)) && echo ", option splice-response"), no logging."
echo "  - proxy: --workers 1 --log-format off; plain on a plain-only instance, HTTPS on a --cert instance (default HSTS)."
echo "  - RSS: proxy = the process; nginx = its worker (the master adds $(kib_to_mib "$(v nginx.master_kb)")); haproxy = its process."
echo "  - the measured proxy is the glibc build (cargo build --release); its RSS counts ~1.5-2 MiB of shared"
echo "    libc pages. The musl row is the static binary the image ships$( [[ -x $MUSL ]] && echo "$MUSL_STALE" || echo " (not built: scripts/build.sh proxy)")."
echo "  - image: $IMG_NOTE"
[[ -z $QUIET_WARNING ]] || echo "  - WARNING: $QUIET_WARNING."
noisy=0
for n in proxy nginx haproxy; do for c in small tls big bulk; do noisy=$((noisy + ${R[$n.$c.noisy]:-0})); done; done
((noisy == 0)) || echo "  - WARNING: (*) $noisy measured run(s) stayed disturbed by other processes (> ${NOISE_LIMIT}% of a core) after retries:
    the figures marked (*) are unreliable; 'req/s per busy proxy core' holds up better under contention."
echo "  - CPU %: of one core over the best run; client (wrk or bulk.py) and upstream share CPU $CLIENT_CPU;"
echo "    'other' = CPU on the two cores used by anything else on the machine. A proxy below ~90% was"
echo "    not the bottleneck (CPU $CLIENT_CPU was): compare 'req/s per busy proxy core' then."
exit 0
