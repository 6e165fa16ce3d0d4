#!/usr/bin/env bash
# Compose suite (step 3 of the README): compose.yaml with podman-compose, as
# scripts/up.sh runs it: web-a and web-b behind the HTTPS proxy with the dev
# certificate. Checks with curl (trusting only dev-certs/ca.pem) and a real
# browser (headless Chromium, trusting only the leaf's key), saves screenshots
# to tests/out/, reloads the certificate with SIGHUP, and stops the stack,
# which must exit 0. Prints "compose: N passed, M failed".
set -uo pipefail
# shellcheck source=../../scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"
cd "$REPO" || exit 1
# These suites drive podman directly (with the project's containers.conf when runc is there).
ENGINE=podman use_engine

HTTPS=https://localhost:8443
HTTP=http://localhost:8080
CA=dev-certs/ca.pem
OUT=tests/out
project=$(basename "$REPO" | tr '[:upper:]' '[:lower:]' | tr -cd 'a-z0-9_-')
tmp=$(mktemp -d)
mkdir -p "$OUT"

quiet() { "$@" >"$tmp/last.log" 2>&1 || { grep -v systemd "$tmp/last.log" | tail -n 30 >&2; return 1; }; }
stack_down() {
    quiet $COMPOSE down -t 10 || true
    podman network ls -q --filter "label=io.podman.compose.project=$project" 2>/dev/null |
        xargs -r podman network rm >/dev/null 2>&1 || true
}
cleanup() {
    if [[ "${KEEP_STACK:-0}" != 1 ]]; then stack_down; fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ctr() { # SERVICE -> container name
    podman ps -a --filter "label=io.podman.compose.project=$project" \
        --filter "label=com.docker.compose.service=$1" --format '{{.Names}}' | head -n1
}
get() { curl -sS -m 5 --cacert "$CA" "$@"; }
body_has() { # URL TEXT
    local body
    body=$(get "$1") || return 1
    grep -qF -- "$2" <<<"$body" || { echo "no '$2' in the answer of $1:"; head -c 600 <<<"$body"; return 1; }
}
healthy() {
    local c out st
    c=$(ctr "$1")
    [[ -n $c ]] || { echo "no container for $1"; return 1; }
    out=$(podman healthcheck run "$c" 2>&1) || { echo "healthcheck run:"; grep -v systemd <<<"$out"; return 1; }
    st=$(podman inspect "$c" --format '{{.State.Health.Status}}')
    [[ $st == healthy ]] || { echo "$c: $st"; return 1; }
}
served_fingerprint() {
    openssl s_client -connect localhost:8443 -servername localhost </dev/null 2>/dev/null |
        openssl x509 -noout -fingerprint -sha256
}
file_fingerprint() { openssl x509 -in dev-certs/cert.pem -noout -fingerprint -sha256; }

echo "--- build binaries + images, dev certificate"
t0=$(now)
if ! bash scripts/build.sh --images; then
    fail "build binaries + images"; summary compose; exit 1
fi
pass "build binaries + images ($(since "$t0")s)"
check "dev certificate" bash scripts/dev-cert.sh --quiet

echo "--- $COMPOSE up -d"
stack_down
for port in 8080 8443; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        fail "port $port is free" "" "something else listens on $port: $(ss -ltnp "sport = :$port" 2>/dev/null | tail -n +2)"
        summary compose; exit 1
    fi
done
t0=$(now)
if quiet $COMPOSE up -d; then pass "$COMPOSE up -d"; else fail "$COMPOSE up -d"; fi
up_ok=0
for _ in $(seq 1 100); do
    if get -f -o /dev/null "$HTTPS/a/" 2>/dev/null && get -f -o /dev/null "$HTTPS/b/" 2>/dev/null; then up_ok=1; break; fi
    sleep 0.3
done
if ((up_ok)); then pass "stack answers on $HTTPS ($(since "$t0")s)"; else
    fail "stack answers on $HTTPS" "" "$(for s in web-a web-b proxy; do echo "== $s"; podman logs --tail 15 "$(ctr $s)" 2>&1; done)"
fi
for s in web-a web-b proxy; do check "$s: HEALTHCHECK healthy" healthy "$s"; done

echo "--- curl, trusting only $CA"
check "https /a/ is Site A" body_has "$HTTPS/a/" "<title>Site A</title>"
check "https /b/ is Site B" body_has "$HTTPS/b/" "<title>Site B</title>"
check "https /a/about.html" body_has "$HTTPS/a/about.html" "About Site A"
check "https /b/style.css is text/css" bash -c "curl -fsS -m 5 --cacert $CA -D - -o /dev/null $HTTPS/b/style.css | grep -qi '^content-type: text/css'"
check "https /a/favicon.svg is image/svg+xml" bash -c "curl -fsS -m 5 --cacert $CA -D - -o /dev/null $HTTPS/a/favicon.svg | grep -qi '^content-type: image/svg+xml'"
check "https / is the proxy's page, listing /a/ and /b/" bash -c "
    code=\$(curl -sS -m 5 --cacert $CA -o '$tmp/root' -w '%{http_code}' $HTTPS/)
    echo \"status \$code\"; head -c 400 '$tmp/root'
    [[ \$code == 200 ]] && grep -q 'href=\"/a/\"' '$tmp/root' && grep -q 'href=\"/b/\"' '$tmp/root' &&
    ! grep -q 'Site [AB]</title>' '$tmp/root'"
check "https /a (no slash) redirects to /a/" bash -c "
    out=\$(curl -sS -m 5 --cacert $CA -o /dev/null -w '%{http_code} %{redirect_url}' $HTTPS/a); echo \"\$out\"
    [[ \$out =~ ^30[1278]\ $HTTPS/a/$ ]]"
check "https /healthz is 200" bash -c "[[ \$(curl -sS -m 5 --cacert $CA -o /dev/null -w '%{http_code}' $HTTPS/healthz) == 200 ]]"
check "https /c/ (no route) is 404" bash -c "[[ \$(curl -sS -m 5 --cacert $CA -o /dev/null -w '%{http_code}' $HTTPS/c/) == 404 ]]"
check "http :8080/a/ redirects to $HTTPS/a/" bash -c "
    out=\$(curl -sS -m 5 -o /dev/null -w '%{http_code} %{redirect_url}' $HTTP/a/); echo \"\$out\"
    [[ \$out =~ ^30[18]\ $HTTPS/a/$ ]]"
check "http :8080/healthz is answered, not redirected" bash -c "[[ \$(curl -sS -m 5 -o /dev/null -w '%{http_code}' $HTTP/healthz) == 200 ]]"
check "TLS: without the CA, curl refuses" bash -c "! curl -sS -m 5 -o /dev/null $HTTPS/a/ 2>/dev/null"
check "TLS: the proxy serves dev-certs/cert.pem" bash -c "[[ \"\$(openssl s_client -connect localhost:8443 -servername localhost </dev/null 2>/dev/null | openssl x509 -noout -fingerprint -sha256)\" == \"\$(openssl x509 -in dev-certs/cert.pem -noout -fingerprint -sha256)\" ]]"
check "TLS 1.3 and TLS 1.2 handshakes" bash -c "
    openssl s_client -connect localhost:8443 -servername localhost -tls1_3 -CAfile $CA -verify_return_error </dev/null >/dev/null 2>&1 &&
    openssl s_client -connect localhost:8443 -servername localhost -tls1_2 -CAfile $CA -verify_return_error </dev/null >/dev/null 2>&1"

echo "--- the containers"
check "only the proxy publishes ports" bash -c "
    [[ -z \$(podman port $(ctr web-a)) && -z \$(podman port $(ctr web-b)) && -n \$(podman port $(ctr proxy)) ]]"
for s in web-a web-b proxy; do
    check "$s: read-only, non-root, restart unless-stopped" bash -c "
        c=$(ctr $s)
        v=\$(podman inspect \$c --format '{{.HostConfig.ReadonlyRootfs}} {{.Config.User}} {{.HostConfig.RestartPolicy.Name}}')
        echo \"\$v\"; [[ \$v == 'true 65532:65532 unless-stopped' ]]"
done

echo "--- compression through the proxy"
gzip_page() { # PATH FILE: gzip-encoded, and it inflates to the file
    local hdr
    hdr=$(get -o "$tmp/page.gz" -D - -H 'Accept-Encoding: gzip' "$HTTPS$1") || return 1
    grep -qi '^content-encoding: gzip' <<<"$hdr" || { echo "$hdr"; return 1; }
    gzip -dc "$tmp/page.gz" | cmp - "$2"
}
check "https /a/ comes gzip-encoded and inflates to html/a/index.html" gzip_page /a/ html/a/index.html
check "https /b/style.css comes gzip-encoded" gzip_page /b/style.css html/b/style.css

echo "--- HTTP/2 on the HTTPS listener (ALPN h2 preferred, http/1.1 still offered)"
proto_is() { # WANT CURL_ARGS... : the response came over HTTP/WANT with a 200
    local want=$1 got
    shift
    got=$(get -o /dev/null -w '%{http_version} %{http_code}' "$@") || return 1
    echo "$got"
    [[ $got == "$want 200" ]]
}
check "curl --http2 /a/ speaks HTTP/2" proto_is 2 --http2 "$HTTPS/a/"
check "curl --http2 /b/style.css speaks HTTP/2" proto_is 2 --http2 "$HTTPS/b/style.css"
check "curl --http1.1 still gets HTTP/1.1" proto_is 1.1 --http1.1 "$HTTPS/a/"
if have nghttp && have h2load; then
    nghttp_pages() { # both sites' pages and a stylesheet on one connection, each a 200
        local out
        out=$(timeout 20 nghttp -ns "$HTTPS/a/" "$HTTPS/b/" "$HTTPS/b/style.css" 2>&1) || { echo "$out"; return 1; }
        echo "$out" | tail -4
        [[ $(grep -cE '^ +[0-9]+ +\+.* 200 ' <<<"$out") == 3 ]]
    }
    check "nghttp: /a/, /b/ and a stylesheet on one connection, all 200" nghttp_pages
    h2load_run() { # 2,000 requests, 8 connections x 10 streams, all 2xx over h2
        local out
        out=$(timeout 60 h2load -n 2000 -c 8 -m 10 "$HTTPS/a/" 2>&1) || { echo "$out"; return 1; }
        grep -E '^(requests|status codes|Application protocol)' <<<"$out"
        grep -q '^Application protocol: h2' <<<"$out" && grep -q '2000 succeeded' <<<"$out" &&
            grep -q 'status codes: 2000 2xx' <<<"$out"
    }
    check "h2load: 2,000 requests over 8 h2 connections, all 2xx" h2load_run
else
    fail "nghttp and h2load are installed (scripts/setup.sh installs nghttp2-client)"
fi
check "the proxy's access log names HTTP/2.0" bash -c "podman logs $(ctr proxy) 2>&1 | grep -q '\"GET /a/ HTTP/2.0\" 200'"

echo "--- headless Chromium, trusting only the leaf's key (SPKI pin)"
if have chromium; then
    spki=$(openssl x509 -in dev-certs/cert.pem -noout -pubkey | openssl pkey -pubin -outform der |
        openssl dgst -sha256 -binary | openssl base64 -A)
    chrome() { # ARGS...: headless Chromium with a fresh profile
        local prof rc
        prof=$(mktemp -d)
        timeout 90 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
            --disable-background-networking --disable-component-update --disable-sync \
            --user-data-dir="$prof" --hide-scrollbars "$@" 2>>"$tmp/chromium.log"
        rc=$?
        rm -rf "$prof"
        return $rc
    }
    chrome_title() { # PATH TITLE [ARGS...]: the rendered DOM has <title>TITLE</title>
        local path=$1 want="<title>$2</title>" dom
        shift 2
        dom=$(chrome "$@" --dump-dom "$HTTPS$path")
        grep -qF -- "$want" <<<"$dom" || { echo "rendered DOM:"; head -c 600 <<<"$dom"; return 1; }
    }
    for site in a b; do
        check "chromium: $HTTPS/$site/ renders, title Site ${site^^}" \
            chrome_title "/$site/" "Site ${site^^}" --ignore-certificate-errors-spki-list="$spki"
        rm -f "$OUT/$site.png"
        chrome --ignore-certificate-errors-spki-list="$spki" --window-size=1280,800 \
            --screenshot="$REPO/$OUT/$site.png" "$HTTPS/$site/" >/dev/null
        check "chromium: screenshot $OUT/$site.png" test -s "$OUT/$site.png"
    done
    chrome --ignore-certificate-errors-spki-list="$spki" --window-size=1280,800 \
        --screenshot="$REPO/$OUT/a-about.png" "$HTTPS/a/about.html" >/dev/null
    # The page Chromium rendered came gzip-encoded (made by web-a, passed through the proxy):
    # its net log holds the response headers it received.
    chrome_gzip() {
        local log=$tmp/netlog.json
        rm -f "$log"
        chrome_title /a/ "Site A" --ignore-certificate-errors-spki-list="$spki" \
            --log-net-log="$log" --net-log-capture-mode=Everything || return 1
        grep -qi '"content-encoding: gzip"' "$log" || { echo "no gzip response in the net log"; return 1; }
        grep -q '"negotiated_protocol":"h2"' "$log" || { echo "the net log shows no h2 connection"; return 1; }
    }
    check "chromium: renders /a/ over HTTP/2, received gzip-encoded" chrome_gzip
    chrome_refuses() { ! chrome_title /a/ "Site A" >/dev/null; }
    check "chromium: without the pin, the certificate is refused" chrome_refuses
else
    fail "chromium is installed (scripts/setup.sh installs it)"
fi

echo "--- certificate reload on SIGHUP"
before=$(served_fingerprint)
if quiet bash scripts/dev-cert.sh --force --quiet && podman kill --signal HUP "$(ctr proxy)" >/dev/null 2>&1; then
    reloaded=0
    for _ in $(seq 1 30); do
        [[ "$(served_fingerprint)" == "$(file_fingerprint)" && "$(served_fingerprint)" != "$before" ]] && { reloaded=1; break; }
        sleep 0.2
    done
    if ((reloaded)); then pass "SIGHUP: the proxy serves the new certificate"; else
        fail "SIGHUP: the proxy serves the new certificate" "" "served: $(served_fingerprint); file: $(file_fingerprint)"; fi
    check "SIGHUP: https /a/ still works" body_has "$HTTPS/a/" "<title>Site A</title>"
else
    fail "SIGHUP: new certificate + podman kill --signal HUP"
fi

echo "--- $COMPOSE stop: every container exits 0, quickly"
names=$(for s in proxy web-a web-b; do ctr "$s"; done)
t0=$(now)
quiet $COMPOSE stop -t 10
dt=$(since "$t0")
for c in $names; do
    check "$c exited 0" bash -c "
        st=\$(podman inspect $c --format '{{.State.Status}} {{.State.ExitCode}}'); echo \"\$st\"
        [[ \$st == 'exited 0' ]] || { podman logs --tail 10 $c 2>&1; exit 1; }"
done
check "stop took < 10 s (${dt}s: no SIGKILL)" awk -v d="$dt" 'BEGIN { exit !(d < 10) }'
stack_down
check "$COMPOSE down removed the containers" bash -c "[[ -z \$(podman ps -aq --filter label=io.podman.compose.project=$project) ]]"


# The README's first command as a newcomer meets it: a leftover docker client without a daemon
# first on the PATH, and nothing decided beforehand (no ENGINE, COMPOSE or CONTAINERS_CONF).
# scripts/up.sh must ignore that docker, bring the stack up on podman, and never run docker
# for anything but asking whether its daemon answers.
echo "--- scripts/up.sh with a daemonless docker client first on the PATH"
fake="$tmp/fake-docker"
mkdir -p "$fake"
cat >"$fake/docker" <<EOF
#!/bin/sh
echo "\$*" >>"$tmp/docker-calls"
echo "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?" >&2
exit 1
EOF
chmod +x "$fake/docker"
# With podman absent, that docker client must be refused with the reason, not used.
only="$tmp/only-docker"
mkdir -p "$only"
ln -sf "$fake/docker" "$only/docker"
ln -sf "$(command -v dirname)" "$only/dirname"
engine_choice() { env -i HOME="$HOME" PATH="$only" NO_COLOR=1 "$(command -v bash)" -c "source scripts/lib.sh; $1 use_engine; echo \"chose \$ENGINE\"" 2>&1; }
check "no podman, daemonless docker: refused, saying why" bash -c "
    out=\$($(declare -f engine_choice); only='$only'; engine_choice '') && { echo \"\$out\"; exit 1; }
    echo \"\$out\"; grep -q 'daemon does not answer' <<<\"\$out\""
check "ENGINE=docker with no daemon: refused, saying why" bash -c "
    out=\$($(declare -f engine_choice); only='$only'; engine_choice ENGINE=docker) && { echo \"\$out\"; exit 1; }
    echo \"\$out\"; grep -q 'daemon does not answer' <<<\"\$out\""
newcomer() { env -u ENGINE -u COMPOSE -u CONTAINERS_CONF PATH="$fake:$PATH" NO_COLOR=1 bash scripts/up.sh "$@"; }
t0=$(now)
if newcomer >"$tmp/up.log" 2>&1; then
    pass "scripts/up.sh brought the stack up ($(since "$t0")s)"
else
    fail "scripts/up.sh brought the stack up" "" "$(tail -n 40 "$tmp/up.log")"
fi
check "the fake docker is first on the PATH" bash -c "[[ \$(PATH='$fake':\$PATH command -v docker) == '$fake/docker' ]]"
check "it chose podman" grep -q 'container engine: podman' "$tmp/up.log"
check "https://localhost:8443/a/ and /b/ answer" bash -c "
    curl -fsS -m 5 --cacert $CA -o /dev/null $HTTPS/a/ && curl -fsS -m 5 --cacert $CA -o /dev/null $HTTPS/b/"
check "the three containers run on podman" bash -c "
    n=\$(podman ps --filter label=io.podman.compose.project=$project --filter status=running -q | wc -l); echo \"running: \$n\"; ((n == 3))"
check "docker was only asked whether its daemon answers" bash -c "
    [[ ! -s $tmp/docker-calls ]] || { cat $tmp/docker-calls; ! grep -qv '^info' $tmp/docker-calls; }"
newcomer down >"$tmp/down.log" 2>&1
check "scripts/up.sh down removed the containers" bash -c "[[ -z \$(podman ps -aq --filter label=io.podman.compose.project=$project) ]]"

summary compose
