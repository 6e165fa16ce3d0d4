# Values derived from the inputs and shared by several files.
locals {
  # First az_count zones of the region. The precondition on the VPC reports a
  # region with too few zones instead of failing inside a slice() call.
  azs = slice(data.aws_availability_zones.available.names, 0, min(var.az_count, length(data.aws_availability_zones.available.names)))

  # Subnets are 4 bits longer than the VPC: with the default /16 each is a /20.
  # Public ones take the low indexes, private ones start at 8 so the two ranges
  # never collide for up to 4 AZs and stay recognisable (10.40.0.0 public,
  # 10.40.128.0 private).
  public_subnet_cidrs  = [for i, _ in local.azs : cidrsubnet(var.vpc_cidr, 4, i)]
  private_subnet_cidrs = [for i, _ in local.azs : cidrsubnet(var.vpc_cidr, 4, 8 + i)]

  nat_gateway_count = var.nat_gateway_per_az ? length(local.azs) : 1

  # HTTPS only exists with a domain: ACM needs a name to issue a certificate for
  # and a zone to validate it in. A domain without a zone is refused by a
  # precondition on the ALB; requiring both here keeps the DNS resources from
  # failing first with a less helpful message.
  https = var.domain_name != null && var.hosted_zone_id != null

  # One entry per site: everything per site is keyed by the site name so adding
  # or removing a site never renumbers the others.
  sites = {
    for i, site in var.sites : site => {
      path_prefix = "/${site}"
      # Rule priorities leave gaps for hand-made rules in between.
      priority = 100 + i * 10
      # The health check and the container check both hit the site's index, a
      # real page, not a synthetic endpoint.
      health_path = "/${site}/"
    }
  }

  # Both images are product artifacts and get a repository. In AWS the ALB does
  # TLS and path routing, so only `static` runs as services; `proxy` is pushed
  # (and scanned) so the same tested image is available to run elsewhere.
  images = toset(["static", "proxy"])

  # stopTimeout gives the server its whole drain period plus a margin before
  # ECS sends SIGKILL (Fargate allows 120 s at most).
  stop_timeout = min(var.shutdown_grace_seconds + 5, 120)

  base_url = local.https ? "https://${var.domain_name}" : "http://${aws_lb.this.dns_name}"

  # Private DNS names of the site services for the optional proxy, e.g.
  # a.frontline.internal; Cloud Map keeps their A records at the tasks' IPs.
  service_discovery_namespace = "${var.name}.internal"

  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
}

locals {
  # The container's ports: the service port (behind the ALB) and, when on, the metrics port,
  # which no target group or listener ever uses (security_groups.tf opens it to the VPC only).
  port_mappings = concat(
    [{ name = "http", containerPort = var.container_port, protocol = "tcp", appProtocol = "http" }],
    var.metrics_port == null ? [] : [{ name = "metrics", containerPort = var.metrics_port, protocol = "tcp", appProtocol = "http" }],
  )
  metrics_cidrs = var.metrics_port == null ? [] : coalesce(var.metrics_cidrs, [var.vpc_cidr])
}
