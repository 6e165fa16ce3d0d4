#!/usr/bin/env bash
# TLS of the proxy, scanned with testssl.sh (Debian) and sslyze (PyPI), offline.
#
#   tests/adversarial/tls_scan.sh [--full]   fast: testssl protocols, cipher categories,
#                                            server preference, forward secrecy (~20 s);
#                                            full: testssl's whole default run (~1 min)
#
# The proxy serves a proper leaf certificate (localhost, 127.0.0.1, ::1; EC P-256; CA:FALSE,
# serverAuth) issued by a throw-away test CA made by scripts/dev-cert.sh, not a self-signed CA
# certificate. testssl runs with --ip 127.0.0.1 --nodns none (no DNS at all, so no CAA or other
# lookups leave the machine) and without --phone-out (no CRL or OCSP fetches); --add-ca makes
# it trust the test CA. sslyze gets the CA with --certinfo_ca_file and targets 127.0.0.1.
#
# Checks:
#   testssl findings   no HIGH or CRITICAL finding except those listed in ALLOWED below, each
#                      with the reason a test certificate cannot avoid it; no scan problems
#   protocols          SSLv2, SSLv3, TLS 1.0 and TLS 1.1 not offered; TLS 1.2 and 1.3 offered
#   ciphers            NULL, aNULL, EXPORT, LOW, 3DES/IDEA and AVERAGE (CBC, non-FS) classes not
#                      offered
#   sslyze             compliant with Mozilla's "intermediate" configuration
# sslyze is installed from tests/adversarial/requirements-tls.txt into its own venv under
# target/ (its cryptography pin differs from the infra tools' in $REPO/.venv).
set -uo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
adv_init tls_scan "$@"
have testssl || have testssl.sh || { say "tls_scan: testssl.sh is missing (apt-get install testssl.sh)"; exit 1; }
TESTSSL=$(command -v testssl || command -v testssl.sh)
have openssl || { say "tls_scan: openssl is missing"; exit 1; }

# Findings a test certificate cannot avoid, id -> reason.
declare -A ALLOWED=(
    [cert_revocation]="a throw-away test CA publishes neither a CRL nor an OCSP responder"
    [cert_CAA]="CAA records live in public DNS; a test name has none (and DNS is off)"
    [DNS_CAArecord]="CAA records live in public DNS; a test name has none (and DNS is off)"
)
report ""
report "### TLS (proxy; testssl.sh $(dpkg-query -W -f='${Version}' testssl.sh 2>/dev/null || echo '?') $(full && echo 'full run' || echo 'protocols, ciphers, preference, FS'); sslyze)"

# --- sslyze in its own venv -------------------------------------------------------------------
venv=${ADV_TLS_VENV:-$REPO/target/venv-sslyze}
req=$ADV_DIR/requirements-tls.txt
stamp=$venv/.requirements.sha256
want=$(sha256sum "$req" | cut -d' ' -f1)
if [[ ! -x $venv/bin/sslyze || "$(cat "$stamp" 2>/dev/null)" != "$want" ]]; then
    note "installing sslyze into $venv"
    python3 -m venv "$venv" && "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$req" &&
        echo "$want" >"$stamp" || { fail "sslyze install" "pip install -r $req failed"; }
fi

# --- proxy with a leaf certificate from a test CA ---------------------------------------------
certs=$ADV_TMP/certs
DEV_CERT_DIR=$certs bash "$REPO/scripts/dev-cert.sh" --quiet >/dev/null 2>&1 ||
    { fail "test certificate" "scripts/dev-cert.sh failed"; adv_summary; exit 1; }
openssl verify -CAfile "$certs/ca.pem" -purpose sslserver "$certs/cert.pem" >/dev/null 2>&1 &&
    ! openssl x509 -in "$certs/cert.pem" -noout -ext basicConstraints | grep -q 'CA:TRUE' ||
    { fail "test certificate" "not a leaf issued by the test CA"; adv_summary; exit 1; }
site=$ADV_TMP/site
make_site "$site"
start_static upstream "$site" --log-format off || exit 1
up=$ADDR
start_proxy proxy --log-format off --tls-listen 127.0.0.1:0 --cert "$certs/cert.pem" --key "$certs/key.pem" \
    --route "/=http://$up" || exit 1
