#!/usr/bin/env bash
# Infra test suite: terraform/ and .woodpecker.yml, offline, on one machine.
#
#   tests/infra/run.sh          (what `scripts/test.sh infra` runs; any cwd)
#
#   1. terraform fmt -check, init -backend=false, validate
#   2. terraform test: terraform/tests/*.tftest.hcl against a mocked AWS provider
#   3. checkov on terraform/ and the two Containerfiles: zero failed checks
#   4. apply and destroy of the whole stack against moto_server on 127.0.0.1,
#      checked through the AWS APIs; nothing may remain afterwards
#   5. .woodpecker.yml: Woodpecker's JSON schema, deploy safety, README commands
#
# Needs: terraform >= 1.7, python3, and the venv that scripts/setup.sh makes at
# $REPO/.venv from scripts/requirements-infra.txt (INFRA_VENV overrides it).
# Provider: from the filesystem mirror at /opt/tf-plugins when it exists
# (TF_PLUGIN_MIRROR overrides the path), otherwise downloaded by terraform init.
# Everything runs in a temporary copy; terraform/ itself is only read.
#
# Ends with "infra: N passed, M failed" and exits non-zero if any check failed.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../../scripts/lib.sh
source "$HERE/../../scripts/lib.sh" # REPO, pass/fail/summary, note

TF_DIR="$REPO/terraform"
VENV="${INFRA_VENV:-$REPO/.venv}"
PY="$VENV/bin/python"
MIRROR="${TF_PLUGIN_MIRROR:-/opt/tf-plugins}"
# The schema is shared with the steering repo; a copy next to the repo (as CI
# lays it out) or an explicit path both work.
SCHEMA="${WOODPECKER_SCHEMA:-}"
if [[ -z "$SCHEMA" ]]; then
    for candidate in "$REPO/../shared/woodpecker/schema.json" /work/shared/woodpecker/schema.json; do
        if [[ -f "$candidate" ]]; then SCHEMA="$candidate"; break; fi
    done
fi

if [[ -t 1 && -z "${NO_COLOR:-}" ]]; then
    B=$'\e[1m' G=$'\e[32m' R=$'\e[31m' Y=$'\e[33m' N=$'\e[0m'
else
    B='' G='' R='' Y='' N=''
fi

T0=$(date +%s)

