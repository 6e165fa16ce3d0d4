# The default deployment: no domain (HTTP only), two sites, one NAT gateway,
# auto scaling on. Runs against a mocked AWS provider, so `apply` here creates
# nothing; it lets assertions compare IDs and ARNs that only exist after apply.

mock_provider "aws" {
  source = "./tests/mocks"
}

variables {
  image_tag = "0123456789abcdef0123456789abcdef01234567"
}

# Distinct target groups per site, so the routing assertions can tell them
# apart (a mock default would give both the same ARN).
override_resource {
  target = aws_lb_target_group.site["a"]
  values = {
    arn        = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/frontline-a/0000000000000aaa"
    arn_suffix = "targetgroup/frontline-a/0000000000000aaa"
  }
}

override_resource {
  target = aws_lb_target_group.site["b"]
  values = {
    arn        = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/frontline-b/0000000000000bbb"
    arn_suffix = "targetgroup/frontline-b/0000000000000bbb"
  }
}

# Distinct ARNs for the repositories, log groups and roles, so that policy
# assertions prove each statement names exactly our resources.
override_resource {
  target = aws_ecr_repository.this["static"]
  values = {
    arn            = "arn:aws:ecr:us-east-1:123456789012:repository/frontline/static"
    repository_url = "123456789012.dkr.ecr.us-east-1.amazonaws.com/frontline/static"
  }
}

override_resource {
  target = aws_ecr_repository.this["proxy"]
  values = {
    arn            = "arn:aws:ecr:us-east-1:123456789012:repository/frontline/proxy"
    repository_url = "123456789012.dkr.ecr.us-east-1.amazonaws.com/frontline/proxy"
  }
}

override_resource {
  target = aws_cloudwatch_log_group.site["a"]
  values = { arn = "arn:aws:logs:us-east-1:123456789012:log-group:/ecs/frontline/a" }
}

override_resource {
  target = aws_cloudwatch_log_group.site["b"]
  values = { arn = "arn:aws:logs:us-east-1:123456789012:log-group:/ecs/frontline/b" }
}

override_resource {
  target = aws_iam_role.execution
  values = { arn = "arn:aws:iam::123456789012:role/frontline-ecs-execution" }
}

override_resource {
  target = aws_iam_role.task
  values = { arn = "arn:aws:iam::123456789012:role/frontline-ecs-task" }
}

run "network_private_tasks" {
  command = apply

  assert {
    condition     = length(aws_subnet.public) == 2 && length(aws_subnet.private) == 2
    error_message = "Expected one public and one private subnet in each of 2 AZs."
  }

  assert {
    condition     = length(distinct(aws_subnet.private[*].availability_zone)) == 2 && length(distinct(aws_subnet.public[*].availability_zone)) == 2
    error_message = "Subnets of a tier must be spread over different AZs."
  }

  assert {
    condition     = alltrue([for s in concat(aws_subnet.public, aws_subnet.private) : s.map_public_ip_on_launch == false])
    error_message = "No subnet may hand out public IPs automatically."
  }

  assert {
    condition     = length(setintersection(toset(aws_subnet.public[*].cidr_block), toset(aws_subnet.private[*].cidr_block))) == 0
    error_message = "Public and private subnets must not overlap."
  }

  assert {
    condition     = length(aws_nat_gateway.this) == 1 && alltrue([for r in aws_route.private_nat : r.nat_gateway_id == aws_nat_gateway.this[0].id && r.destination_cidr_block == "0.0.0.0/0"])
    error_message = "By default all private route tables must use the single NAT gateway."
  }

  assert {
    condition     = aws_nat_gateway.this[0].subnet_id == aws_subnet.public[0].id
    error_message = "The NAT gateway must sit in a public subnet."
  }

  assert {
    condition     = aws_route.public_internet.gateway_id == aws_internet_gateway.this.id && aws_route.public_internet.route_table_id == aws_route_table.public.id
    error_message = "The public route table must route to the internet gateway."
  }

  assert {
    condition     = toset([for a in aws_route_table_association.private : a.route_table_id]) == toset(aws_route_table.private[*].id)
    error_message = "Private subnets must use the private (NAT) route tables."
  }

  assert {
    condition = alltrue([for s in [for m in module.site : m.service] :
      s.network_configuration[0].assign_public_ip == false &&
      toset(s.network_configuration[0].subnets) == toset(aws_subnet.private[*].id) &&
      toset(s.network_configuration[0].security_groups) == toset([aws_security_group.tasks.id])
    ])
    error_message = "Tasks must run only in the private subnets, without public IP, in the tasks security group."
  }

  assert {
    condition     = length(aws_flow_log.vpc) == 1 && aws_flow_log.vpc[0].vpc_id == aws_vpc.this.id && aws_flow_log.vpc[0].traffic_type == "ALL"
    error_message = "VPC flow logs must be on by default."
  }
}

