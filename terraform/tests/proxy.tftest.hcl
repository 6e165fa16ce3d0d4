# enable_proxy_service = true: the proxy image runs as a third service behind
# its own ALB listener and reaches the site services through Cloud Map.

mock_provider "aws" {
  source = "./tests/mocks"
}

variables {
  image_tag            = "0123456789abcdef0123456789abcdef01234567"
  enable_proxy_service = true
}

override_resource {
  target = aws_security_group.proxy[0]
  values = { id = "sg-0proxy0000000000a" }
}

override_resource {
  target = aws_security_group.tasks
  values = { id = "sg-0tasks0000000000b" }
}

override_resource {
  target = aws_security_group.alb
  values = { id = "sg-0alb000000000000c" }
}

override_resource {
  target = aws_lb_target_group.proxy[0]
  values = {
    arn        = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/frontline-proxy/0000000000000ccc"
    arn_suffix = "targetgroup/frontline-proxy/0000000000000ccc"
  }
}

override_resource {
  target = aws_cloudwatch_log_group.proxy[0]
  values = { arn = "arn:aws:logs:us-east-1:123456789012:log-group:/ecs/frontline/proxy" }
}

override_resource {
  target = aws_service_discovery_service.site["a"]
  values = { arn = "arn:aws:servicediscovery:us-east-1:123456789012:service/srv-aaaaaaaaaaaaaaaa" }
}

override_resource {
  target = aws_service_discovery_service.site["b"]
  values = { arn = "arn:aws:servicediscovery:us-east-1:123456789012:service/srv-bbbbbbbbbbbbbbbb" }
}

run "proxy_service" {
  command = apply

  assert {
    condition = (
      module.proxy[0].service.network_configuration[0].assign_public_ip == false &&
      toset(module.proxy[0].service.network_configuration[0].subnets) == toset(aws_subnet.private[*].id) &&
      toset(module.proxy[0].service.network_configuration[0].security_groups) == toset([aws_security_group.proxy[0].id]) &&
      module.proxy[0].service.deployment_circuit_breaker[0].rollback == true
    )
    error_message = "The proxy runs in the private subnets without public IP, in its own group, with rollback."
  }

  assert {
    condition = (
      jsondecode(module.proxy[0].task_definition.container_definitions)[0].readonlyRootFilesystem == true &&
      jsondecode(module.proxy[0].task_definition.container_definitions)[0].user == "65532:65532" &&
      jsondecode(module.proxy[0].task_definition.container_definitions)[0].image == "${aws_ecr_repository.this["proxy"].repository_url}:0123456789abcdef0123456789abcdef01234567" &&
      jsondecode(module.proxy[0].task_definition.container_definitions)[0].healthCheck.command == ["CMD", "/proxy", "health", "http://127.0.0.1:8080/healthz"] &&
      jsondecode(module.proxy[0].task_definition.container_definitions)[0].logConfiguration.options["awslogs-group"] == aws_cloudwatch_log_group.proxy[0].name
    )
    error_message = "The proxy container runs the proxy image hardened like the others and checks itself on /healthz."
  }

  assert {
    condition = (
      { for e in jsondecode(module.proxy[0].task_definition.container_definitions)[0].environment : e.name => e.value }["PROXY_ROUTES"] ==
      "/a=http://a.frontline.internal:8080;keep-prefix,/b=http://b.frontline.internal:8080;keep-prefix" &&
      !contains([for e in jsondecode(module.proxy[0].task_definition.container_definitions)[0].environment : e.name], "PROXY_CERT")
    )
    error_message = "The proxy must route /a and /b to the sites' Cloud Map names, keeping the prefix, over plain HTTP."
  }

  assert {
    condition = (
      aws_service_discovery_private_dns_namespace.this[0].name == "frontline.internal" &&
      aws_service_discovery_private_dns_namespace.this[0].vpc == aws_vpc.this.id &&
      keys(aws_service_discovery_service.site) == ["a", "b"] &&
      alltrue([for site in ["a", "b"] : one(module.site[site].service.service_registries).registry_arn == aws_service_discovery_service.site[site].arn])
    )
    error_message = "Each site service must register in the private namespace under its site name."
  }

  assert {
    condition = (
      aws_lb_listener.proxy[0].port == 8080 &&
      aws_lb_listener.proxy[0].protocol == "HTTP" &&
      aws_lb_listener.proxy[0].default_action[0].target_group_arn == aws_lb_target_group.proxy[0].arn &&
      aws_lb_target_group.proxy[0].health_check[0].path == "/healthz" &&
      aws_lb_target_group.proxy[0].target_type == "ip" &&
      one(module.proxy[0].service.load_balancer).target_group_arn == aws_lb_target_group.proxy[0].arn
    )
    error_message = "The proxy must sit behind its own ALB listener and target group (health on /healthz)."
  }

  assert {
    condition = (
      aws_vpc_security_group_ingress_rule.proxy_from_alb[0].security_group_id == aws_security_group.proxy[0].id &&
      aws_vpc_security_group_ingress_rule.proxy_from_alb[0].referenced_security_group_id == aws_security_group.alb.id &&
      aws_vpc_security_group_ingress_rule.tasks_from_proxy[0].security_group_id == aws_security_group.tasks.id &&
      aws_vpc_security_group_ingress_rule.tasks_from_proxy[0].referenced_security_group_id == aws_security_group.proxy[0].id &&
      aws_vpc_security_group_egress_rule.proxy_to_tasks[0].referenced_security_group_id == aws_security_group.tasks.id &&
      aws_vpc_security_group_ingress_rule.tasks_from_proxy[0].from_port == 8080 &&
      aws_vpc_security_group_ingress_rule.tasks_from_proxy[0].to_port == 8080 &&
      toset([for r in aws_vpc_security_group_ingress_rule.alb_public : r.from_port]) == toset([80, 8080])
    )
    error_message = "Chain with the proxy: internet -> ALB (80, 8080) -> proxy -> site tasks, each hop on the container port only."
  }

  assert {
    condition = (
      aws_appautoscaling_target.service["proxy"].resource_id == "service/${aws_ecs_cluster.this.name}/${module.proxy[0].service.name}" &&
      aws_appautoscaling_policy.requests["proxy"].target_tracking_scaling_policy_configuration[0].predefined_metric_specification[0].resource_label == "${aws_lb.this.arn_suffix}/targetgroup/frontline-proxy/0000000000000ccc"
    )
    error_message = "The proxy service must scale like the site services, on its own target group."
  }

  assert {
    condition = contains(
      [for s in jsondecode(aws_iam_role_policy.execution.policy).Statement : s if s.Sid == "WriteOwnLogs"][0].Resource,
      "arn:aws:logs:us-east-1:123456789012:log-group:/ecs/frontline/proxy:log-stream:*"
    )
    error_message = "The execution role must be allowed to write the proxy's logs."
  }

  assert {
    condition = (
      output.proxy_url == "http://${aws_lb.this.dns_name}:8080" &&
      output.ecs_service_names == { a = "frontline-a", b = "frontline-b", proxy = "frontline-proxy" } &&
      length(output.smoke_test_urls) == 4 &&
      contains(output.smoke_test_urls, "http://${aws_lb.this.dns_name}:8080/a/")
    )
    error_message = "Outputs must include the proxy so the pipeline waits for it and smoke-tests through it."
  }
}