SECTION_T0=$T0
# section TITLE: a header, and the time the previous section took.
section() {
    local now
    now=$(date +%s)
    if ((now > SECTION_T0)); then printf '  (%ss)\n' "$((now - SECTION_T0))"; fi
    SECTION_T0=$now
    printf '\n%s== %s ==%s\n' "$B" "$*" "$N"
}
# show_tail FILE: the end of a log, indented, after a failure.
show_tail() { tail -n "${2:-40}" "$1" | sed 's/^/       /'; }
# step NAME LOG CMD...: runs CMD with its output in LOG; pass/fail by exit code.
step() {
    local name=$1 log=$2
    shift 2
    if "$@" >"$log" 2>&1; then pass "$name"; return 0; fi
    fail "$name"; show_tail "$log"; return 1
}
# add_counts LOG PREFIX: a helper script's "PREFIX: N passed, M failed" line
# adds its checks to ours (its ok/FAIL lines were already printed).
add_counts() {
    local line p f
    line=$(grep -E "^$2: [0-9]+ passed, [0-9]+ failed$" "$1" | tail -n1 || true)
    if [[ -z "$line" ]]; then fail "$2 checks produced no summary"; show_tail "$1"; return; fi
    p=$(sed -E 's/.*: ([0-9]+) passed.*/\1/' <<<"$line")
    f=$(sed -E 's/.* ([0-9]+) failed$/\1/' <<<"$line")
    PASSED=$((PASSED + p)); FAILED=$((FAILED + f))
    if ((f > 0)); then FAILED_NAMES+=("$f $2 check(s), see FAIL lines above"); fi
}
finish() {
    section "summary"
    printf '  took %ss\n' "$(($(date +%s) - T0))"
    summary infra && exit 0 || exit 1
}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/infra-test.XXXXXX")
MOTO_PID=""
cleanup() {
    if [[ -n "$MOTO_PID" ]] && kill -0 "$MOTO_PID" 2>/dev/null; then
        kill "$MOTO_PID" 2>/dev/null || true
        wait "$MOTO_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------------------------
section "prerequisites"
prereq_ok=1
if command -v terraform >/dev/null 2>&1; then
    tf_version=$(terraform version -json 2>/dev/null | "${PY:-python3}" -c 'import json,sys; print(json.load(sys.stdin)["terraform_version"])' 2>/dev/null \
        || terraform version | sed -n '1s/^Terraform v//p')
    if printf '%s\n%s\n' "1.7.0" "$tf_version" | sort -V -C; then
        pass "terraform $tf_version (>= 1.7 for mock providers)"
    else
        fail "terraform $tf_version is older than 1.7"; prereq_ok=0
    fi
else
    fail "terraform is not installed (>= 1.7 needed; scripts/setup.sh does not install it: HashiCorp's apt repository or a release zip from releases.hashicorp.com, see the README's requirements)"; prereq_ok=0
fi
if [[ -x "$PY" ]] && "$PY" -c 'import boto3, jsonschema, moto, yaml' 2>/dev/null \
    && [[ -x "$VENV/bin/checkov" && -x "$VENV/bin/moto_server" ]]; then
    pass "python venv $VENV (checkov, moto_server, boto3, jsonschema, pyyaml)"
else
    fail "python venv $VENV with scripts/requirements-infra.txt (run scripts/setup.sh)"; prereq_ok=0
fi
((prereq_ok)) || finish

# Terraform: provider from the offline mirror when there is one; the CLI config
# is a temp file so nothing of the user's terraform setup is touched.
if [[ -d "$MIRROR" ]]; then
    cat >"$WORK/terraform.rc" <<EOF
provider_installation {
  filesystem_mirror {
    path    = "$MIRROR"
    include = ["registry.terraform.io/hashicorp/*"]
  }
  direct {
    exclude = ["registry.terraform.io/hashicorp/*"]
  }
}
EOF
    export TF_CLI_CONFIG_FILE="$WORK/terraform.rc"
    note "provider from the filesystem mirror $MIRROR"
else
    # Download once and share it between the two inits below.
    mkdir -p "$WORK/plugin-cache"
    export TF_PLUGIN_CACHE_DIR="$WORK/plugin-cache"
    note "no provider mirror at $MIRROR: terraform init downloads the provider"
fi
export TF_IN_AUTOMATION=1 TF_INPUT=0 CHECKPOINT_DISABLE=1
unset TF_WORKSPACE TF_DATA_DIR
# A developer's TF_VAR_* must not change what the tests see.
while IFS= read -r v; do unset "$v"; done < <(compgen -e | grep '^TF_VAR_' || true)

# copy_config DEST: terraform/ without anything local to a developer's checkout
# (init state, plans, their tfvars, their backend or override files). The
# committed provider lock file goes along: init must verify against it.
copy_config() {
    mkdir -p "$1"
    tar -C "$TF_DIR" \
        --exclude=.terraform --exclude='*.tfstate' --exclude='*.tfstate.*' \
        --exclude='*.tfplan' --exclude=terraform.tfvars --exclude='*.auto.tfvars' --exclude='*.auto.tfvars.json' \
        --exclude=backend.tf --exclude='*_override.tf' --exclude='*_override.tf.json' --exclude=override.tf \
        -cf - . | tar -C "$1" -xf -
}

# ------------------------------------------------------------------------------
section "terraform fmt, init, validate"
step "terraform fmt -check -recursive terraform/" "$WORK/fmt.log" \
    terraform fmt -check -recursive -diff "$TF_DIR" || true
lock_covers_platforms() {
    local lock="$TF_DIR/.terraform.lock.hcl" zh
    [[ -f $lock ]] || { echo "no $lock"; return 1; }
    grep -q '"h1:' "$lock" || { echo "no h1: hash (linux_amd64)"; return 1; }
    # zh: hashes are the registry's SHA256SUMS of every platform's zip (linux_amd64,
    # linux_arm64, darwin, windows, ...): 15 for this provider release.
    zh=$(grep -c '"zh:' "$lock")
    echo "zh: hashes: $zh"
    ((zh >= 14))
}
step "provider lock file committed, with hashes for every platform" "$WORK/lock.log" lock_covers_platforms || true
copy_config "$WORK/terraform"
if step "terraform init -backend=false" "$WORK/init.log" \
    terraform -chdir="$WORK/terraform" init -backend=false -input=false -no-color; then
    step "terraform validate" "$WORK/validate.log" terraform -chdir="$WORK/terraform" validate -no-color || true

    # --------------------------------------------------------------------------
    section "terraform test (mock provider)"
    terraform -chdir="$WORK/terraform" test -no-color >"$WORK/test.log" 2>&1 && test_rc=0 || test_rc=$?
    runs=0
    while IFS= read -r line; do
        runs=$((runs + 1))
        name=$(sed -E 's/^ *run "([^"]+)"\.\.\. .*/\1/' <<<"$line")
        case $line in
            *"... pass") pass "terraform test: $name" ;;
            *) fail "terraform test: $name" ;;
        esac
    done < <(grep -E '^ *run "[^"]+"\.\.\. (pass|fail|skip)' "$WORK/test.log" || true)
    if ((test_rc != 0)); then
        fail "terraform test exited $test_rc"
        grep -vE '^ *run "|^tests/.*\.\.\. (in progress|tearing down|pass)$' "$WORK/test.log" | head -n 60 | sed 's/^/       /'
    elif ((runs == 0)); then
        fail "terraform test ran no test"; show_tail "$WORK/test.log"
    fi
