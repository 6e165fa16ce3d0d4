#!/usr/bin/env python3
"""Checks .woodpecker.yml: schema, deploy safety, and that CI tests with the README's commands.

    check_pipeline.py --pipeline .woodpecker.yml --schema schema.json --readme README.md

Prints one "ok"/"FAIL" line per check and ends with "pipeline: N passed, M
failed"; exits 1 if any check failed.
"""

import argparse
import copy
import json
import os
import re
import sys

import jsonschema
import yaml

results: list[tuple[bool, str]] = []


def check(name: str, ok: bool, detail: str = "") -> None:
    results.append((bool(ok), name))
    print(f"  {'ok  ' if ok else 'FAIL'} {name}" + ("" if ok or not detail else f"\n       {detail}"))


def steps_of(doc: dict) -> list[dict]:
    """Steps as a list of dicts with a name, for both the list and map forms."""
    steps = doc.get("steps") or []
    if isinstance(steps, dict):
        return [dict(step, name=step.get("name", key)) for key, step in steps.items()]
    return list(steps)


def conditions(step: dict) -> list[dict]:
    when = step.get("when")
    if when is None:
        return []
    return when if isinstance(when, list) else [when]


def events(cond: dict) -> set:
    ev = cond.get("event")
    return set([ev] if isinstance(ev, str) else ev or [])


def runs_on_pull_request(step: dict, workflow_conds: list[dict]) -> bool:
    """True unless every `when` condition of the step names events other than pull_request."""
    conds = conditions(step)
    if not conds:  # no filter: the step runs whenever the workflow does
        return any(not events(c) or "pull_request" in events(c) for c in workflow_conds) or not workflow_conds
    return any(not events(c) or "pull_request" in events(c) for c in conds)


def commands(step: dict) -> list[str]:
    cmds = step.get("commands") or []
    return [cmds] if isinstance(cmds, str) else list(cmds)