run "security_group_chain" {
  command = apply

  assert {
    condition     = toset([for r in aws_vpc_security_group_ingress_rule.alb_public : r.from_port]) == toset([80]) && alltrue([for r in aws_vpc_security_group_ingress_rule.alb_public : r.security_group_id == aws_security_group.alb.id && r.to_port == r.from_port && r.cidr_ipv4 == "0.0.0.0/0"])
    error_message = "Without a domain the ALB must accept port 80 (and nothing else) from the internet."
  }

  assert {
    condition = (
      aws_vpc_security_group_ingress_rule.tasks_from_alb.security_group_id == aws_security_group.tasks.id &&
      aws_vpc_security_group_ingress_rule.tasks_from_alb.referenced_security_group_id == aws_security_group.alb.id &&
      aws_vpc_security_group_ingress_rule.tasks_from_alb.cidr_ipv4 == null &&
      aws_vpc_security_group_ingress_rule.tasks_from_alb.from_port == 8080 &&
      aws_vpc_security_group_ingress_rule.tasks_from_alb.to_port == 8080
    )
    error_message = "Tasks must accept only the container port, and only from the ALB's security group."
  }

  assert {
    condition = (
      aws_vpc_security_group_egress_rule.alb_to_tasks.security_group_id == aws_security_group.alb.id &&
      aws_vpc_security_group_egress_rule.alb_to_tasks.referenced_security_group_id == aws_security_group.tasks.id &&
      aws_vpc_security_group_egress_rule.alb_to_tasks.from_port == 8080 &&
      aws_vpc_security_group_egress_rule.alb_to_tasks.to_port == 8080
    )
    error_message = "The ALB may only send to the tasks' security group on the container port."
  }

  assert {
    condition = (
      aws_vpc_security_group_egress_rule.tasks_https.security_group_id == aws_security_group.tasks.id &&
      aws_vpc_security_group_egress_rule.tasks_https.ip_protocol == "tcp" &&
      aws_vpc_security_group_egress_rule.tasks_https.from_port == 443 &&
      aws_vpc_security_group_egress_rule.tasks_https.to_port == 443
    )
    error_message = "Task egress must be limited to HTTPS (image pulls and logs)."
  }

  assert {
    condition     = aws_lb.this.security_groups == toset([aws_security_group.alb.id]) && aws_default_security_group.default.vpc_id == aws_vpc.this.id
    error_message = "The ALB must use its own group, and the VPC's default group must be managed (emptied)."
  }
}

