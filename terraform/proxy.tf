# Optional: the `proxy` image as a service, the way compose.yaml runs it
# locally, for comparing it with the ALB's own routing. Everything here exists
# only with enable_proxy_service = true.
#
#   ALB :proxy_listener_port -> proxy tasks -> /a -> a.<name>.internal:8080 (site a tasks)
#                                           -> /b -> b.<name>.internal:8080 (site b tasks)
#
# The site services keep STATIC_BASE_PATH=/<site> for the ALB's own rules, so
# the proxy forwards paths unchanged (the route option keep-prefix). It
# re-resolves the Cloud Map names every few seconds, so replaced tasks are found.

locals {
  proxy_routes = join(",", [
    for site in var.sites : "/${site}=http://${site}.${local.service_discovery_namespace}:${var.container_port};keep-prefix"
  ])

  proxy_container = merge(local.container_hardening, {
    name         = "proxy"
    image        = "${aws_ecr_repository.this["proxy"].repository_url}:${var.image_tag}"
    essential    = true
    portMappings = local.port_mappings
    # Plain HTTP only: TLS ends at the ALB (the proxy opens its TLS listener
    # only when PROXY_CERT is set, and it is not).
    environment = concat([
      { name = "PROXY_LISTEN", value = "0.0.0.0:${var.container_port}" },
      { name = "PROXY_ROUTES", value = local.proxy_routes },
      { name = "PROXY_HEALTH_PATH", value = "/healthz" },
      { name = "PROXY_LOG_FORMAT", value = var.log_format },
      { name = "PROXY_SHUTDOWN_GRACE", value = tostring(var.shutdown_grace_seconds) },
      ],
      var.metrics_port == null ? [] : [{ name = "PROXY_METRICS_LISTEN", value = "0.0.0.0:${var.metrics_port}" }],
    )
    healthCheck = {
      command     = ["CMD", "/proxy", "health", "http://127.0.0.1:${var.container_port}/healthz"]
      interval    = 15
      timeout     = 5
      retries     = 3
      startPeriod = 10
    }
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        "awslogs-group"         = one(aws_cloudwatch_log_group.proxy[*].name)
        "awslogs-region"        = var.aws_region
        "awslogs-stream-prefix" = "proxy"
        "mode"                  = "non-blocking"
        "max-buffer-size"       = "4m"
      }
    }
    mountPoints = []
    volumesFrom = []
  })
}

# --- Service discovery for the site services ----------------------------------

resource "aws_service_discovery_private_dns_namespace" "this" {
  count = var.enable_proxy_service ? 1 : 0

  name        = local.service_discovery_namespace
  description = "Private names of the ${var.name} site services, for the proxy"
  vpc         = aws_vpc.this.id
}

resource "aws_service_discovery_service" "site" {
  for_each = var.enable_proxy_service ? local.sites : {}

  name = each.key

  dns_config {
    namespace_id   = aws_service_discovery_private_dns_namespace.this[0].id
    routing_policy = "MULTIVALUE"

    # Short TTL: tasks come and go with deployments and scaling.
    dns_records {
      type = "A"
      ttl  = 10
    }
  }

  # ECS reports task health to Cloud Map; unhealthy tasks leave the answers.
  health_check_custom_config {
    failure_threshold = 1
  }
}

# --- Load balancer -------------------------------------------------------------

resource "aws_lb_target_group" "proxy" {
  count = var.enable_proxy_service ? 1 : 0

  name_prefix          = "proxy-" # see the site target groups in alb.tf
  port                 = var.container_port
  protocol             = "HTTP"
  protocol_version     = "HTTP1"
  target_type          = "ip"
  vpc_id               = aws_vpc.this.id
  deregistration_delay = var.deregistration_delay

  health_check {
    enabled             = true
    protocol            = "HTTP"
    port                = "traffic-port"
    path                = "/healthz"
    matcher             = "200"
    interval            = 15
    timeout             = 5
    healthy_threshold   = 2
    unhealthy_threshold = 3
  }

  tags = { Name = "${var.name}-proxy" }

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_lb_listener" "proxy" {
  count = var.enable_proxy_service ? 1 : 0

  load_balancer_arn = aws_lb.this.arn
  port              = var.proxy_listener_port
  protocol          = local.https ? "HTTPS" : "HTTP"
  ssl_policy        = local.https ? "ELBSecurityPolicy-TLS13-1-2-2021-06" : null
  certificate_arn   = local.https ? aws_acm_certificate_validation.this[0].certificate_arn : null

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.proxy[0].arn
  }
}

# --- Task and service ----------------------------------------------------------

module "proxy" {
  source = "./modules/ecs_service"
  count  = var.enable_proxy_service ? 1 : 0

  name                      = "${var.name}-proxy"
  family                    = "${var.name}-proxy"
  cluster_id                = aws_ecs_cluster.this.id
  container                 = local.proxy_container
  container_port            = var.container_port
  cpu                       = var.task_cpu
  memory                    = var.task_memory
  cpu_architecture          = var.cpu_architecture
  execution_role_arn        = aws_iam_role.execution.arn
  task_role_arn             = aws_iam_role.task.arn
  subnet_ids                = aws_subnet.private[*].id
  security_group_ids        = [aws_security_group.proxy[0].id]
  target_group_arn          = aws_lb_target_group.proxy[0].arn
  desired_count             = var.min_tasks
  autoscaling               = var.enable_autoscaling
  health_check_grace_period = var.health_check_grace_period
  deployment_alarm_names    = local.deployment_alarm_names["proxy"]

  depends_on = [aws_lb_listener.proxy, aws_iam_role_policy.execution, terraform_data.service_sizing]
}
