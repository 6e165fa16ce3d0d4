#!/usr/bin/env bash
# Container suite: builds the musl binaries and the static/proxy images, then
# runs them with podman the way a user would (step 1 and 2 of the README):
#   - the baked image serves the landing page (html/ in the image)
#   - the same image with html/a and a copy of html/b mounted read-only serves
#     Site A / Site B, and picks up a changed file without a restart
#   - HEALTHCHECK, image size, non-root user, read-only root fs, quick clean
#     stop with exit code 0 on SIGTERM
#   - the proxy image: size, and routing to a static container by name
#   - arm64: cross-built binaries run under qemu-user (a page, gzip, a proxied
#     route), linux/arm64 images and the multi-arch manifest lists
# Prints "container: N passed, M failed".
set -uo pipefail
# shellcheck source=../../scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"
cd "$REPO" || exit 1
# These suites drive podman directly (with the project's containers.conf when runc is there).
ENGINE=podman use_engine

STATIC_MAX=$((1024 * 1024))          # < 1 MiB
PROXY_MAX=$((5 * 1024 * 1024 / 2))   # < 2.5 MiB
STOP_MAX=5                           # seconds; podman's SIGKILL comes after 10
tag="frontline-ct-$$"
containers=()
networks=()
arm_pids=()
tmp=$(mktemp -d)
tmp_arm=$tmp
version=$(workspace_version)