run "load_balancer_routing" {
  command = apply

  assert {
    condition     = aws_lb.this.internal == false && aws_lb.this.load_balancer_type == "application" && toset(aws_lb.this.subnets) == toset(aws_subnet.public[*].id)
    error_message = "The ALB must be internet-facing in the public subnets."
  }

  assert {
    condition     = aws_lb.this.drop_invalid_header_fields == true
    error_message = "The ALB must drop invalid header fields."
  }

  assert {
    condition     = length(aws_lb_listener.https) == 0 && length(aws_acm_certificate.this) == 0 && length(aws_route53_record.alb) == 0
    error_message = "Without a domain there must be no certificate, no HTTPS listener and no DNS record."
  }

  assert {
    condition     = aws_lb_listener.http.port == 80 && aws_lb_listener.http.protocol == "HTTP" && aws_lb_listener.http.default_action[0].type == "fixed-response" && aws_lb_listener.http.default_action[0].fixed_response[0].status_code == "404"
    error_message = "Without a domain, port 80 serves and unknown paths get a 404."
  }

  assert {
    condition = alltrue([for site in ["a", "b"] :
      aws_lb_listener_rule.site[site].listener_arn == aws_lb_listener.http.arn &&
      one(aws_lb_listener_rule.site[site].condition).path_pattern[0].values == toset(["/${site}", "/${site}/*"]) &&
      aws_lb_listener_rule.site[site].action[0].type == "forward" &&
      aws_lb_listener_rule.site[site].action[0].target_group_arn == aws_lb_target_group.site[site].arn
    ])
    error_message = "/a, /a/* must go to site a's target group and /b, /b/* to site b's, on the HTTP listener."
  }

  assert {
    condition = (
      aws_lb_target_group.site["a"].arn != aws_lb_target_group.site["b"].arn &&
      [for lb in module.site["a"].service.load_balancer : lb.target_group_arn] == [aws_lb_target_group.site["a"].arn] &&
      [for lb in module.site["b"].service.load_balancer : lb.target_group_arn] == [aws_lb_target_group.site["b"].arn]
    )
    error_message = "Each service must be registered with its own site's target group only."
  }

  assert {
    condition = (
      one(aws_lb_listener_rule.index.condition).path_pattern[0].values == toset(["/"]) &&
      aws_lb_listener_rule.index.action[0].type == "fixed-response" &&
      aws_lb_listener_rule.index.action[0].fixed_response[0].status_code == "200" &&
      aws_lb_listener_rule.index.action[0].fixed_response[0].content_type == "text/html" &&
      strcontains(aws_lb_listener_rule.index.action[0].fixed_response[0].message_body, "href=\"/a/\"") &&
      strcontains(aws_lb_listener_rule.index.action[0].fixed_response[0].message_body, "href=\"/b/\"") &&
      length(aws_lb_listener_rule.index.action[0].fixed_response[0].message_body) <= 1024
    )
    error_message = "/ must answer with an HTML page (<= 1024 bytes) linking /a/ and /b/."
  }

  assert {
    condition = alltrue([for site in ["a", "b"] :
      aws_lb_target_group.site[site].target_type == "ip" &&
      aws_lb_target_group.site[site].port == 8080 &&
      aws_lb_target_group.site[site].health_check[0].path == "/${site}/" &&
      aws_lb_target_group.site[site].health_check[0].matcher == "200" &&
      tonumber(aws_lb_target_group.site[site].deregistration_delay) == 10
    ])
    error_message = "Target groups must use ip targets, health-check the site's index page and deregister quickly."
  }

  assert {
    condition     = length(module.proxy) == 0 && length(aws_lb_listener.proxy) == 0 && length(aws_security_group.proxy) == 0 && length(aws_service_discovery_private_dns_namespace.this) == 0 && output.proxy_url == null && alltrue([for s in [for m in module.site : m.service] : length(s.service_registries) == 0])
    error_message = "With enable_proxy_service off (the default) nothing of the proxy service may exist."
  }

  assert {
    condition     = output.base_url == "http://${aws_lb.this.dns_name}" && output.site_urls == { a = "http://${aws_lb.this.dns_name}/a/", b = "http://${aws_lb.this.dns_name}/b/" } && output.https_enabled == false
    error_message = "Without a domain the outputs must be plain-HTTP URLs on the ALB's DNS name."
  }
}

