# Security groups form a chain: internet -> ALB (80/443) -> tasks (container
# port only, from the ALB's group only). Rules are separate resources so each
# one has its own description and can be tested on its own. Groups are named by
# prefix and replaced create-before-destroy: a change that forces a new group
# (its description, say) creates the new one first, where a fixed name would
# fail with InvalidGroup.Duplicate.

resource "aws_security_group" "alb" {
  name_prefix = "${var.name}-alb-"
  description = "Public ALB of ${var.name}: HTTP/HTTPS from the internet, out only to the service tasks"
  vpc_id      = aws_vpc.this.id

  tags = { Name = "${var.name}-alb" }

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_security_group" "tasks" {
  name_prefix = "${var.name}-tasks-"
  description = "ECS tasks of ${var.name}: container port from the ALB only, HTTPS out for ECR and CloudWatch Logs"
  vpc_id      = aws_vpc.this.id

  tags = { Name = "${var.name}-tasks" }

  lifecycle {
    create_before_destroy = true
  }
}

# --- ALB ---------------------------------------------------------------------

locals {
  # Port 443 is only opened when there is an HTTPS listener behind it, the
  # proxy's port only when the proxy runs.
  alb_public_ports = concat([80], local.https ? [443] : [], var.enable_proxy_service ? [var.proxy_listener_port] : [])

  alb_ingress = {
    for pair in setproduct(local.alb_public_ports, var.alb_ingress_cidrs) :
    "${pair[0]}-${pair[1]}" => { port = pair[0], cidr = pair[1] }
  }
}

resource "aws_vpc_security_group_ingress_rule" "alb_public" {
  for_each = local.alb_ingress

  security_group_id = aws_security_group.alb.id
  description       = "Public web traffic to the ALB on port ${each.value.port}"
  ip_protocol       = "tcp"
  from_port         = each.value.port
  to_port           = each.value.port
  cidr_ipv4         = each.value.cidr
}

resource "aws_vpc_security_group_egress_rule" "alb_to_tasks" {
  security_group_id            = aws_security_group.alb.id
  description                  = "ALB to the service tasks on the container port (traffic and health checks)"
  ip_protocol                  = "tcp"
  from_port                    = var.container_port
  to_port                      = var.container_port
  referenced_security_group_id = aws_security_group.tasks.id
}

# --- Tasks -------------------------------------------------------------------

resource "aws_vpc_security_group_ingress_rule" "tasks_from_alb" {
  security_group_id            = aws_security_group.tasks.id
  description                  = "Container port from the ALB only"
  ip_protocol                  = "tcp"
  from_port                    = var.container_port
  to_port                      = var.container_port
  referenced_security_group_id = aws_security_group.alb.id
}

# On Fargate the task's own ENI pulls the image (ECR API, registry and the S3
# layer store) and ships logs to CloudWatch, all over HTTPS through the NAT
# gateway; their addresses are not fixed, hence 0.0.0.0/0 on 443 only. DNS goes
# to the VPC resolver, which security groups do not filter.
resource "aws_vpc_security_group_egress_rule" "tasks_https" {
  security_group_id = aws_security_group.tasks.id
  description       = "HTTPS to AWS APIs (ECR image pulls, CloudWatch Logs) through NAT"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}

# --- Optional proxy --------------------------------------------------------------
# The proxy gets a group of its own: the ALB may reach it, and it is the only
# thing besides the ALB that may reach the site tasks. Site tasks still cannot
# talk to each other.

resource "aws_security_group" "proxy" {
  count = var.enable_proxy_service ? 1 : 0

  name_prefix = "${var.name}-proxy-"
  description = "Proxy tasks of ${var.name}: container port from the ALB, out to the site tasks and HTTPS"
  vpc_id      = aws_vpc.this.id

  tags = { Name = "${var.name}-proxy" }

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_egress_rule" "alb_to_proxy" {
  count = var.enable_proxy_service ? 1 : 0

  security_group_id            = aws_security_group.alb.id
  description                  = "ALB to the proxy tasks on the container port"
  ip_protocol                  = "tcp"
  from_port                    = var.container_port
  to_port                      = var.container_port
  referenced_security_group_id = aws_security_group.proxy[0].id
}

resource "aws_vpc_security_group_ingress_rule" "proxy_from_alb" {
  count = var.enable_proxy_service ? 1 : 0

  security_group_id            = aws_security_group.proxy[0].id
  description                  = "Container port from the ALB only"
  ip_protocol                  = "tcp"
  from_port                    = var.container_port
  to_port                      = var.container_port
  referenced_security_group_id = aws_security_group.alb.id
}

resource "aws_vpc_security_group_egress_rule" "proxy_to_tasks" {
  count = var.enable_proxy_service ? 1 : 0

  security_group_id            = aws_security_group.proxy[0].id
  description                  = "Proxy to the site tasks on the container port"
  ip_protocol                  = "tcp"
  from_port                    = var.container_port
  to_port                      = var.container_port
  referenced_security_group_id = aws_security_group.tasks.id
}

resource "aws_vpc_security_group_egress_rule" "proxy_https" {
  count = var.enable_proxy_service ? 1 : 0

  security_group_id = aws_security_group.proxy[0].id
  description       = "HTTPS to AWS APIs (ECR image pulls, CloudWatch Logs) through NAT"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_vpc_security_group_ingress_rule" "tasks_from_proxy" {
  count = var.enable_proxy_service ? 1 : 0

  security_group_id            = aws_security_group.tasks.id
  description                  = "Container port from the proxy tasks"
  ip_protocol                  = "tcp"
  from_port                    = var.container_port
  to_port                      = var.container_port
  referenced_security_group_id = aws_security_group.proxy[0].id
}

# --- Metrics -----------------------------------------------------------------
# Prometheus scrapes from inside the VPC (metrics_cidrs, the VPC CIDR by default);
# the ALB's security group has no rule to this port and no target group uses it.
resource "aws_vpc_security_group_ingress_rule" "tasks_metrics" {
  for_each = toset(local.metrics_cidrs)

  security_group_id = aws_security_group.tasks.id
  description       = "Prometheus metrics from inside the VPC"
  ip_protocol       = "tcp"
  from_port         = var.metrics_port
  to_port           = var.metrics_port
  cidr_ipv4         = each.value
}

resource "aws_vpc_security_group_ingress_rule" "proxy_metrics" {
  for_each = var.enable_proxy_service ? toset(local.metrics_cidrs) : toset([])

  security_group_id = aws_security_group.proxy[0].id
  description       = "Prometheus metrics from inside the VPC"
  ip_protocol       = "tcp"
  from_port         = var.metrics_port
  to_port           = var.metrics_port
  cidr_ipv4         = each.value
}
