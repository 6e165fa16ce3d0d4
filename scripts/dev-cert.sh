#!/usr/bin/env bash
# Makes a local development CA and a TLS certificate for localhost, signed by
# it, for the proxy (compose.yaml mounts dev-certs/ at /certs):
#
#   dev-certs/ca.pem       the dev CA certificate: trust this one
#   dev-certs/ca-key.pem   the dev CA key (mode 0600, never leaves this machine)
#   dev-certs/cert.pem     leaf certificate + chain (localhost, 127.0.0.1, ::1)
#   dev-certs/key.pem      leaf key, EC P-256
#
# Idempotent: keeps a certificate that is still valid for 14 days and matches
# its key, whoever issued it, so you can put real cert.pem/key.pem there and
# they are left alone. An expiring dev certificate is renewed from the same CA,
# so a browser that trusts the CA keeps trusting it.
#
#   scripts/dev-cert.sh [--force] [--new-ca] [--quiet]
#     --force   make a new leaf certificate even if the current one is fine
#     --new-ca  also make a new CA (you must trust the new ca.pem again)
#   DEV_CERT_DIR=...  another directory (default: dev-certs/ in the repo)
#
# key.pem is mode 0644 on purpose: the proxy runs as UID 65532 in its container
# and must read the bind-mounted key. That is acceptable for a throw-away dev
# key on your own machine; for a real key, make it readable by that UID only
# (e.g. chown 65532 key.pem; chmod 0400 key.pem).
#
# The CA is name-constrained to localhost, 127.0.0.0/8 and ::1, so even if its
# key leaked, it could not be used to impersonate any other site to a browser
# that trusts it.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

force=0 new_ca=0 quiet=0
for arg in "$@"; do
    case $arg in
        --force) force=1 ;;
        --new-ca) new_ca=1 force=1 ;;
        --quiet|-q) quiet=1 ;;
        -h|--help) print_usage; exit 0 ;;
        *) die "unknown argument: $arg (try --help)" ;;
    esac
done
have openssl || die "openssl is missing (scripts/setup.sh --minimal installs it)"

dir=${DEV_CERT_DIR:-$REPO/dev-certs}
ca=$dir/ca.pem ca_key=$dir/ca-key.pem cert=$dir/cert.pem key=$dir/key.pem
leaf_days=90 ca_days=825 renew_before=$((14 * 86400))
mkdir -p "$dir"
chmod 0755 "$dir"

pubkey_of_cert() { openssl x509 -in "$1" -noout -pubkey 2>/dev/null; }
pubkey_of_key() { openssl pkey -in "$1" -pubout 2>/dev/null; }

# The leaf's SHA-256 SPKI hash (base64), e.g. for Chromium's
# --ignore-certificate-errors-spki-list.
spki_hash() {
    openssl x509 -in "$1" -noout -pubkey | openssl pkey -pubin -outform der |
        openssl dgst -sha256 -binary | openssl base64 -A
}

cert_ok() { # cert key: valid for a while and belongs to the key
    [[ -s $1 && -s $2 ]] || return 1
    openssl x509 -in "$1" -noout -checkend "$renew_before" >/dev/null 2>&1 || return 1
    [[ "$(pubkey_of_cert "$1")" == "$(pubkey_of_key "$2")" ]] || return 1
}

issued_by_our_ca() {
    [[ -s $ca ]] && openssl verify -CAfile "$ca" -purpose sslserver "$cert" >/dev/null 2>&1
}

ca_ok() { # usable CA for at least the lifetime of a new leaf
    [[ -s $ca && -s $ca_key ]] || return 1
    openssl x509 -in "$ca" -noout -checkend $(((leaf_days + 1) * 86400)) >/dev/null 2>&1 || return 1
    [[ "$(pubkey_of_cert "$ca")" == "$(pubkey_of_key "$ca_key")" ]]
}

