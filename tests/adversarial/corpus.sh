#!/usr/bin/env bash
# The raw-socket corpus: every case in tests/adversarial/corpus/*.txt (malformed and hostile
# HTTP/1.1 requests, each with its expectation and reference) sent on its own connection to
# `static`, to the `proxy` over HTTP and to the `proxy` over HTTPS, by corpus.py, which starts
# the release binaries itself on 127.0.0.1 (a temporary site with a secret beside the root, a
# static upstream for the proxies, a test CA and certificate made with openssl).
#
#   tests/adversarial/corpus.sh [corpus.py run options]
#     --only GLOB       run the cases whose id matches (repeatable), e.g. --only 'tr-*'
#     --target T        static/http, proxy/http or proxy/https (repeatable)
#     -v                one line per case and target;  -j N  cases at once (default 12)
#     --keep            keep the temporary directory (server logs) for a look afterwards
#   tests/adversarial/corpus.py list    the cases with their expectations
#
# Prints "corpus: N passed, M failed" and per-target and per-category counts; exit status 1
# when any case failed. Python 3.11 standard library only (the repo's .venv when present).
set -euo pipefail
# shellcheck source=../../scripts/lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/scripts/lib.sh"
cd "$REPO"

have openssl || die "openssl is missing (scripts/setup.sh installs it)"
python=$REPO/.venv/bin/python
[[ -x $python ]] || python=$(command -v python3) || die "python3 is missing"

t=$(now)
log "cargo build --release"
cargo build --release --quiet
log "built in $(since "$t")s"
bin_dir=${CARGO_TARGET_DIR:-$REPO/target}/release
# exec: a signal to this script reaches the runner, which stops the servers it started.
exec "$python" "$REPO/tests/adversarial/corpus.py" run --bin-dir "$bin_dir" "$@"