run "tasks_and_services" {
  command = apply

  assert {
    condition = alltrue(flatten([for k in ["a", "b"] : [
      for a in [aws_cloudwatch_metric_alarm.five_xx_rate[k], aws_cloudwatch_metric_alarm.unhealthy_hosts[k], aws_cloudwatch_metric_alarm.latency_p99[k], aws_cloudwatch_metric_alarm.below_desired[k]] :
      a.alarm_actions == toset([aws_sns_topic.alarms.arn])
    ]]))
    error_message = "Every service must have its 5xx-rate, unhealthy-hosts, p99-latency and below-desired alarms, notifying the SNS topic."
  }

  assert {
    condition = alltrue([for k in ["a", "b"] :
      one(module.site[k].service.alarms).enable && one(module.site[k].service.alarms).rollback &&
      one(module.site[k].service.alarms).alarm_names == toset([aws_cloudwatch_metric_alarm.five_xx_rate[k].alarm_name, aws_cloudwatch_metric_alarm.unhealthy_hosts[k].alarm_name])
    ])
    error_message = "A deployment that trips its service's 5xx or unhealthy-hosts alarm must roll back."
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.unhealthy_hosts["a"].dimensions["TargetGroup"] == aws_lb_target_group.site["a"].arn_suffix && aws_sns_topic.alarms.kms_master_key_id == "alias/aws/sns"
    error_message = "Alarms must watch the service's own target group; the topic must be encrypted."
  }

  assert {
    condition     = alltrue([for td in [for m in module.site : m.task_definition] : td.skip_destroy])
    error_message = "Replaced task definition revisions must stay registered (skip_destroy), so a circuit-breaker rollback has a target."
  }

  assert {
    condition     = alltrue([for td in [for m in module.site : m.task_definition] : one(td.runtime_platform).cpu_architecture == "ARM64" && one(td.runtime_platform).operating_system_family == "LINUX"])
    error_message = "Tasks must run on Graviton (ARM64) by default."
  }

  assert {
    condition     = one(aws_ecs_cluster.this.setting).name == "containerInsights" && one(aws_ecs_cluster.this.setting).value == "enabled"
    error_message = "Container Insights must be enabled on the cluster."
  }

  assert {
    condition = alltrue([for site in ["a", "b"] :
      module.site[site].task_definition.network_mode == "awsvpc" &&
      module.site[site].task_definition.requires_compatibilities == toset(["FARGATE"]) &&
      module.site[site].task_definition.cpu == "256" &&
      module.site[site].task_definition.memory == "512" &&
      module.site[site].task_definition.execution_role_arn == aws_iam_role.execution.arn &&
      module.site[site].task_definition.task_role_arn == aws_iam_role.task.arn
    ])
    error_message = "Task definitions must be Fargate/awsvpc with the configured size and the two roles."
  }

  assert {
    condition = alltrue([for site in ["a", "b"] : (
      jsondecode(module.site[site].task_definition.container_definitions)[0].readonlyRootFilesystem == true &&
      jsondecode(module.site[site].task_definition.container_definitions)[0].user == "65532:65532" &&
      jsondecode(module.site[site].task_definition.container_definitions)[0].privileged == false &&
      jsondecode(module.site[site].task_definition.container_definitions)[0].linuxParameters.capabilities.drop == ["ALL"]
    )])
    error_message = "Containers must run read-only, as 65532:65532, unprivileged, without capabilities."
  }

  assert {
    condition = alltrue([for site in ["a", "b"] : (
      jsondecode(module.site[site].task_definition.container_definitions)[0].healthCheck.command == ["CMD", "/static", "health", "http://127.0.0.1:8080/${site}/"] &&
      jsondecode(module.site[site].task_definition.container_definitions)[0].stopTimeout == 15 &&
      jsondecode(module.site[site].task_definition.container_definitions)[0].image == "${aws_ecr_repository.this["static"].repository_url}:0123456789abcdef0123456789abcdef01234567"
    )])
    error_message = "Containers must run the static image at image_tag, check themselves with `/static health` and get grace + 5 s to stop."
  }

  assert {
    condition = alltrue([for site in ["a", "b"] : (
      { for e in jsondecode(module.site[site].task_definition.container_definitions)[0].environment : e.name => e.value } == {
        STATIC_LISTEN         = "0.0.0.0:8080"
        STATIC_ROOT           = "/html/${site}"
        STATIC_BASE_PATH      = "/${site}"
        STATIC_LOG_FORMAT     = "json"
        STATIC_SHUTDOWN_GRACE = "10"
        STATIC_METRICS_LISTEN = "0.0.0.0:9145"
      }
    )])
    error_message = "Each site's container must be configured through its environment: own root and URL prefix."
  }

  assert {
    condition = alltrue([for site in ["a", "b"] : (
      jsondecode(module.site[site].task_definition.container_definitions)[0].logConfiguration.logDriver == "awslogs" &&
      jsondecode(module.site[site].task_definition.container_definitions)[0].logConfiguration.options["awslogs-group"] == aws_cloudwatch_log_group.site[site].name
    )])
    error_message = "Containers must log to their own CloudWatch log group."
  }

  assert {
    condition     = alltrue([for g in aws_cloudwatch_log_group.site : g.retention_in_days == 30]) && aws_cloudwatch_log_group.flow_logs[0].retention_in_days == 30
    error_message = "Every log group must have the configured retention."
  }

  assert {
    condition = alltrue([for s in [for m in module.site : m.service] : (
      s.launch_type == "FARGATE" &&
      s.desired_count == 1 &&
      s.deployment_circuit_breaker[0].enable == true &&
      s.deployment_circuit_breaker[0].rollback == true &&
      s.deployment_minimum_healthy_percent == 100 &&
      s.deployment_maximum_percent == 200 &&
      s.health_check_grace_period_seconds == 60 &&
      one(s.load_balancer).container_port == 8080
    )])
    error_message = "Services must roll out with the circuit breaker (rollback), keep 100% healthy and allow a grace period."
  }
}