port=${TLS_ADDR##*:}

# --- testssl ------------------------------------------------------------------------------------
json=$ADV_TMP/testssl.json
if full; then scope=(); else scope=(--protocols --std --server-preference --fs); fi
t0=$(date +%s)
timeout 900 "$TESTSSL" --quiet --color 0 --warnings off --ip 127.0.0.1 --nodns none \
    --add-ca "$certs/ca.pem" --connect-timeout 5 --openssl-timeout 5 --jsonfile "$json" \
    "${scope[@]}" "https://localhost:$port" >"$ADV_TMP/testssl.txt" 2>&1
rc=$?
took=$(($(date +%s) - t0))
if [[ ! -s $json ]]; then
    fail "testssl" "no JSON written (exit $rc)" "$(tail -n 20 "$ADV_TMP/testssl.txt")"
else
    allowed_ids=$(printf '%s\n' "${!ALLOWED[@]}")
    read -r -d '' analysis < <(python3 - "$json" "$allowed_ids" <<'EOF'
import json, sys
findings = json.load(open(sys.argv[1]))
allowed = set(sys.argv[2].split())
by_id = {}
for f in findings:
    by_id.setdefault(f["id"], []).append(f)
severe = [f for f in findings if f["severity"] in ("HIGH", "CRITICAL")]
unexpected = [f for f in severe if f["id"] not in allowed]
accepted = sorted({f["id"] for f in severe if f["id"] in allowed})
problems = [f for f in findings if f["severity"] in ("WARN", "FATAL") or f["id"] == "scanProblem"]
def state(i):
    fs = by_id.get(i)
    return fs[0]["finding"] if fs else "(not reported)"
protocols = {p: state(p) for p in ("SSLv2", "SSLv3", "TLS1", "TLS1_1", "TLS1_2", "TLS1_3")}
bad_proto = [p for p in ("SSLv2", "SSLv3", "TLS1", "TLS1_1") if "not offered" not in protocols[p]]
bad_proto += [p for p in ("TLS1_2", "TLS1_3") if not protocols[p].startswith("offered")]
weak = ("cipherlist_NULL", "cipherlist_aNULL", "cipherlist_EXPORT", "cipherlist_LOW",
        "cipherlist_3DES_IDEA", "cipherlist_AVERAGE")
bad_ciph = [c for c in weak if "not offered" not in state(c)]
counts = {}
for f in findings:
    counts[f["severity"]] = counts.get(f["severity"], 0) + 1
print(json.dumps({"n": len(findings), "counts": counts,
                  "unexpected": ["%s %s: %s" % (f["severity"], f["id"], f["finding"]) for f in unexpected],
                  "accepted": accepted,
                  "problems": ["%s %s: %s" % (f["severity"], f["id"], f["finding"]) for f in problems],
                  "protocols": protocols, "bad_proto": bad_proto,
                  "ciphers": {c: state(c) for c in weak}, "bad_ciph": bad_ciph,
                  "fs": state("PFS") if "PFS" in by_id else state("FS")}))
EOF
    )
    j() { python3 -c 'import json,sys; v=eval(sys.argv[2], {"j": json.loads(sys.argv[1])}); print(json.dumps(v) if isinstance(v,(dict,list)) else v)' "$analysis" "$1"; }
    accepted=$(j 'j["accepted"]')
    reasons=""
    for id in $(j '" ".join(j["accepted"])'); do reasons+="; $id allowed: ${ALLOWED[$id]}"; done
    nu=$(j 'len(j["unexpected"])') np=$(j 'len(j["problems"])')
    verdict "testssl findings" "$((nu == 0 && np == 0 && rc == 0 ? 0 : 1))" \
        "$(j 'j["n"]') findings in ${took}s, by severity $(j 'j["counts"]'); no other HIGH/CRITICAL$reasons" \
        "exit $rc; unexpected: $(j 'j["unexpected"]'); problems: $(j 'j["problems"]')"
    verdict "protocols" "$(($(j 'len(j["bad_proto"])') == 0 ? 0 : 1))" \
        "$(j '", ".join("%s %s" % (k, v) for k, v in j["protocols"].items())')"
    verdict "ciphers" "$(($(j 'len(j["bad_ciph"])') == 0 ? 0 : 1))" \
        "$(j '", ".join("%s %s" % (k.replace("cipherlist_", ""), v) for k, v in j["ciphers"].items())'); forward secrecy: $(j 'j["fs"]')"
fi

# --- sslyze -------------------------------------------------------------------------------------
if [[ -x $venv/bin/sslyze ]]; then
    timeout 300 "$venv/bin/sslyze" --mozilla_config intermediate --certinfo_ca_file "$certs/ca.pem" \
        --json_out "$ADV_TMP/sslyze.json" "localhost:$port{127.0.0.1}" >"$ADV_TMP/sslyze.txt" 2>&1
    rc=$?
    line=$(grep -E "localhost:$port: " "$ADV_TMP/sslyze.txt" | tail -n 1 | sed 's/^ *//')
    version=$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("sslyze"))' 2>/dev/null)
    verdict "sslyze mozilla intermediate" "$([[ $rc == 0 && $line == *"OK - Compliant"* ]] && echo 0 || echo 1)" \
        "sslyze $version: ${line:-no verdict} (exit $rc)" "$(tail -n 25 "$ADV_TMP/sslyze.txt")"
else
    fail "sslyze mozilla intermediate" "sslyze is not installed"
fi

adv_summary
