# Target-tracking auto scaling per service (each site, and the proxy when it
# runs): one policy on average CPU, one on ALB requests per task. Whichever asks
# for more tasks wins on scale-out; scale-in only happens when both agree.

locals {
  # Keyed by site name plus "proxy" (a site may not be called "proxy").
  scaled_services = merge(
    { for site, m in module.site : site => { service = m.service.name, target_group = aws_lb_target_group.site[site].arn_suffix } },
    { for m in module.proxy : "proxy" => { service = m.service.name, target_group = aws_lb_target_group.proxy[0].arn_suffix } },
  )
  scaled_keys = concat(var.sites, var.enable_proxy_service ? ["proxy"] : [])
}

resource "aws_appautoscaling_target" "service" {
  # Keys come from variables, not from the services, so they are known at plan.
  for_each = var.enable_autoscaling ? toset(local.scaled_keys) : toset([])

  service_namespace  = "ecs"
  scalable_dimension = "ecs:service:DesiredCount"
  resource_id        = "service/${aws_ecs_cluster.this.name}/${local.scaled_services[each.key].service}"
  min_capacity       = var.min_tasks
  max_capacity       = var.max_tasks
}

resource "aws_appautoscaling_policy" "cpu" {
  for_each = aws_appautoscaling_target.service

  name               = "${var.name}-${each.key}-cpu"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = each.value.service_namespace
  scalable_dimension = each.value.scalable_dimension
  resource_id        = each.value.resource_id

  target_tracking_scaling_policy_configuration {
    target_value       = var.cpu_target_percent
    scale_in_cooldown  = var.scale_in_cooldown
    scale_out_cooldown = var.scale_out_cooldown

    predefined_metric_specification {
      predefined_metric_type = "ECSServiceAverageCPUUtilization"
    }
  }
}

resource "aws_appautoscaling_policy" "requests" {
  for_each = aws_appautoscaling_target.service

  name               = "${var.name}-${each.key}-requests"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = each.value.service_namespace
  scalable_dimension = each.value.scalable_dimension
  resource_id        = each.value.resource_id

  target_tracking_scaling_policy_configuration {
    target_value       = var.requests_per_target
    scale_in_cooldown  = var.scale_in_cooldown
    scale_out_cooldown = var.scale_out_cooldown

    predefined_metric_specification {
      predefined_metric_type = "ALBRequestCountPerTarget"
      # "<alb arn suffix>/<target group arn suffix>" identifies the metric.
      resource_label = "${aws_lb.this.arn_suffix}/${local.scaled_services[each.key].target_group}"
    }
  }
}
