#!/usr/bin/env bash
# One command to run the whole thing (step 3): sites A and B behind the HTTPS
# proxy, from a fresh Debian 12 / Ubuntu machine with Rust (rustup) installed.
#
#   scripts/up.sh          install what is missing (musl-tools, podman,
#                          podman-compose, openssl), build the binaries and
#                          images, make dev certificates, start compose.yaml,
#                          wait until it answers, print the URLs
#   scripts/up.sh down     stop and remove the containers and networks
#   scripts/up.sh status   show the containers and their health
#   scripts/up.sh logs     show the containers' logs
#
#   SKIP_SETUP=1   do not run scripts/setup.sh --minimal
#   ENGINE=...     podman or docker (default: podman when installed, else docker
#                  if its daemon answers; decided after setup)
#   COMPOSE=...    compose command (default: podman-compose, or "docker compose")
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO"

cmd=${1:-up}
project=$(basename "$REPO" | tr '[:upper:]' '[:lower:]' | tr -cd 'a-z0-9_-')

compose_log=$(mktemp)
trap 'rm -f "$compose_log"' EXIT
compose_quiet() { # runs $COMPOSE ARGS, showing its chatter only if it fails
    local rc
    $COMPOSE "$@" >"$compose_log" 2>&1 && rc=0 || rc=$?
    if ((rc != 0)); then grep -v 'systemd' "$compose_log" >&2; fi
    return $rc
}

project_containers() { "$ENGINE" ps -aq --filter "label=com.docker.compose.project=$project"; }

# Containers of the stack that will not answer: exited, dead, or still only created.
broken_containers() {
    "$ENGINE" ps -a --filter "label=com.docker.compose.project=$project" --format '{{.Names}} {{.State}}' |
        awk 'tolower($2) ~ /^(exited|dead|created)/ { print $1 }'
}

# Why the stack is not up: each container's state and last log lines, and what compose said
# about errors (podman-compose exits 0 when a container fails to start).
explain_failure() {
    local c
    printf '\ncontainers:\n' >&2
    "$ENGINE" ps -a --filter "label=com.docker.compose.project=$project" \
        --format '  {{.Names}}\t{{.State}}\t{{.Status}}' 2>/dev/null >&2 || true
    for c in $("$ENGINE" ps -a --filter "label=com.docker.compose.project=$project" --format '{{.Names}}' 2>/dev/null); do
        printf '\nlast log lines of %s:\n' "$c" >&2
        "$ENGINE" logs --tail 15 "$c" 2>&1 | grep -v systemd | sed 's/^/  /' >&2 || true
    done
    if grep -qiE 'error|denied|failed' "$compose_log"; then
        printf '\nerrors reported by %s up:\n' "$COMPOSE" >&2
        grep -iE 'error|denied|failed' "$compose_log" | grep -v systemd | tail -n 15 | sed 's/^/  /' >&2
    fi
    if [[ $ENGINE == podman ]] && grep -q 'rlimit' "$compose_log"; then
        printf '\nhint: this VM refuses podman'"'"'s default rlimits: use the project'"'"'s settings,\n  export CONTAINERS_CONF=%s\n(needs runc: scripts/setup.sh --minimal installs it)\n' "$REPO/scripts/containers.conf" >&2
    fi
}

down() {
    log "stopping ($COMPOSE down)"
    compose_quiet down || true
    # podman-compose 1.0 leaves the networks behind.
    if [[ $ENGINE == podman ]]; then
        podman network ls -q --filter "label=io.podman.compose.project=$project" 2>/dev/null |
            xargs -r podman network rm >/dev/null 2>&1 || true
    fi
}

# Run each container's HEALTHCHECK once now (podman runs them from systemd
# timers, which do not exist everywhere), so that status shows the result.
refresh_health() {
    [[ $ENGINE == podman ]] || return 0
    local c
    for c in $(podman ps -q --filter "label=com.docker.compose.project=$project"); do
        podman healthcheck run "$c" >/dev/null 2>&1 || true
    done
}

case $cmd in
    -h|--help) print_usage; exit 0 ;;
    up|down|status|logs) ;;
    *) die "unknown command: $cmd (try --help)" ;;
esac

t0=$(now)
if [[ $cmd == up && "${SKIP_SETUP:-0}" != 1 ]]; then
    bash scripts/setup.sh --minimal
fi
# After setup: it may just have installed podman and runc.
use_engine

case $cmd in
    down) down; exit 0 ;;
    status)
        refresh_health
        "$ENGINE" ps -a --filter "label=com.docker.compose.project=$project" \
            --format 'table {{.Names}}\t{{.Status}}\t{{.Ports}}'
        exit 0 ;;
    logs) exec $COMPOSE logs ;;
esac

log "container engine: $ENGINE ($COMPOSE)${CONTAINERS_CONF:+, CONTAINERS_CONF=${CONTAINERS_CONF#"$REPO"/}}"
bash scripts/build.sh --images
bash scripts/dev-cert.sh --quiet

# Ports 8080/8443 must be free, unless it is our own stack that holds them.
project_containers | grep -q . && down
for port in 8080 8443; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        die "port $port is in use by something else; stop it first"
    fi
done

log "starting ($COMPOSE up -d)"
compose_quiet up -d || die "$COMPOSE up failed"

log "waiting for https://localhost:8443/ ..."
# Up to 30 s; a container that exited or never started ends the wait after 5 s.
ok=0
for i in $(seq 1 100); do
    if curl -fs -o /dev/null -m 2 --cacert dev-certs/ca.pem https://localhost:8443/a/ &&
        curl -fs -o /dev/null -m 2 --cacert dev-certs/ca.pem https://localhost:8443/b/; then
        ok=1
        break
    fi
    if ((i >= 16)) && [[ -n $(broken_containers) ]]; then break; fi
    sleep 0.3
done
if ((!ok)); then
    explain_failure
    die "the stack did not come up (see above); stop it with: scripts/up.sh down"
fi

refresh_health

cat <<EOF

Up in $(since "$t0")s:
  https://localhost:8443/a/   Site A  (web-a: html/a)
  https://localhost:8443/b/   Site B  (web-b: html/b)
  http://localhost:8080/a/    redirects to https
  https://localhost:8443/healthz

The certificate is signed by a local dev CA: curl --cacert dev-certs/ca.pem ...,
or import dev-certs/ca.pem into your browser (scripts/dev-cert.sh --help).
Edit html/a or html/b and reload: the sites are mounted, no restart needed.

Status: scripts/up.sh status     Logs: scripts/up.sh logs ($COMPOSE logs)
Stop:   scripts/up.sh down       (or: $COMPOSE down)
EOF
