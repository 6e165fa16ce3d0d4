# Shared helpers of the reliability scripts in tests/adversarial/ (slow.sh, exhaustion.sh,
# shutdown.sh, upstream_faults.sh, memory.sh, tls_scan.sh). Source it, then call adv_init.
# shellcheck shell=bash
#
# Conventions
# - Built on scripts/lib.sh (output, checks, spawn/stop_pid/cleanup_spawned, free_port). Every
#   process is started through `spawn` (or a start_* wrapper) and stopped by the EXIT trap
#   (TERM, then KILL after 3 s). Only those pids are ever signalled.
# - Everything listens on and connects to loopback addresses only; every load is bounded by a
#   count or a duration and by `timeout`.
# - `ulimit` changes happen only inside the subshell that execs the server (`spawn_limited`).
# - Each check prints one line "  ok   name: figures" or "  FAIL name: figures"; the script
#   ends with "NAME: N passed, M failed" and exits non-zero when anything failed.
# - ADV_MODE=fast|full (run.sh sets it; `--full` on a script's command line does too). Fast is
#   the CI size, full the size the issue asks for; both run every check for real.
# - Figures also go to $ADV_REPORT (a file run.sh collects into RESULTS.md) when it is set.

ADV_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../../scripts/lib.sh
source "$ADV_DIR/../../scripts/lib.sh"
ADV_PY="python3 $ADV_DIR/helpers/adv.py"
ADV_MODE=${ADV_MODE:-fast}
ADV_BIN=${ADV_BIN:-${CARGO_TARGET_DIR:-$REPO/target}/release}
ADV_TMP=""
ADV_NAME=""

full() { [[ $ADV_MODE == full ]]; }

adv_summary() { summary "$ADV_NAME"; }

adv_cleanup() {
    cleanup_spawned
    if [[ -n $ADV_TMP && -d $ADV_TMP && ${KEEP_TMP:-0} != 1 ]]; then rm -rf "$ADV_TMP"; fi
}

# adv_init NAME "$@": parses --full/--fast, makes the scratch directory, sets the traps and
# checks that the tools and binaries are there.
adv_init() {
    ADV_NAME=$1
    shift
    local arg
    for arg in "$@"; do
        case $arg in
            --full) ADV_MODE=full ;;
            --fast) ADV_MODE=fast ;;
            -h | --help)
                awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "$0"
                exit 0
                ;;
            *) say "$ADV_NAME: unknown argument: $arg" >&2; exit 2 ;;
        esac
    done
    ADV_TMP=$(mktemp -d "/tmp/adv-$ADV_NAME.XXXXXX")
    chmod 755 "$ADV_TMP"
    SPAWN_DIR=$ADV_TMP
    trap adv_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    local t
    for t in python3 curl timeout ss; do have "$t" || { say "$ADV_NAME: $t is missing" >&2; exit 1; }; done
    if [[ ! -x $ADV_BIN/static || ! -x $ADV_BIN/proxy ]]; then
        say "$ADV_NAME: building the release binaries"
        (cd "$REPO" && cargo build --release -q -p static-server -p proxy) || exit 1
    fi
    say "$ADV_NAME ($ADV_MODE mode)"
}

# spawn_limited NAME NOFILE CMD...: like spawn, with soft and hard `ulimit -n` set to NOFILE
# in the subshell that execs CMD (so the pid is CMD's own). Raising it needs root.
spawn_limited() {
    local name=$1 nofile=$2
    shift 2
    spawn "$name" bash -c 'ulimit -n "$1" || exit 97; shift; exec "$@"' _ "$nofile" "$@"
}

# wait_for_line FILE REGEX [TIMEOUT_S]: waits until FILE has a line matching REGEX (ERE) and
# prints the first match.
wait_for_line() {
    local file=$1 re=$2 timeout=${3:-10} deadline
    deadline=$(($(date +%s) + timeout))
    while :; do
        if [[ -f $file ]] && grep -m1 -E "$re" "$file"; then return 0; fi
        (($(date +%s) >= deadline)) && return 1
        sleep 0.05
    done
}

