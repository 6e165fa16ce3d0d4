# One ECS service on Fargate and its task definition: what every service of
# the stack (each site, the proxy) has in common, written once.
#
# Who owns the running count: with autoscaling on, Application Auto Scaling
# does, and terraform ignores desired_count after creation (or every apply
# would reset it); with autoscaling off, terraform does, and a changed
# desired_count is applied. A lifecycle block cannot be conditional, so the
# service exists as one of two resources selected by `autoscaling` that differ
# only in that block (Terraform has no other way; keep them in step). Switching
# autoscaling on or off moves the service between them (see the README for the
# `terraform state mv` that keeps it in place).

resource "aws_ecs_task_definition" "this" {
  family                   = var.family
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = tostring(var.cpu)
  memory                   = tostring(var.memory)
  execution_role_arn       = var.execution_role_arn
  task_role_arn            = var.task_role_arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = var.cpu_architecture # the images are manifest lists of both
  }

  container_definitions = jsonencode([var.container])

  # Keep old revisions registered when a new one replaces them: the deployment
  # circuit breaker and the deployment alarms roll back to the previous
  # revision, which must still exist.
  skip_destroy = true

  tags = var.tags
}

resource "aws_ecs_service" "scaled" {
  count = var.autoscaling ? 1 : 0

  name                               = var.name
  cluster                            = var.cluster_id
  task_definition                    = aws_ecs_task_definition.this.arn
  desired_count                      = var.desired_count
  launch_type                        = "FARGATE"
  platform_version                   = "LATEST"
  deployment_minimum_healthy_percent = 100
  deployment_maximum_percent         = 200
  health_check_grace_period_seconds  = var.health_check_grace_period
  enable_ecs_managed_tags            = true
  propagate_tags                     = "SERVICE"
  tags                               = var.tags

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  alarms {
    alarm_names = var.deployment_alarm_names
    enable      = true
    rollback    = true
  }

  network_configuration {
    subnets          = var.subnet_ids
    security_groups  = var.security_group_ids
    assign_public_ip = false
  }

  load_balancer {
    target_group_arn = var.target_group_arn
    container_name   = var.container.name
    container_port   = var.container_port
  }

  dynamic "service_registries" {
    for_each = var.registry_arn == null ? [] : [var.registry_arn]
    content {
      registry_arn = service_registries.value
    }
  }

  # Application Auto Scaling owns the running count after creation.
  lifecycle {
    ignore_changes = [desired_count]
  }
}

resource "aws_ecs_service" "fixed" {
  count = var.autoscaling ? 0 : 1

  name                               = var.name
  cluster                            = var.cluster_id
  task_definition                    = aws_ecs_task_definition.this.arn
  desired_count                      = var.desired_count
  launch_type                        = "FARGATE"
  platform_version                   = "LATEST"
  deployment_minimum_healthy_percent = 100
  deployment_maximum_percent         = 200
  health_check_grace_period_seconds  = var.health_check_grace_period
  enable_ecs_managed_tags            = true
  propagate_tags                     = "SERVICE"
  tags                               = var.tags

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  alarms {
    alarm_names = var.deployment_alarm_names
    enable      = true
    rollback    = true
  }

  network_configuration {
    subnets          = var.subnet_ids
    security_groups  = var.security_group_ids
    assign_public_ip = false
  }

  load_balancer {
    target_group_arn = var.target_group_arn
    container_name   = var.container.name
    container_port   = var.container_port
  }

  dynamic "service_registries" {
    for_each = var.registry_arn == null ? [] : [var.registry_arn]
    content {
      registry_arn = service_registries.value
    }
  }
}
