# ECS on Fargate: one cluster, one task definition and one service per site,
# all running the same `static` image with a different root and URL prefix.

resource "aws_ecs_cluster" "this" {
  name = var.name

  setting {
    name  = "containerInsights"
    value = "enabled"
  }

  tags = { Name = var.name }
}

locals {
  static_image = "${aws_ecr_repository.this["static"].repository_url}:${var.image_tag}"

  # Settings shared by every container we run: the scratch images have no shell
  # and nothing to write, so the root file system is read-only, the process runs
  # as the unprivileged 65532 user without any Linux capability.
  container_hardening = {
    user                   = "65532:65532"
    readonlyRootFilesystem = true
    privileged             = false
    linuxParameters = {
      capabilities = { add = [], drop = ["ALL"] }
    }
    ulimits = [{ name = "nofile", softLimit = 65536, hardLimit = 65536 }]
    # The servers drain on SIGTERM for shutdown_grace_seconds; SIGKILL only
    # after that plus a margin.
    stopTimeout = local.stop_timeout
  }

  site_containers = {
    for site, cfg in local.sites : site => merge(local.container_hardening, {
      name         = "static"
      image        = local.static_image
      essential    = true
      portMappings = local.port_mappings
      # Configuration is environment only; the image carries every site and the
      # task picks one by root and URL prefix, so /a/... works behind the ALB
      # without any path rewriting.
      environment = concat(
        [
          { name = "STATIC_LISTEN", value = "0.0.0.0:${var.container_port}" },
          { name = "STATIC_ROOT", value = "/html/${site}" },
          { name = "STATIC_BASE_PATH", value = cfg.path_prefix },
          { name = "STATIC_LOG_FORMAT", value = var.log_format },
          { name = "STATIC_SHUTDOWN_GRACE", value = tostring(var.shutdown_grace_seconds) },
        ],
        var.static_workers == null ? [] : [{ name = "STATIC_WORKERS", value = tostring(var.static_workers) }],
        var.metrics_port == null ? [] : [{ name = "STATIC_METRICS_LISTEN", value = "0.0.0.0:${var.metrics_port}" }],
        # The site's features (site_settings); absent keys keep the server's defaults.
        [for k, v in {
          STATIC_COMPRESS  = try(var.site_settings[site].compress ? "on" : "off", null)
          STATIC_HEADERS   = try(length(var.site_settings[site].headers) > 0 ? join("\n", var.site_settings[site].headers) : null, null)
          STATIC_FALLBACK  = try(var.site_settings[site].fallback, null)
          STATIC_LIST_DIRS = try(var.site_settings[site].list_dirs ? "1" : null, null)
        } : { name = k, value = v } if v != null],
      )
      # The binary checks itself: no curl or shell exists in a scratch image.
      healthCheck = {
        command     = ["CMD", "/static", "health", "http://127.0.0.1:${var.container_port}${cfg.health_path}"]
        interval    = 15
        timeout     = 5
        retries     = 3
        startPeriod = 10
      }
      logConfiguration = {
        logDriver = "awslogs"
        options = {
          "awslogs-group"         = aws_cloudwatch_log_group.site[site].name
          "awslogs-region"        = var.aws_region
          "awslogs-stream-prefix" = "static"
          # Never block the server on a slow log pipeline.
          "mode"            = "non-blocking"
          "max-buffer-size" = "4m"
        }
      }
      mountPoints = []
      volumesFrom = []
    })
  }
}

# Inputs the task sizes and counts must satisfy together; checked here once, for
# every service, before anything is created.
resource "terraform_data" "service_sizing" {
  input = { cpu = var.task_cpu, memory = var.task_memory }

  lifecycle {
    precondition {
      condition = (
        (var.task_cpu == 256 && contains([512, 1024, 2048], var.task_memory)) ||
        (var.task_cpu == 512 && var.task_memory >= 1024 && var.task_memory <= 4096) ||
        (var.task_cpu == 1024 && var.task_memory >= 2048 && var.task_memory <= 8192) ||
        (var.task_cpu == 2048 && var.task_memory >= 4096 && var.task_memory <= 16384) ||
        (var.task_cpu == 4096 && var.task_memory >= 8192 && var.task_memory <= 30720)
      )
      error_message = "task_cpu and task_memory are not a valid Fargate combination (see the task_memory description)."
    }
    precondition {
      condition     = var.min_tasks <= var.max_tasks
      error_message = "min_tasks must not be larger than max_tasks."
    }
  }
}

# One service per site (modules/ecs_service: task definition, service, rolling
# deployment with circuit breaker and deployment alarms, who owns the count).
module "site" {
  source   = "./modules/ecs_service"
  for_each = local.sites

  name               = "${var.name}-${each.key}"
  family             = "${var.name}-${each.key}"
  cluster_id         = aws_ecs_cluster.this.id
  container          = local.site_containers[each.key]
  container_port     = var.container_port
  cpu                = var.task_cpu
  memory             = var.task_memory
  cpu_architecture   = var.cpu_architecture
  execution_role_arn = aws_iam_role.execution.arn
  task_role_arn      = aws_iam_role.task.arn
  subnet_ids         = aws_subnet.private[*].id
  security_group_ids = [aws_security_group.tasks.id]
  target_group_arn   = aws_lb_target_group.site[each.key].arn
  # With the proxy on, each site registers its tasks' IPs in Cloud Map so the
  # proxy finds them as <site>.<name>.internal.
  registry_arn              = var.enable_proxy_service ? aws_service_discovery_service.site[each.key].arn : null
  desired_count             = var.min_tasks
  autoscaling               = var.enable_autoscaling
  health_check_grace_period = var.health_check_grace_period
  deployment_alarm_names    = local.deployment_alarm_names[each.key]
  tags                      = { Site = each.key }

  # The target group must be attached to a listener before a service can use
  # it, the execution role must keep its policy until the service is gone, and
  # the sizes must be valid first.
  depends_on = [aws_lb_listener_rule.site, aws_iam_role_policy.execution, terraform_data.service_sizing]
}