def secret_names(step: dict) -> set:
    names = set()
    for block in (step.get("environment") or {}, step.get("settings") or {}):
        for v in block.values():
            if isinstance(v, dict) and "from_secret" in v:
                names.add(v["from_secret"])
    return names


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pipeline", required=True)
    ap.add_argument("--schema", required=True)
    ap.add_argument("--readme", required=True)
    args = ap.parse_args()

    with open(args.pipeline) as f:
        text = f.read()
    doc = yaml.safe_load(text)
    with open(args.schema) as f:
        schema = json.load(f)

    # --- schema ---------------------------------------------------------------------
    validator = jsonschema.Draft7Validator(schema)
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.path))
    check("valid against Woodpecker's JSON schema", not errors,
          "; ".join(f"{list(e.path)}: {e.message[:200]}" for e in errors[:5]))
    # Negative control: the schema must reject an unknown key, or the check above
    # would prove nothing.
    broken = copy.deepcopy(doc)
    steps_key = broken["steps"]
    first = steps_key[0] if isinstance(steps_key, list) else next(iter(steps_key.values()))
    first["not_a_woodpecker_key"] = True
    check("schema rejects an unknown step key (negative control)", not validator.is_valid(broken))

    steps = steps_of(doc)
    by_name = {s.get("name"): s for s in steps}
    workflow_conds = doc.get("when") or []
    workflow_conds = workflow_conds if isinstance(workflow_conds, list) else [workflow_conds]

    # --- secrets ----------------------------------------------------------------------
    literal_keys = re.findall(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b", text)
    sensitive_literals = []
    for s in steps:
        for block in (s.get("environment") or {}, s.get("settings") or {}):
            for k, v in block.items():
                if re.search(r"(SECRET|PASSWORD|TOKEN|ACCESS_KEY)", k, re.I) and not (isinstance(v, dict) and "from_secret" in v):
                    sensitive_literals.append(f"{s.get('name')}.{k}")
    check("no credentials in the file; sensitive settings only via from_secret",
          not literal_keys and not sensitive_literals, f"{literal_keys} {sensitive_literals}")

    # --- pull requests never deploy; staging on main, production on a tag or a promote ------
    deploying = [s for s in steps
                 if any(re.search(r"terraform apply|buildah push|docker push|aws ecs (update|wait)", c) for c in commands(s))
                 or any(n.startswith("aws_deploy") or n.startswith("aws_prod_deploy") for n in secret_names(s))]
    names = {s.get("name") for s in deploying}
    envs = ("staging", "production")
    check("there are deploy steps (push, apply, wait) for staging and production",
          {f"{k}-{e}" for k in ("terraform-apply", "images-push", "wait-stable") for e in envs} <= names,
          f"deploy steps: {sorted(n for n in names if n)}")
    leaking = [s.get("name") for s in deploying if runs_on_pull_request(s, workflow_conds)]
    check("no deploy step or deploy secret runs on pull_request", not leaking, f"steps: {leaking}")

    def staging_only(step: dict) -> bool:
        return bool(conditions(step)) and all(events(c) == {"push"} and c.get("branch") == "main" for c in conditions(step))

    def production_only(step: dict) -> bool:
        ok = True
        for c in conditions(step):
            ev = events(c)
            ok &= (ev == {"tag"} and str(c.get("ref", "")).startswith("refs/tags/v")) or (ev == {"manual"} and c.get("branch") == "main")
        return bool(conditions(step)) and ok

    by_env = {e: [s for s in steps if str(s.get("name", "")).endswith(f"-{e}")] for e in envs}
    check("staging steps run on pushes to main only, with the staging secrets and DEPLOY_ENV=staging",
          by_env["staging"] and all(staging_only(s) for s in by_env["staging"])
          and all(not any(n.startswith("aws_prod") for n in secret_names(s)) for s in by_env["staging"])
          and all((s.get("environment") or {}).get("DEPLOY_ENV") in (None, "staging") for s in by_env["staging"]))
    check("production steps run on v* tags or a manual run on main only, with the production secrets",
          by_env["production"] and all(production_only(s) for s in by_env["production"])
          and all(not any(n.startswith("aws_deploy") for n in secret_names(s)) for s in by_env["production"])
          and all((s.get("environment") or {}).get("DEPLOY_ENV") in (None, "production") for s in by_env["production"]))
    for e in envs:
        smoke = by_name.get(f"smoke-test-{e}", {})
        check(f"smoke test ({e}) runs only with a deployment",
              bool(conditions(smoke)) and not runs_on_pull_request(smoke, workflow_conds))

    # --- what the pipeline does --------------------------------------------------------
    plan = by_name.get("terraform-plan", {})
    plan_cmds = "\n".join(commands(plan))
    check("terraform plan runs on pull requests for both environments, without the deploy credentials",
          "terraform plan" in plan_cmds and "for env in staging production" in plan_cmds
          and any("pull_request" in events(c) for c in conditions(plan))
          and not any(n.startswith("aws_deploy") or n.startswith("aws_prod") for n in secret_names(plan)))
    apply = by_name.get("terraform-apply-staging", {})
    apply_cmds = "\n".join(commands(apply))
    check("terraform apply deploys the commit's images (-var image_tag=${CI_COMMIT_SHA})",
          re.search(r"terraform apply .*image_tag=\$\{CI_COMMIT_SHA\}", apply_cmds) is not None)
    check("each environment applies its own tfvars and state key",
          '-var-file="environments/$${DEPLOY_ENV}.tfvars"' in apply_cmds
          and "key=frontline/$${DEPLOY_ENV}/terraform.tfstate" in apply_cmds
          and all(re.search(rf'^environment *= *"{e}"', open(os.path.join(os.path.dirname(args.pipeline), "terraform", "environments", f"{e}.tfvars")).read(), re.M)
                  for e in envs))
    push = by_name.get("images-push-staging", {})
    push_cmds = "\n".join(commands(push))
    check("both images are pushed to ECR tagged with ${CI_COMMIT_SHA}",
          "Containerfile.$${img}" in push_cmds and "for img in static proxy" in push_cmds
          and re.search(r"push \S*:\$\{CI_COMMIT_SHA\}", push_cmds) is not None)
    check("each image is a manifest list of linux/amd64 and linux/arm64",
          "--platform \"linux/$${arch}\"" in push_cmds and "for arch in amd64 arm64" in push_cmds
          and "manifest push --all" in push_cmds
          and "--arch all" in "\n".join(commands(by_name.get("binaries", {}))))
    conc = doc.get("concurrency")
    check("deploys are serialised per branch (concurrency limit 1)",
          isinstance(conc, dict) and conc.get("limit") == 1 and "CI_COMMIT_BRANCH" in str(conc.get("group", "")),
          f"concurrency: {conc}")
    wait = by_name.get("wait-stable-staging", {})
    check("the deploy waits for aws ecs wait services-stable",
          any("aws ecs wait services-stable" in c for c in commands(wait)))
    check("services are waited for and described 10 at a time (AWS's limit; up to 11 services)",
          all("xargs -n 10" in c for c in commands(wait) if "services-stable" in c or "describe-services" in c))
    smoke = by_name.get("smoke-test-staging", {})
    check("the smoke test requests / and every smoke_test_urls output (/a/, /b/) expecting 200",
          "smoke_test_urls" in apply_cmds
          and any("smoke_urls" in c for c in commands(smoke)) and any("= 200" in c for c in commands(smoke))
          and any('href="/a/"' in c for c in commands(smoke)))
    order = [s.get("name") for s in steps]
    for e in envs:
        want = ["test-rust", "test-infra", "binaries", f"images-push-{e}", f"terraform-apply-{e}", f"wait-stable-{e}", f"smoke-test-{e}"]
        check(f"steps run in a safe order for {e} (tests, build, push, apply, wait, smoke)",
              all(n in order for n in want) and [n for n in order if n in want] == want, f"order: {order}")

    # --- the README's test commands -------------------------------------------------------
    test_cmds = [m.group(0).strip()
                 for s in steps if s.get("name", "").startswith("test-")
                 for c in commands(s)
                 for m in re.finditer(r"scripts/test\.sh[^\n;&|]*", c)]
    check("test steps run scripts/test.sh rust and scripts/test.sh infra",
          sorted(test_cmds) == ["scripts/test.sh infra", "scripts/test.sh rust"], f"found: {test_cmds}")
    try:
        with open(args.readme) as f:
            readme = f.read()
    except OSError as exc:
        check("README.md exists (it documents the test commands)", False, str(exc))
    else:
        missing = [c for c in test_cmds if c not in readme]
        check("every test command of the pipeline appears in README.md", test_cmds and not missing,
              f"missing from {args.readme}: {missing}")

    passed = sum(ok for ok, _ in results)
    print(f"pipeline: {passed} passed, {len(results) - passed} failed")
    return 0 if passed == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