else
    fail "terraform validate and test skipped: init failed"
fi

# ------------------------------------------------------------------------------
section "checkov (terraform, Containerfiles)"
# checkov recognises Dockerfiles by name only, so each Containerfile is scanned
# as a copy named Dockerfile.<image>; inline #checkov:skip comments come along.
mkdir -p "$WORK/checkov/src"
copy_config "$WORK/checkov/src/terraform"
rm -rf "$WORK/checkov/src/terraform/tests"
containerfiles=()
for img in static proxy; do
    if [[ -f "$REPO/Containerfile.$img" ]]; then
        cp "$REPO/Containerfile.$img" "$WORK/checkov/src/Dockerfile.$img"
        containerfiles+=("$img")
    else
        note "Containerfile.$img not found: not scanned"
    fi
done
# run_checkov NAME ARGS...: one checkov run into $WORK/checkov/NAME; prints its
# CLI report, then one check per target (see the verdict below).
run_checkov() {
    local name=$1 out="$WORK/checkov/$1" rc
    shift
    "$VENV/bin/checkov" --quiet --compact --skip-download --download-external-modules false \
        -o cli -o json --output-file-path "$out" "$@" >"$out.log" 2>&1 && rc=0 || rc=$?
    if [[ ! -f "$out/results_json.json" ]]; then
        fail "checkov $name produced no results (exit $rc)"; show_tail "$out.log"; return
    fi
    sed 's/^/  /' "$out/results_cli.txt" | grep -v '^ *$' || true
    # Zero failed, no parse errors, and something actually scanned (a quiet run
    # that scanned nothing must not pass). With --quiet the JSON lists only
    # failed checks, so the counts come from the summaries.
    "$PY" - "$out/results_json.json" "$name" "${containerfiles[@]}" >"$out.verdict" <<'PY'
import json, sys
data = json.load(open(sys.argv[1]))
reports = {r.get("check_type"): r for r in (data if isinstance(data, list) else [data])}
name, images = sys.argv[2], sys.argv[3:]

def verdict(label, rep, path=None, expect_resources=None):
    if rep is None:
        print(f"FAIL\tcheckov {label}: not scanned")
        return
    summary = rep["summary"]
    failed = [f for f in rep["results"].get("failed_checks", []) if path is None or f["file_path"] == path]
    ok = (not failed and summary["passed"] > 0 and summary.get("parsing_errors", 0) == 0
          and (expect_resources is None or summary.get("resource_count") == expect_resources))
    counts = (f"{summary['passed']} passed, {summary['failed']} failed, {summary['skipped']} skipped"
              if path is None else f"{len(failed)} failed")
    print(f"{'ok' if ok else 'FAIL'}\tcheckov {label}: {counts}")
    for f in failed:
        print(f"detail\t{f['check_id']} {f['resource']} {f['file_path']}:{f['file_line_range']}")

if name == "defaults":
    verdict("terraform/ (default inputs)", reports.get("terraform"))
    for img in images:
        verdict(f"Containerfile.{img}", reports.get("dockerfile"), f"/Dockerfile.{img}", len(images))
else:
    verdict("terraform/ (domain, proxy service, NAT per AZ)", reports.get("terraform"))
PY
    while IFS=$'\t' read -r kind text; do
        case $kind in
            ok) pass "$text" ;;
            FAIL) fail "$text" ;;
            detail) printf '       %s\n' "$text" ;;
        esac
    done <"$out.verdict"
}
run_checkov defaults -d "$WORK/checkov/src" --framework terraform dockerfile
run_checkov all-features -d "$WORK/checkov/src/terraform" --framework terraform \
    --var-file "$HERE/checkov-all-features.tfvars"
