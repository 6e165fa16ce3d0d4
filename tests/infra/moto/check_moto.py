#!/usr/bin/env python3
"""Checks a stack that terraform applied to moto_server, through the AWS APIs.

    check_moto.py applied   --endpoint URL --outputs outputs.json --tfvars moto.tfvars
    check_moto.py destroyed --endpoint URL

`applied` compares what the AWS APIs report (in moto) with what the design
promises and with terraform's outputs; `destroyed` proves that `terraform
destroy` left nothing of ours behind. Prints one "ok"/"FAIL" line per check and
ends with "moto: N passed, M failed"; exits 1 if any check failed.
"""

import argparse
import json
import re
import sys

import boto3

REGION = "us-east-1"
NAME = "frontline"
PORT = 8080
METRICS_PORT = 9145
VPC_CIDR = "10.40.0.0/16"  # the default vpc_cidr

results: list[tuple[bool, str]] = []


def check(name: str, ok: bool, detail: str = "") -> None:
    results.append((bool(ok), name))
    print(f"  {'ok  ' if ok else 'FAIL'} {name}" + ("" if ok or not detail else f"\n       {detail}"))


def client(endpoint: str, service: str):
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def read_tfvars(path: str) -> dict:
    """The simple `key = "string" | number | bool` lines of moto.tfvars."""
    out = {}
    with open(path) as f:
        for line in f:
            m = re.match(r'^\s*(\w+)\s*=\s*(".*"|[0-9.]+|true|false)\s*(#.*)?$', line)
            if m:
                out[m.group(1)] = json.loads(m.group(2))
    return out


def value(outputs: dict, key: str):
    return outputs[key]["value"]