run "autoscaling" {
  command = apply

  assert {
    condition = alltrue([for site in ["a", "b"] : (
      aws_appautoscaling_target.service[site].min_capacity == 1 &&
      aws_appautoscaling_target.service[site].max_capacity == 4 &&
      aws_appautoscaling_target.service[site].resource_id == "service/${aws_ecs_cluster.this.name}/${module.site[site].service.name}" &&
      aws_appautoscaling_target.service[site].scalable_dimension == "ecs:service:DesiredCount"
    )])
    error_message = "Each service must have a scaling target with the min/max task counts."
  }

  assert {
    condition = alltrue([for site in ["a", "b"] : (
      aws_appautoscaling_policy.cpu[site].policy_type == "TargetTrackingScaling" &&
      aws_appautoscaling_policy.cpu[site].target_tracking_scaling_policy_configuration[0].predefined_metric_specification[0].predefined_metric_type == "ECSServiceAverageCPUUtilization" &&
      aws_appautoscaling_policy.cpu[site].target_tracking_scaling_policy_configuration[0].target_value == 60 &&
      aws_appautoscaling_policy.cpu[site].target_tracking_scaling_policy_configuration[0].scale_in_cooldown == 300 &&
      aws_appautoscaling_policy.cpu[site].target_tracking_scaling_policy_configuration[0].scale_out_cooldown == 60 &&
      aws_appautoscaling_policy.cpu[site].resource_id == aws_appautoscaling_target.service[site].resource_id
    )])
    error_message = "Each service must track average CPU with the configured target and cooldowns."
  }

  assert {
    condition = alltrue([for site in ["a", "b"] : (
      aws_appautoscaling_policy.requests[site].target_tracking_scaling_policy_configuration[0].predefined_metric_specification[0].predefined_metric_type == "ALBRequestCountPerTarget" &&
      aws_appautoscaling_policy.requests[site].target_tracking_scaling_policy_configuration[0].predefined_metric_specification[0].resource_label == "${aws_lb.this.arn_suffix}/${aws_lb_target_group.site[site].arn_suffix}" &&
      aws_appautoscaling_policy.requests[site].target_tracking_scaling_policy_configuration[0].target_value == 1000
    )])
    error_message = "Each service must track ALB requests per target on its own target group."
  }
}