cleanup() {
    local c n p
    for p in "${arm_pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    for c in "${containers[@]}"; do podman rm -f -t 0 "$c" >/dev/null 2>&1; done
    for n in "${networks[@]}"; do podman network rm -f "$n" >/dev/null 2>&1; done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# podman logs harmless "unable to get systemd connection" errors for healthcheck
# timers where systemd is not PID 1; keep them out of the output.
pm() { podman "$@" 2> >(grep -v -e 'systemd' -e 'connect to syslog' >&2); }

# run_ctr NAME ARGS...: podman run -d with our name; remembered for cleanup.
run_ctr() {
    local name=$1
    shift
    containers+=("$name")
    pm run -d --name "$name" "$@" >/dev/null
}

http_get() { curl -sS -m 5 "$@"; }
body_has() { # URL TEXT
    local body
    body=$(http_get "$1") || return 1
    grep -qF -- "$2" <<<"$body" || { echo "no '$2' in the answer of $1:"; head -c 600 <<<"$body"; return 1; }
}
status_is() { # URL CODE
    local code
    code=$(http_get -o /dev/null -w '%{http_code}' "$1")
    [[ $code == "$2" ]] || { echo "$1 answered $code, expected $2"; return 1; }
}
header_has() { # URL REGEX
    local h
    h=$(http_get -o /dev/null -D - "$1") || return 1
    grep -qiE -- "$2" <<<"$h" || { echo "no header matching '$2' from $1:"; echo "$h"; return 1; }
}
image_size_below() { # IMAGE MAX
    local size
    size=$(podman image inspect "$1" --format '{{.Size}}') || return 1
    echo "$1: $size bytes ($(human "$size"))"
    ((size < $2)) || { echo "too big: $size >= $2"; return 1; }
}
runs_as_non_root() { # CONTAINER
    local user pid uid
    user=$(podman inspect "$1" --format '{{.Config.User}}')
    [[ $user == 65532:65532 ]] || { echo "configured user is '$user'"; return 1; }
    pid=$(podman inspect "$1" --format '{{.State.Pid}}')
    uid=$(awk '/^Uid:/ { print $2 }' "/proc/$pid/status")
    [[ $uid == 65532 ]] || { echo "process runs as uid $uid"; return 1; }
}
healthy() { # CONTAINER
    local out st
    out=$(pm healthcheck run "$1" 2>&1) || { echo "healthcheck run: $out"; return 1; }
    st=$(podman inspect "$1" --format '{{.State.Health.Status}}' 2>/dev/null ||
        podman inspect "$1" --format '{{.State.Healthcheck.Status}}')
    [[ $st == healthy ]] || { echo "health status: $st"; return 1; }
}
stops_cleanly() { # CONTAINER
    local t0 dt code
    [[ "$(podman inspect "$1" --format '{{.State.Running}}')" == true ]] ||
        { echo "$1 is not running (exited before the stop)"; podman logs --tail 20 "$1" 2>&1; return 1; }
    t0=$(now)
    pm stop -t 10 "$1" >/dev/null || return 1
    dt=$(since "$t0")
    code=$(podman inspect "$1" --format '{{.State.ExitCode}}')
    echo "stopped in ${dt}s, exit code $code"
    [[ $code == 0 ]] || { echo "exit code $code (expected 0 after SIGTERM)"; podman logs --tail 20 "$1"; return 1; }
    awk -v d="$dt" -v m="$STOP_MAX" 'BEGIN { exit !(d < m) }' || { echo "too slow: ${dt}s (SIGKILL fallback?)"; return 1; }
}
logs_have() { # CONTAINER TEXT
    local out
    out=$(podman logs "$1" 2>&1)
    grep -qF -- "$2" <<<"$out" || { echo "no '$2' in the logs:"; tail -n 10 <<<"$out"; return 1; }
}

echo "--- building the static binary and image"
t_build=$(now)
if ! bash scripts/build.sh --images static; then
    fail "build static binary + image"
    summary container
    exit 1
fi
pass "build static binary + image ($(since "$t_build")s)"

bin="$MUSL_RELEASE_DIR/static"
check "static binary is statically linked" is_static_elf "$bin"
check "static --version" bash -c "'$bin' --version | grep -q '^static '"
echo "    $("$bin" --version 2>&1 | head -n1), $(human "$(stat -c %s "$bin")")"
check "static image < 1 MiB" image_size_below static:latest "$STATIC_MAX"
echo "    static image: $(human "$(podman image inspect static:latest --format '{{.Size}}')")"
check "static image: user 65532, entrypoint /static, HEALTHCHECK" bash -c '
    cfg=$(podman image inspect static:latest --format "{{.Config.User}}|{{json .Config.Entrypoint}}|{{json .HealthCheck}}")
    echo "$cfg"
    [[ $cfg == "65532:65532|[\"/static\"]|"*"/static"*"health"* ]]'
check "static image: OCI labels" bash -c '
    l=$(podman image inspect static:latest --format "{{json .Labels}}")
    for k in title description source licenses version; do
        grep -q "\"org.opencontainers.image.$k\"" <<<"$l" || { echo "missing $k: $l"; exit 1; }
    done
    grep -q "Apache-2.0" <<<"$l"'

# --- step 1: the baked image ------------------------------------------------------
echo "--- the baked image: podman run -p PORT:8080 static"
p0=$(free_port)
run_ctr "$tag-baked" --read-only --cap-drop ALL -p "127.0.0.1:$p0:8080" static:latest
if wait_for_http "http://127.0.0.1:$p0/" 20; then pass "baked image answers on :$p0"; else
    fail "baked image answers on :$p0" "" "$(podman logs "$tag-baked" 2>&1 | tail -n 20)"; fi
check "baked: / is the landing page" body_has "http://127.0.0.1:$p0/" "Tiny, fast, <span>hardened</span>"
check "baked: /style.css is text/css" header_has "http://127.0.0.1:$p0/style.css" '^content-type: text/css'
check "baked: /a/ is Site A" body_has "http://127.0.0.1:$p0/a/" "<title>Site A</title>"
check "baked: /b/about.html is Site B's" body_has "http://127.0.0.1:$p0/b/about.html" "About — Site B"
check "baked: /robots.txt" body_has "http://127.0.0.1:$p0/robots.txt" "User-agent: *"
check "baked: missing file is 404" status_is "http://127.0.0.1:$p0/no-such-page" 404
check "baked: ../ cannot escape /html" bash -c "
    code=\$(curl -sS -m 5 --path-as-is -o '$tmp/trav' -w '%{http_code}' 'http://127.0.0.1:$p0/../../etc/passwd')
    echo \"status \$code\"; [[ \$code =~ ^(400|403|404)$ ]] && ! grep -q 'root:' '$tmp/trav'"
check "baked: access log on stdout" logs_have "$tag-baked" "GET /a/"
check "baked: HEALTHCHECK healthy" healthy "$tag-baked"
check "baked: runs as 65532, not root" runs_as_non_root "$tag-baked"
check "baked: 'static health' fails for a dead URL" bash -c "! podman exec $tag-baked /static health http://127.0.0.1:1/ 2>/dev/null"
check "baked: SIGTERM stop is quick, exit 0" stops_cleanly "$tag-baked"

# --- step 2: one image, two mounted sites -----------------------------------------
echo "--- one image, two sites: -v html/a:/html:ro,Z and -v <copy of html/b>:/html:ro,Z"
cp -a html/b "$tmp/b"
pa=$(free_port)
pb=$(free_port)
while [[ $pb == "$pa" ]]; do pb=$(free_port); done
run_ctr "$tag-a" --read-only --cap-drop ALL -p "127.0.0.1:$pa:8080" -v "$REPO/html/a:/html:ro,Z" static:latest
run_ctr "$tag-b" --read-only --cap-drop ALL -p "127.0.0.1:$pb:8080" -v "$tmp/b:/html:ro,Z" static:latest
for c in "$tag-a:$pa" "$tag-b:$pb"; do
    if wait_for_http "http://127.0.0.1:${c#*:}/" 20; then pass "${c%%:*} answers on :${c#*:}"; else
        fail "${c%%:*} answers on :${c#*:}" "" "$(podman logs "${c%%:*}" 2>&1 | tail -n 20)"; fi
done
check "site A at / on :$pa" body_has "http://127.0.0.1:$pa/" "<title>Site A</title>"
check "site B at / on :$pb" body_has "http://127.0.0.1:$pb/" "<title>Site B</title>"
check "site A: about.html, style.css, favicon.svg" bash -c "
    curl -fsS -m 5 -o /dev/null http://127.0.0.1:$pa/about.html &&
    curl -fsS -m 5 -o /dev/null http://127.0.0.1:$pa/style.css &&
    curl -fsS -m 5 -D - -o /dev/null http://127.0.0.1:$pa/favicon.svg | grep -qi '^content-type: image/svg+xml'"
check "site B does not serve site A" bash -c "! curl -fsS -m 5 http://127.0.0.1:$pb/ | grep -q 'Site A</title>'"
sed -i 's|<h1>This is <em>Site B</em>.</h1>|<h1>This is <em>Site B</em>, changed live.</h1>|' "$tmp/b/index.html"
check "a changed file is served without a restart" body_has "http://127.0.0.1:$pb/" "changed live"
echo "new page $$" >"$tmp/b/new.html"
check "a new file is served without a restart" body_has "http://127.0.0.1:$pb/new.html" "new page $$"
check "site A: HEALTHCHECK healthy" healthy "$tag-a"
check "site B: HEALTHCHECK healthy" healthy "$tag-b"
check "site A: runs as 65532, not root" runs_as_non_root "$tag-a"
check "site A: SIGTERM stop is quick, exit 0" stops_cleanly "$tag-a"
check "site B: SIGTERM stop is quick, exit 0" stops_cleanly "$tag-b"

# --- the proxy image --------------------------------------------------------------
echo "--- the proxy binary and image"
t_build=$(now)
if bash scripts/build.sh --images proxy; then
    pass "build proxy binary + image ($(since "$t_build")s)"
    pbin="$MUSL_RELEASE_DIR/proxy"
    check "proxy binary is statically linked" is_static_elf "$pbin"
    check "proxy --version" bash -c "'$pbin' --version | grep -q '^proxy '"
    check "proxy image < 2.5 MiB" image_size_below proxy:latest "$PROXY_MAX"
    echo "    proxy image: $(human "$(podman image inspect proxy:latest --format '{{.Size}}')")"
    check "proxy image: user 65532, entrypoint /proxy, HEALTHCHECK" bash -c '
        cfg=$(podman image inspect proxy:latest --format "{{.Config.User}}|{{json .Config.Entrypoint}}|{{json .HealthCheck}}")
        echo "$cfg"
        [[ $cfg == "65532:65532|[\"/proxy\"]|"*"/proxy"*"health"* ]]'

    echo "--- proxy -> static on a podman network (plain HTTP)"
    net="$tag-net"
    networks+=("$net")
    pm network create "$net" >/dev/null
    run_ctr "$tag-web" --read-only --cap-drop ALL --network "$net" --network-alias web static:latest
    pp=$(free_port)
    run_ctr "$tag-proxy" --read-only --cap-drop ALL --network "$net" -p "127.0.0.1:$pp:8080" \
        -e PROXY_ROUTES="/s=http://web:8080" proxy:latest
    if wait_for_http "http://127.0.0.1:$pp/healthz" 20; then pass "proxy container answers on :$pp"; else
        fail "proxy container answers on :$pp" "" "$(podman logs "$tag-proxy" 2>&1 | tail -n 20)"; fi
    check "proxy: /healthz is 200" status_is "http://127.0.0.1:$pp/healthz" 200
    # Right after a container joins a network, aardvark-dns may not answer for
    # its name yet (the proxy then answers 502 once): allow a few seconds.
    for _ in $(seq 1 50); do
        [[ $(curl -s -o /dev/null -m 2 -w '%{http_code}' "http://127.0.0.1:$pp/s/") == 200 ]] && break
        sleep 0.2
    done
    check "proxy: /s/ reaches the static container" body_has "http://127.0.0.1:$pp/s/" "Tiny, fast, <span>hardened</span>"
    check "proxy: /s/a/ reaches Site A in it" body_has "http://127.0.0.1:$pp/s/a/" "<title>Site A</title>"
    check "proxy: HEALTHCHECK healthy" healthy "$tag-proxy"
    check "proxy: runs as 65532, not root" runs_as_non_root "$tag-proxy"
    check "proxy: SIGTERM stop is quick, exit 0" stops_cleanly "$tag-proxy"
    check "static behind it: SIGTERM stop is quick, exit 0" stops_cleanly "$tag-web"
else
    fail "build proxy binary + image"
fi


# --- arm64 (Graviton) ---------------------------------------------------------------
# Cross-built with Debian's aarch64 compiler, run here under qemu-user; the images are
# FROM scratch with a COPY only, so building them for linux/arm64 needs no emulation.
echo "--- arm64: binaries under qemu-user, images, manifest list"
t_build=$(now)
if bash scripts/build.sh --images --arch all; then
    pass "build amd64 + arm64 binaries and images ($(since "$t_build")s)"
    abin=$REPO/target/aarch64-unknown-linux-musl/release
    check "arm64 binaries are static AArch64 ELF files" bash -c "
        for b in static proxy; do
            is_static=\$(readelf -lW '$abin/'\$b | grep -c INTERP); machine=\$(readelf -h '$abin/'\$b | grep Machine)
            echo \"\$b: \$machine\"; [[ \$is_static == 0 && \$machine == *AArch64* ]] || exit 1
        done"
    if have qemu-aarch64; then
        sp=$(free_port)
        qemu-aarch64 "$abin/static" --listen "127.0.0.1:$sp" --root html --workers 1 --log-format off \
            >"$tmp_arm/static.log" 2>&1 &
        arm_pids+=($!)
        pp=$(free_port)
        qemu-aarch64 "$abin/proxy" --listen "127.0.0.1:$pp" --route "/s=http://127.0.0.1:$sp" \
            --workers 1 --log-format off >"$tmp_arm/proxy.log" 2>&1 &
        arm_pids+=($!)
        wait_for_http "http://127.0.0.1:$sp/" 20 || true
        wait_for_http "http://127.0.0.1:$pp/healthz" 20 || true
        check "arm64 static under qemu serves Site A" body_has "http://127.0.0.1:$sp/a/" "<title>Site A</title>"
        check "arm64 static under qemu compresses" bash -c "
            curl -fsS -H 'Accept-Encoding: gzip' -D - -o /dev/null http://127.0.0.1:$sp/ | grep -qi '^content-encoding: gzip'"
        check "arm64 proxy under qemu routes to it" body_has "http://127.0.0.1:$pp/s/b/" "<title>Site B</title>"
    else
        fail "qemu-aarch64 is installed (scripts/setup.sh installs qemu-user)"
    fi
    for img in static proxy; do
        check "$img:$version-arm64 is a linux/arm64 image" bash -c "
            [[ \$(podman image inspect $img:$version-arm64 --format '{{.Os}}/{{.Architecture}}') == linux/arm64 ]]"
        check "$img:$version-multiarch lists amd64 and arm64" bash -c "
            archs=\$(podman manifest inspect $img:$version-multiarch | grep -o '\"architecture\": *\"[a-z0-9]*\"' | sort | tr -d ' \n')
            echo \"\$archs\"; [[ \$archs == '\"architecture\":\"amd64\"\"architecture\":\"arm64\"' ]]"
    done
    check "static arm64 image < 1 MiB" image_size_below "static:$version-arm64" "$STATIC_MAX"
    check "proxy arm64 image < 2.5 MiB" image_size_below "proxy:$version-arm64" "$PROXY_MAX"
else
    fail "build amd64 + arm64 binaries and images"
fi

summary container