def applied(endpoint: str, outputs: dict, tfvars: dict) -> None:
    ec2 = client(endpoint, "ec2")
    elb = client(endpoint, "elbv2")
    ecs = client(endpoint, "ecs")
    ecr = client(endpoint, "ecr")
    logs = client(endpoint, "logs")

    # --- network ---------------------------------------------------------------
    vpc_id = value(outputs, "vpc_id")
    subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]
    tier = {s["SubnetId"]: {t["Key"]: t["Value"] for t in s.get("Tags", [])}.get("Tier") for s in subnets}
    private = sorted(s for s, t in tier.items() if t == "private")
    public = sorted(s for s, t in tier.items() if t == "public")
    check("VPC has 2 public and 2 private subnets in 2 AZs",
          len(private) == 2 and len(public) == 2
          and len({s["AvailabilityZone"] for s in subnets if s["SubnetId"] in private}) == 2,
          f"subnets: {tier}")
    check("private subnet output matches the private subnets",
          sorted(value(outputs, "private_subnet_ids")) == private)
    check("no subnet maps public IPs on launch",
          all(not s.get("MapPublicIpOnLaunch") for s in subnets))
    nats = [n for n in ec2.describe_nat_gateways(
        Filter=[{"Name": "vpc-id", "Values": [vpc_id]}])["NatGateways"] if n["State"] != "deleted"]
    check("one NAT gateway, in a public subnet",
          len(nats) == 1 and nats[0]["SubnetId"] in public, f"nat gateways: {nats}")
    routes_ok = True
    for sid in private:
        rts = ec2.describe_route_tables(
            Filters=[{"Name": "association.subnet-id", "Values": [sid]}])["RouteTables"]
        default = [r for rt in rts for r in rt["Routes"] if r.get("DestinationCidrBlock") == "0.0.0.0/0"]
        routes_ok &= len(default) == 1 and default[0].get("NatGatewayId") == (nats[0]["NatGatewayId"] if nats else None)
    check("private subnets route 0.0.0.0/0 through the NAT gateway", routes_ok)

    # --- load balancer -----------------------------------------------------------
    lbs = elb.describe_load_balancers(Names=[NAME])["LoadBalancers"]
    lb = lbs[0] if lbs else {}
    check("ALB exists and its DNS name is the alb_dns_name output",
          bool(lb) and lb["DNSName"] == value(outputs, "alb_dns_name") and lb["DNSName"] != "")
    # The provider sends Scheme only for internal ALBs and moto then omits it;
    # AWS' default, and so the absent value, is internet-facing.
    check("ALB is internet-facing in the public subnets",
          lb.get("Scheme", "internet-facing") == "internet-facing" and lb.get("Type") == "application"
          and sorted(az["SubnetId"] for az in lb.get("AvailabilityZones", [])) == public)
    attrs = {a["Key"]: a["Value"] for a in elb.describe_load_balancer_attributes(
        LoadBalancerArn=lb["LoadBalancerArn"])["Attributes"]} if lb else {}
    check("ALB drops invalid header fields",
          attrs.get("routing.http.drop_invalid_header_fields.enabled") == "true", f"attributes: {attrs}")
    listeners = elb.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"] if lb else []
    ports = sorted((l["Port"], l["Protocol"]) for l in listeners)
    check("HTTP listeners on 80 (sites) and 8080 (proxy) only, no HTTPS without a domain",
          ports == [(80, "HTTP"), (PORT, "HTTP")], f"listeners: {ports}")
    by_port = {l["Port"]: l for l in listeners}
    rules = elb.describe_rules(ListenerArn=by_port[80]["ListenerArn"])["Rules"] if 80 in by_port else []
    routes = {}
    index_ok = False
    for r in rules:
        patterns = sorted(v for c in r.get("Conditions", []) if c["Field"] == "path-pattern"
                          for v in c.get("PathPatternConfig", {}).get("Values", c.get("Values", [])))
        action = r["Actions"][0] if r["Actions"] else {}
        if action.get("Type") == "forward":
            routes[tuple(patterns)] = action["TargetGroupArn"]
        if patterns == ["/"] and action.get("Type") == "fixed-response":
            body = action["FixedResponseConfig"].get("MessageBody", "")
            index_ok = action["FixedResponseConfig"]["StatusCode"] == "200" and 'href="/a/"' in body and 'href="/b/"' in body

    check("/ answers with the index page linking /a/ and /b/", index_ok)

    # --- services ------------------------------------------------------------------
    cluster = value(outputs, "ecs_cluster_name")
    names = value(outputs, "ecs_service_names")
    services = ecs.describe_services(cluster=cluster, services=list(names.values()))["services"]
    by_name = {s["serviceName"]: s for s in services}
    check("three ECS services (site a, site b, proxy), all ACTIVE",
          sorted(names) == ["a", "b", "proxy"] and len(services) == 3
          and all(s["status"] == "ACTIVE" for s in services), f"services: {list(by_name)}")
    want = int(tfvars["min_tasks"])
    check(f"desired count of the site services is min_tasks ({want}) and matches the outputs",
          all(by_name.get(names.get(k), {}).get("desiredCount") == want for k in ("a", "b"))
          and value(outputs, "ecs_service_desired_counts") == {"a": want, "b": want},
          f"desired: {[(s['serviceName'], s['desiredCount']) for s in services]}")
    sd = client(endpoint, "servicediscovery")
    namespaces = {n["Name"]: n for n in sd.list_namespaces()["Namespaces"]}
    sd_services = {s["Name"]: s for s in sd.list_services()["Services"]}
    check(f"Cloud Map namespace {NAME}.internal with services a and b",
          namespaces.get(f"{NAME}.internal", {}).get("Type") == "DNS_PRIVATE" and sorted(sd_services) == ["a", "b"],
          f"namespaces: {list(namespaces)}, services: {list(sd_services)}")
    tg_arns = {}
    for site in ("a", "b"):
        svc_name = names.get(site)
        svc = by_name.get(svc_name, {})
        net = svc.get("networkConfiguration", {}).get("awsvpcConfiguration", {})
        check(f"service {site}: Fargate, private subnets only, no public IP",
              svc.get("launchType") == "FARGATE" and sorted(net.get("subnets", [])) == private
              and net.get("assignPublicIp") == "DISABLED", f"network: {net}")
        lbs_of = svc.get("loadBalancers", [])
        tg_arns[site] = lbs_of[0]["targetGroupArn"] if len(lbs_of) == 1 else None
        check(f"service {site}: registered with the target group that /{site} and /{site}/* route to",
              tg_arns[site] is not None and lbs_of[0]["containerPort"] == PORT
              and routes.get((f"/{site}", f"/{site}/*")) == tg_arns[site], f"routes: {routes}")
        tg = elb.describe_target_groups(TargetGroupArns=[tg_arns[site]])["TargetGroups"][0] if tg_arns[site] else {}
        tg_attrs = {a["Key"]: a["Value"] for a in elb.describe_target_group_attributes(
            TargetGroupArn=tg_arns[site])["Attributes"]} if tg_arns[site] else {}
        check(f"target group {site}: ip targets, health check on /{site}/, 10 s deregistration",
              tg.get("TargetType") == "ip" and tg.get("HealthCheckPath") == f"/{site}/"
              and tg_attrs.get("deregistration_delay.timeout_seconds") == "10", f"{tg} {tg_attrs}")
        td = ecs.describe_task_definition(taskDefinition=svc.get("taskDefinition", "missing"))["taskDefinition"]
        c = td["containerDefinitions"][0]
        env = {e["name"]: e["value"] for e in c.get("environment", [])}
        check(f"task {site}: awsvpc, read-only root, user 65532:65532, image at image_tag",
              td.get("networkMode") == "awsvpc" and c.get("readonlyRootFilesystem") is True
              and c.get("user") == "65532:65532" and c.get("privileged") in (False, None)
              and c["image"] == f"{value(outputs, 'ecr_repository_urls')['static']}:{tfvars['image_tag']}"
              and td.get("executionRoleArn") and td.get("taskRoleArn")
              and td["executionRoleArn"] != td["taskRoleArn"], json.dumps(c)[:400])
        check(f"task {site}: serves /html/{site} under /{site}, health via the binary",
              env.get("STATIC_ROOT") == f"/html/{site}" and env.get("STATIC_BASE_PATH") == f"/{site}"
              and c.get("healthCheck", {}).get("command", [])[:3] == ["CMD", "/static", "health"], f"env: {env}")
        registries = [r["registryArn"] for r in svc.get("serviceRegistries", [])]
        check(f"service {site}: registered in Cloud Map as {site}.{NAME}.internal",
              registries == [sd_services.get(site, {}).get("Arn")], f"registries: {registries}")
    check("the two site services use different target groups",
          None not in tg_arns.values() and len(set(tg_arns.values())) == 2)

    # --- proxy ------------------------------------------------------------------------
    proxy = by_name.get(names.get("proxy", ""), {})
    pnet = proxy.get("networkConfiguration", {}).get("awsvpcConfiguration", {})
    plbs = proxy.get("loadBalancers", [])
    ptg = plbs[0]["targetGroupArn"] if len(plbs) == 1 else None
    pl = by_port.get(PORT, {})
    check("proxy service: private subnets, no public IP, behind the :8080 listener",
          sorted(pnet.get("subnets", [])) == private and pnet.get("assignPublicIp") == "DISABLED"
          and ptg is not None and pl.get("DefaultActions", [{}])[0].get("TargetGroupArn") == ptg,
          f"network: {pnet}, lbs: {plbs}")
    ptgd = elb.describe_target_groups(TargetGroupArns=[ptg])["TargetGroups"][0] if ptg else {}
    check("proxy target group: ip targets, health check on /healthz",
          ptgd.get("TargetType") == "ip" and ptgd.get("HealthCheckPath") == "/healthz")
    ptd = ecs.describe_task_definition(taskDefinition=proxy.get("taskDefinition", "missing"))["taskDefinition"]
    pc = ptd["containerDefinitions"][0]
    penv = {e["name"]: e["value"] for e in pc.get("environment", [])}
    check("proxy task: proxy image, read-only, 65532, routes to the Cloud Map names",
          pc["image"] == f"{value(outputs, 'ecr_repository_urls')['proxy']}:{tfvars['image_tag']}"
          and pc.get("readonlyRootFilesystem") is True and pc.get("user") == "65532:65532"
          and penv.get("PROXY_ROUTES") == f"/a=http://a.{NAME}.internal:{PORT};keep-prefix,/b=http://b.{NAME}.internal:{PORT};keep-prefix",
          f"env: {penv}")

    # --- security groups -------------------------------------------------------------
    # Named by prefix (create-before-destroy): found by their Name tag.
    sgs = {t["Value"]: g for g in ec2.describe_security_groups(
        Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["SecurityGroups"]
        for t in g.get("Tags", []) if t["Key"] == "Name"}
    alb_sg, task_sg, proxy_sg = (sgs.get(f"{NAME}-{k}", {}) for k in ("alb", "tasks", "proxy"))

    def only_from_groups(sg: dict, groups: list) -> bool:
        """All ingress is the container port, from exactly these groups, no CIDR (the metrics
        port, open to the VPC CIDR, is checked on its own)."""
        perms = [p for p in sg.get("IpPermissions", []) if p.get("FromPort") != METRICS_PORT]
        return (bool(perms) and all(p.get("FromPort") == PORT and p.get("ToPort") == PORT and not p.get("IpRanges")
                                    for p in perms)
                and sorted(g["GroupId"] for p in perms for g in p.get("UserIdGroupPairs", [])) == sorted(groups))

    metrics_perms = [p for p in task_sg.get("IpPermissions", []) if p.get("FromPort") == METRICS_PORT]
    check("site task group opens the metrics port to the VPC CIDR only",
          len(metrics_perms) == 1 and [r["CidrIp"] for r in metrics_perms[0].get("IpRanges", [])] == [VPC_CIDR]
          and not metrics_perms[0].get("UserIdGroupPairs"), f"{metrics_perms}")
    check("site task group admits only the container port, from the ALB's and the proxy's groups",
          only_from_groups(task_sg, [alb_sg.get("GroupId"), proxy_sg.get("GroupId")]),
          f"ingress: {task_sg.get('IpPermissions')}")
    check("proxy group admits only the container port from the ALB's group",
          only_from_groups(proxy_sg, [alb_sg.get("GroupId")]), f"ingress: {proxy_sg.get('IpPermissions')}")
    check("ALB security group admits only ports 80 and 8080 (the proxy listener)",
          sorted(p.get("FromPort") for p in alb_sg.get("IpPermissions", [])) == [80, PORT])

    # --- ECR and logs --------------------------------------------------------------------
    repos = {r["repositoryName"]: r for r in ecr.describe_repositories()["repositories"]}
    check("ECR repositories frontline/static and frontline/proxy: immutable, scan on push",
          sorted(repos) == [f"{NAME}/proxy", f"{NAME}/static"]
          and all(r["imageTagMutability"] == "IMMUTABLE" and r["imageScanningConfiguration"]["scanOnPush"]
                  for r in repos.values()))
    check("ECR lifecycle policies present",
          all(ecr.get_lifecycle_policy(repositoryName=n).get("lifecyclePolicyText") for n in repos))
    groups = {g["logGroupName"]: g for g in logs.describe_log_groups(logGroupNamePrefix=f"/ecs/{NAME}/")["logGroups"]}
    check(f"log groups per service (a, b, proxy) with {tfvars['log_retention_days']}-day retention",
          sorted(groups) == sorted(value(outputs, "log_group_names").values())
          and sorted(value(outputs, "log_group_names")) == ["a", "b", "proxy"]
          and all(g.get("retentionInDays") == int(tfvars["log_retention_days"]) for g in groups.values()),
          f"groups: {groups}")


def destroyed(endpoint: str) -> None:
    ec2 = client(endpoint, "ec2")
    vpcs = [v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"] if not v.get("IsDefault")]
    check("no VPC left besides the default one", vpcs == [], f"vpcs: {vpcs}")
    eips = ec2.describe_addresses()["Addresses"]
    check("no Elastic IP left", eips == [], f"eips: {eips}")
    lbs = client(endpoint, "elbv2").describe_load_balancers()["LoadBalancers"]
    tgs = client(endpoint, "elbv2").describe_target_groups()["TargetGroups"]
    check("no load balancer or target group left", lbs == [] and tgs == [])
    ecs = client(endpoint, "ecs")
    clusters = ecs.describe_clusters(clusters=[NAME])["clusters"]
    check("no active ECS cluster left", all(c["status"] != "ACTIVE" for c in clusters), f"{clusters}")
    # Task definitions are not checked here: with skip_destroy terraform leaves revisions
    # registered (a circuit-breaker rollback needs the previous one), and moto's own handling
    # of them on destroy is not AWS's; terraform test asserts skip_destroy itself.
    repos = client(endpoint, "ecr").describe_repositories()["repositories"]
    check("no ECR repository left", repos == [], f"{[r['repositoryName'] for r in repos]}")
    groups = client(endpoint, "logs").describe_log_groups()["logGroups"]
    check("no log group left", groups == [], f"{[g['logGroupName'] for g in groups]}")
    roles = [r["RoleName"] for r in client(endpoint, "iam").list_roles()["Roles"] if r["RoleName"].startswith(NAME)]
    check("no IAM role left", roles == [], f"{roles}")
    sd = client(endpoint, "servicediscovery")
    left = [n["Name"] for n in sd.list_namespaces()["Namespaces"]] + [s["Name"] for s in sd.list_services()["Services"]]
    check("no Cloud Map namespace or service left", left == [], f"{left}")
    # moto keeps the private hosted zone it made for a Cloud Map namespace after
    # the namespace is deleted (AWS deletes it); any other zone would be ours.
    zones = [z["Name"] for z in client(endpoint, "route53").list_hosted_zones()["HostedZones"]
             if not z.get("Config", {}).get("Comment", "").startswith("hosted zone for private dns namespace")]
    check("no Route 53 zone of ours left", zones == [], f"{zones}")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("phase", choices=["applied", "destroyed"])
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--outputs")
    ap.add_argument("--tfvars")
    args = ap.parse_args()
    try:
        if args.phase == "applied":
            with open(args.outputs) as f:
                outputs = json.load(f)
            tfvars = read_tfvars(args.tfvars)
            applied(args.endpoint, outputs, tfvars)
        else:
            destroyed(args.endpoint)
    except Exception as exc:  # an API error or a missing output is a failed check, not a crash
        check(f"{args.phase} checks ran to completion", False, f"{type(exc).__name__}: {exc}")
    passed = sum(ok for ok, _ in results)
    print(f"moto: {passed} passed, {len(results) - passed} failed")
    return 0 if results and passed == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