run "iam_least_privilege" {
  command = apply

  assert {
    condition     = aws_iam_role.execution.name != aws_iam_role.task.name && aws_iam_role.execution.arn != aws_iam_role.task.arn && aws_iam_role_policy.execution.role == aws_iam_role.execution.id
    error_message = "Execution and task roles must be separate; the pull/log policy belongs to the execution role."
  }

  assert {
    # Statements on "*" may only grant ecr:GetAuthorizationToken.
    condition = alltrue([for s in jsondecode(aws_iam_role_policy.execution.policy).Statement :
      s.Resource != "*" || s.Action == ["ecr:GetAuthorizationToken"]
    ])
    error_message = "Only ecr:GetAuthorizationToken may be granted on Resource \"*\"."
  }

  assert {
    # Conditionals instead of ||: HCL evaluates both sides of ||, and
    # toset("*") would be an error for the EcrLogin statement.
    condition = alltrue([for s in jsondecode(aws_iam_role_policy.execution.policy).Statement : s.Effect == "Allow" && (
      s.Sid == "EcrLogin" ? s.Action == ["ecr:GetAuthorizationToken"] :
      s.Sid == "PullOwnImages" ? (
        toset(s.Resource) == toset(["arn:aws:ecr:us-east-1:123456789012:repository/frontline/static", "arn:aws:ecr:us-east-1:123456789012:repository/frontline/proxy"]) &&
        toset(s.Action) == toset(["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"])
      ) :
      s.Sid == "WriteOwnLogs" ? (
        toset(s.Resource) == toset(["arn:aws:logs:us-east-1:123456789012:log-group:/ecs/frontline/a:log-stream:*", "arn:aws:logs:us-east-1:123456789012:log-group:/ecs/frontline/b:log-stream:*"]) &&
        toset(s.Action) == toset(["logs:CreateLogStream", "logs:PutLogEvents"])
      ) :
      false
    )])
    error_message = "ECR pull actions must be scoped to our repositories and log writes to our log groups."
  }

  assert {
    condition = (
      jsondecode(aws_iam_role.task.assume_role_policy).Statement[0].Principal.Service == "ecs-tasks.amazonaws.com" &&
      jsondecode(aws_iam_role.task.assume_role_policy).Statement[0].Condition.StringEquals["aws:SourceAccount"] == "123456789012"
    )
    error_message = "Only ECS tasks of this account may assume the task role."
  }

  assert {
    condition = (
      jsondecode(aws_iam_role.execution.assume_role_policy).Statement[0].Principal.Service == "ecs-tasks.amazonaws.com" &&
      !can(jsondecode(aws_iam_role.execution.assume_role_policy).Statement[0].Condition)
    )
    error_message = "The execution role's trust policy must be the one AWS documents (no source conditions)."
  }

  assert {
    condition = alltrue([for s in jsondecode(aws_iam_role_policy.flow_logs[0].policy).Statement :
      s.Sid == "WriteFlowLogGroup" ? s.Resource[0] == aws_cloudwatch_log_group.flow_logs[0].arn :
      s.Sid == "FindFlowLogGroup" ? s.Action == ["logs:DescribeLogGroups"] :
      false
    ])
    error_message = "The flow-logs role may only write to the flow-log group (and find it with DescribeLogGroups)."
  }
}

run "ecr_repositories" {
  command = apply

  assert {
    condition     = keys(aws_ecr_repository.this) == ["proxy", "static"] && alltrue([for r in aws_ecr_repository.this : r.image_tag_mutability == "IMMUTABLE" && r.image_scanning_configuration[0].scan_on_push == true])
    error_message = "There must be a static and a proxy repository with immutable tags and scan on push."
  }

  assert {
    condition     = aws_ecr_repository.this["static"].name == "frontline/static" && aws_ecr_repository.this["proxy"].name == "frontline/proxy"
    error_message = "Repositories must be named <name>/static and <name>/proxy (the pipeline pushes there)."
  }

  assert {
    condition = alltrue([for k, p in aws_ecr_lifecycle_policy.this : (
      p.repository == aws_ecr_repository.this[k].name &&
      [for r in jsondecode(p.policy).rules : r.selection.tagStatus] == ["untagged", "any"] &&
      jsondecode(p.policy).rules[1].selection.countNumber == 30
    )])
    error_message = "Each repository must expire untagged images and keep only the newest images."
  }
}