print_info() {
    ((quiet)) && return 0
    local subject issuer end
    subject=$(openssl x509 -in "$cert" -noout -subject | sed 's/^subject=//')
    issuer=$(openssl x509 -in "$cert" -noout -issuer | sed 's/^issuer=//')
    end=$(openssl x509 -in "$cert" -noout -enddate | sed 's/^notAfter=//')
    cat <<EOF
TLS certificate for the proxy: ${cert#"$REPO"/}
  subject:  $subject
  issuer:   $issuer
  expires:  $end
  SPKI sha256: $(spki_hash "$cert")

Trust the dev CA (${ca#"$REPO"/}) to use it without warnings:
  curl:     curl --cacert ${ca#"$REPO"/} https://localhost:8443/a/
  Firefox:  Settings > Privacy & Security > Certificates > View Certificates >
            Authorities > Import... ${ca#"$REPO"/} ("trust to identify websites")
  Chromium/Chrome: Settings > Privacy and security > Security > Manage
            certificates > Authorities > Import ${ca#"$REPO"/}
  Debian system-wide: cp ${ca#"$REPO"/} /usr/local/share/ca-certificates/frontline-dev-ca.crt
            && update-ca-certificates
Or use real certificates: replace cert.pem (leaf + chain) and key.pem in
${dir#"$REPO"/}/ (readable by UID 65532), then reload the proxy with SIGHUP
(podman kill --signal HUP <proxy container>) or restart it.
EOF
}

# --- keep what is there, if it is good ------------------------------------------------
if ((!force)) && cert_ok "$cert" "$key"; then
    if issued_by_our_ca || [[ ! -s $ca ]]; then
        ((quiet)) || log "keeping the existing certificate (still valid)"
    else
        ((quiet)) || log "keeping the existing certificate (valid; not issued by ${ca#"$REPO"/})"
    fi
    print_info
    exit 0
fi
if ((!force)) && [[ -s $cert ]] && ! issued_by_our_ca && openssl x509 -in "$cert" -noout >/dev/null 2>&1 &&
    ! openssl x509 -in "$cert" -noout -issuer | grep -q 'frontline dev CA'; then
    die "${cert#"$REPO"/} is not a dev certificate and is expiring, expired or does not match key.pem;
       not overwriting it. Renew it yourself, or run scripts/dev-cert.sh --force for a dev certificate."
fi

umask 077
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# --- the CA -----------------------------------------------------------------------------
if ((new_ca)) || ! ca_ok; then
    log "making a new dev CA: ${ca#"$REPO"/}"
    cat >"$tmp/ca.cnf" <<'EOF'
[req]
distinguished_name = dn
prompt = no
[dn]
O = frontline development
CN = frontline dev CA
[ext]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
nameConstraints = critical, permitted;DNS:localhost, permitted;IP:127.0.0.0/255.0.0.0, permitted;IP:::1/ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff
EOF
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$tmp/ca-key.pem" 2>/dev/null
    # A unique name per CA, so a re-made CA never collides with one you trusted before.
    openssl req -new -x509 -key "$tmp/ca-key.pem" -config "$tmp/ca.cnf" -extensions ext \
        -subj "/O=frontline development/OU=$(hostname 2>/dev/null || echo dev) $(date -u +%Y-%m-%dT%H:%M:%SZ)/CN=frontline dev CA" \
        -days "$ca_days" -sha256 -set_serial "0x$(openssl rand -hex 16)" -out "$tmp/ca.pem"
    install -m 0600 "$tmp/ca-key.pem" "$ca_key"
    install -m 0644 "$tmp/ca.pem" "$ca"
fi

# --- the leaf ---------------------------------------------------------------------------
log "making a new certificate for localhost, 127.0.0.1, ::1: ${cert#"$REPO"/}"
cat >"$tmp/leaf.cnf" <<'EOF'
[ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1, IP:::1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
EOF
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$tmp/key.pem" 2>/dev/null
openssl req -new -key "$tmp/key.pem" -subj "/O=frontline development/CN=localhost" -out "$tmp/leaf.csr"
openssl x509 -req -in "$tmp/leaf.csr" -CA "$ca" -CAkey "$ca_key" -days "$leaf_days" -sha256 \
    -set_serial "0x$(openssl rand -hex 16)" -extfile "$tmp/leaf.cnf" -extensions ext \
    -out "$tmp/leaf.pem" 2>/dev/null
cat "$tmp/leaf.pem" "$ca" >"$tmp/cert.pem"
openssl verify -CAfile "$ca" -purpose sslserver "$tmp/leaf.pem" >/dev/null ||
    die "the new certificate does not verify against the CA"

# Replace atomically (rename), so a running proxy reloading on SIGHUP never
# sees a half-written file; key first so cert and key match after both renames.
install -m 0644 "$tmp/key.pem" "$dir/.key.pem.new" && mv -f "$dir/.key.pem.new" "$key"
install -m 0644 "$tmp/cert.pem" "$dir/.cert.pem.new" && mv -f "$dir/.cert.pem.new" "$cert"
print_info