# start_static NAME ROOT [ARGS...]: static on an ephemeral port (unless ARGS has --listen);
# sets SPAWNED and ADDR (host:port). Use NOFILE=n to lower its descriptor limit.
start_static() {
    local name=$1 root=$2 line listen=(--listen 127.0.0.1:0)
    shift 2
    [[ " $* " == *" --listen "* ]] && listen=()
    if [[ -n ${NOFILE:-} ]]; then
        spawn_limited "$name" "$NOFILE" "$ADV_BIN/static" "${listen[@]}" --root "$root" "$@"
    else
        spawn "$name" "$ADV_BIN/static" "${listen[@]}" --root "$root" "$@"
    fi
    line=$(wait_for_line "$ADV_TMP/$name.err" ': serving .* on http://' 10) || {
        say "static $name did not start:"; cat "$ADV_TMP/$name.err"; return 1; }
    ADDR=$(sed -E 's#.* on http://([^ ]+) .*#\1#' <<<"$line")
}

# start_proxy NAME [ARGS...]: proxy on an ephemeral port; sets SPAWNED, ADDR and, with --cert,
# TLS_ADDR. PROXY_WRAP=(cmd...) runs it through a wrapper that execs it (same pid).
start_proxy() {
    local name=$1 line listen=(--listen 127.0.0.1:0)
    shift
    [[ " $* " == *" --listen "* ]] && listen=()
    local cmd=("$ADV_BIN/proxy" "${listen[@]}" "$@")
    if [[ -n ${PROXY_WRAP+x} && ${#PROXY_WRAP[@]} -gt 0 ]]; then cmd=("${PROXY_WRAP[@]}" "${cmd[@]}"); fi
    if [[ -n ${NOFILE:-} ]]; then
        spawn_limited "$name" "$NOFILE" "${cmd[@]}"
    else
        spawn "$name" "${cmd[@]}"
    fi
    line=$(wait_for_line "$ADV_TMP/$name.err" '^proxy: listening on http://' 10) || {
        say "proxy $name did not start:"; cat "$ADV_TMP/$name.err"; return 1; }
    ADDR=${line#proxy: listening on http://}
    TLS_ADDR=""
    if [[ " $* " == *" --cert "* ]]; then
        line=$(wait_for_line "$ADV_TMP/$name.err" '^proxy: listening on https://' 5) || return 1
        TLS_ADDR=${line#proxy: listening on https://}
    fi
}

# start_upstream KIND NAME ADDR: a Python upstream from helpers/adv.py (sink or chunked).
start_upstream() {
    local kind=$1 name=$2 addr=$3
    spawn "$name" python3 "$ADV_DIR/helpers/adv.py" "$kind" "$addr"
    wait_for_line "$ADV_TMP/$name.err" "^$kind: listening on " 10 >/dev/null || {
        say "upstream $name did not start:"; cat "$ADV_TMP/$name.err"; return 1; }
}


# jq-free JSON access: jget FILE EXPR evaluates a Python expression over the object `j`.
jget() {
    python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); v=eval(sys.argv[2]); print(v if not isinstance(v,(dict,list)) else json.dumps(v))' "$1" "$2"
}

# make_site DIR: a document root with index.html (the repository's), small.txt and a few
# large files (sizes in MiB as arguments: big-N.bin).
make_site() {
    local dir=$1 mib
    shift
    mkdir -p "$dir"
    cp "$REPO/html/index.html" "$dir/index.html"
    printf 'small\n' >"$dir/small.txt"
    for mib in "$@"; do
        head -c "$((mib * 1048576))" /dev/urandom >"$dir/big-$mib.bin"
    done
}

# wrk_lua FILE: a wrk script whose done() prints "statuses: CODE=N ..." counted by response().
wrk_lua() {
    cat >"$1" <<'EOF'
-- Counts responses per status in every wrk thread and prints the sum at the end.
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) statuses = {} end
function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end
function done(summary, latency, requests)
  local total = {}
  for _, t in ipairs(threads) do
    local s = t:get("statuses")
    if s then for k, v in pairs(s) do total[k] = (total[k] or 0) + v end end
  end
  local line = "statuses:"
  for k, v in pairs(total) do line = line .. " " .. k .. "=" .. v end
  io.write(line .. "\n")
  local e = summary.errors
  io.write(string.format("errors: connect=%d read=%d write=%d status=%d timeout=%d\n",
    e.connect, e.read, e.write, e.status, e.timeout))
  io.write(string.format("requests: %d duration_us: %d\n", summary.requests, summary.duration))
end
EOF
}
