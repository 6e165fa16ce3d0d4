# CloudWatch alarms to an SNS topic, per service (each site, and the proxy when
# it runs):
#   - 5xx rate: target 5xx responses as a share of requests, over 5 minutes;
#   - unhealthy targets: any target failing its health check for 3 minutes;
#   - slow responses: p99 target response time above alarm_latency_p99_seconds;
#   - running below desired: fewer running tasks than desired for 5 minutes
#     (Container Insights metrics).
# The first two are also each service's deployment alarms: a deployment that
# trips them is rolled back (ECS deployment alarms, next to the circuit
# breaker, which only sees tasks that fail to start).

locals {
  alarmed_services = merge(
    { for site in var.sites : site => {
      service      = "${var.name}-${site}"
      target_group = aws_lb_target_group.site[site].arn_suffix
    } },
    var.enable_proxy_service ? { proxy = {
      service      = "${var.name}-proxy"
      target_group = aws_lb_target_group.proxy[0].arn_suffix
    } } : {},
  )
  # Names are known at plan time (the services reference them).
  deployment_alarm_names = {
    for k in concat(var.sites, var.enable_proxy_service ? ["proxy"] : []) :
    k => ["${var.name}-${k}-5xx-rate", "${var.name}-${k}-unhealthy-hosts"]
  }
}

resource "aws_sns_topic" "alarms" {
  name              = "${var.name}-alarms"
  kms_master_key_id = "alias/aws/sns"
}

resource "aws_sns_topic_subscription" "alarm_email" {
  for_each = toset(var.alarm_emails)

  topic_arn = aws_sns_topic.alarms.arn
  protocol  = "email"
  endpoint  = each.value
}

resource "aws_cloudwatch_metric_alarm" "five_xx_rate" {
  for_each = local.alarmed_services

  alarm_name          = "${var.name}-${each.key}-5xx-rate"
  alarm_description   = "More than ${var.alarm_5xx_percent}% of ${each.value.service}'s responses are 5xx (target errors)."
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.alarm_5xx_percent
  evaluation_periods  = 5
  datapoints_to_alarm = 3
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]

  metric_query {
    id          = "rate"
    expression  = "IF(requests > 0, 100 * errors / requests, 0)"
    label       = "5xx percent"
    return_data = true
  }

  metric_query {
    id = "errors"
    metric {
      namespace   = "AWS/ApplicationELB"
      metric_name = "HTTPCode_Target_5XX_Count"
      period      = 60
      stat        = "Sum"
      dimensions = {
        LoadBalancer = aws_lb.this.arn_suffix
        TargetGroup  = each.value.target_group
      }
    }
  }

  metric_query {
    id = "requests"
    metric {
      namespace   = "AWS/ApplicationELB"
      metric_name = "RequestCount"
      period      = 60
      stat        = "Sum"
      dimensions = {
        LoadBalancer = aws_lb.this.arn_suffix
        TargetGroup  = each.value.target_group
      }
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "unhealthy_hosts" {
  for_each = local.alarmed_services

  alarm_name          = "${var.name}-${each.key}-unhealthy-hosts"
  alarm_description   = "A target of ${each.value.service} fails its ALB health check."
  namespace           = "AWS/ApplicationELB"
  metric_name         = "UnHealthyHostCount"
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 3
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]
  dimensions = {
    LoadBalancer = aws_lb.this.arn_suffix
    TargetGroup  = each.value.target_group
  }
}

resource "aws_cloudwatch_metric_alarm" "latency_p99" {
  for_each = local.alarmed_services

  alarm_name          = "${var.name}-${each.key}-latency-p99"
  alarm_description   = "p99 response time of ${each.value.service} above ${var.alarm_latency_p99_seconds} s."
  namespace           = "AWS/ApplicationELB"
  metric_name         = "TargetResponseTime"
  extended_statistic  = "p99"
  period              = 60
  evaluation_periods  = 5
  datapoints_to_alarm = 3
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.alarm_latency_p99_seconds
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]
  dimensions = {
    LoadBalancer = aws_lb.this.arn_suffix
    TargetGroup  = each.value.target_group
  }
}

resource "aws_cloudwatch_metric_alarm" "below_desired" {
  for_each = local.alarmed_services

  alarm_name          = "${var.name}-${each.key}-below-desired"
  alarm_description   = "${each.value.service} runs fewer tasks than desired."
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  evaluation_periods  = 5
  datapoints_to_alarm = 5
  treat_missing_data  = "breaching" # no data from a running service is a problem too
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]

  metric_query {
    id          = "missing"
    expression  = "desired - running"
    label       = "tasks missing"
    return_data = true
  }

  dynamic "metric_query" {
    for_each = { desired = "DesiredTaskCount", running = "RunningTaskCount" }
    content {
      id = metric_query.key
      metric {
        namespace   = "ECS/ContainerInsights"
        metric_name = metric_query.value
        period      = 60
        stat        = "Average"
        dimensions = {
          ClusterName = aws_ecs_cluster.this.name
          ServiceName = each.value.service
        }
      }
    }
  }
}