# Every skip is an inline comment with its reason; list them for review.
grep -h -o 'checkov:skip=[^ ].*' "$WORK"/checkov/src/terraform/*.tf "$WORK"/checkov/src/Dockerfile.* 2>/dev/null \
    | sed 's/^checkov:skip=/skip /' | while IFS= read -r line; do note "$line"; done

# ------------------------------------------------------------------------------
section "apply and destroy against moto_server (127.0.0.1)"
MOTO_PORT=$(free_port)
ENDPOINT="http://127.0.0.1:$MOTO_PORT"
"$VENV/bin/moto_server" -H 127.0.0.1 -p "$MOTO_PORT" >"$WORK/moto.log" 2>&1 &
MOTO_PID=$!
if "$PY" - "$ENDPOINT" <<'PY'
import sys, time, urllib.request
deadline = time.time() + 30
while time.time() < deadline:
    try:
        urllib.request.urlopen(sys.argv[1] + "/moto-api/", timeout=1)
        sys.exit(0)
    except Exception:
        time.sleep(0.2)
sys.exit(1)
PY
then
    pass "moto_server listening on $ENDPOINT (pid $MOTO_PID)"
    MOTO_TF="$WORK/moto/terraform"
    copy_config "$MOTO_TF"
    rm -rf "$MOTO_TF/tests"
    sed "s|@ENDPOINT@|$ENDPOINT|g" "$HERE/moto/provider_override.tf.in" >"$MOTO_TF/moto_override.tf"
    tfm() { timeout 300 terraform -chdir="$MOTO_TF" "$@"; }
    if step "terraform init (moto copy)" "$WORK/moto-init.log" tfm init -backend=false -input=false -no-color \
        && step "terraform apply of the whole stack to moto" "$WORK/moto-apply.log" \
            tfm apply -auto-approve -input=false -no-color -var-file="$HERE/moto/moto.tfvars"; then
        grep -E '^Apply complete' "$WORK/moto-apply.log" | sed 's/^/       /'
        tfm output -json >"$WORK/moto-outputs.json"
        "$PY" "$HERE/moto/check_moto.py" applied --endpoint "$ENDPOINT" \
            --outputs "$WORK/moto-outputs.json" --tfvars "$HERE/moto/moto.tfvars" | tee "$WORK/moto-applied.log" || true
        add_counts "$WORK/moto-applied.log" moto
    fi
    # Both environments' settings plan cleanly (the same code, their own tfvars). Plans only:
    # the apply above already proved the resources against moto.
    for env in staging production; do
        step "terraform plan with environments/$env.tfvars (moto)" "$WORK/moto-plan-$env.log" \
            tfm plan -input=false -no-color -lock=false -refresh=false -var image_tag=0123456789abcdef0123456789abcdef01234567 \
            -var-file="$MOTO_TF/environments/$env.tfvars" -var "aws_region=us-east-1" || true
    done
    # Destroy even after a failed apply: whatever was created must go.
    if step "terraform destroy" "$WORK/moto-destroy.log" \
        tfm destroy -auto-approve -input=false -no-color -var-file="$HERE/moto/moto.tfvars"; then
        left=$(tfm state list 2>/dev/null || true)
        if [[ -z "$left" ]]; then pass "state is empty after destroy"
        else fail "state still lists resources after destroy"; sed 's/^/       /' <<<"$left"; fi
        "$PY" "$HERE/moto/check_moto.py" destroyed --endpoint "$ENDPOINT" | tee "$WORK/moto-destroyed.log" || true
        add_counts "$WORK/moto-destroyed.log" moto
    fi
else
    fail "moto_server did not start on $ENDPOINT"; show_tail "$WORK/moto.log"
fi
kill "$MOTO_PID" 2>/dev/null || true
wait "$MOTO_PID" 2>/dev/null || true
MOTO_PID=""

# ------------------------------------------------------------------------------
section "pipeline (.woodpecker.yml)"
if [[ -z "$SCHEMA" || ! -f "$SCHEMA" ]]; then
    fail "Woodpecker schema not found (set WOODPECKER_SCHEMA=/path/to/schema.json)"
elif [[ ! -f "$REPO/.woodpecker.yml" ]]; then
    fail ".woodpecker.yml not found"
else
    "$PY" "$HERE/check_pipeline.py" --pipeline "$REPO/.woodpecker.yml" --schema "$SCHEMA" \
        --readme "$REPO/README.md" | tee "$WORK/pipeline.log" || true
    add_counts "$WORK/pipeline.log" pipeline
fi

finish
