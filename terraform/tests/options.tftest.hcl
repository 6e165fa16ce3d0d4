# Optional features switched on or off, each planned from an empty state
# (runs in one file share state, so these live apart from defaults.tftest.hcl
# where earlier applies would mask, for example, a changed desired count).

mock_provider "aws" {
  source = "./tests/mocks"
}

variables {
  image_tag = "0123456789abcdef0123456789abcdef01234567"
}

run "nat_gateway_per_az" {
  command = plan

  variables {
    az_count           = 3
    nat_gateway_per_az = true
  }

  assert {
    condition     = length(aws_nat_gateway.this) == 3 && length(aws_eip.nat) == 3 && length(aws_subnet.private) == 3 && length(aws_route.private_nat) == 3
    error_message = "nat_gateway_per_az must create one NAT gateway (and EIP) per AZ."
  }

  assert {
    condition     = aws_subnet.private[2].availability_zone == "us-east-1c" && aws_subnet.private[2].cidr_block == "10.40.160.0/20" && aws_subnet.public[2].cidr_block == "10.40.32.0/20"
    error_message = "Subnets must be carved out of the VPC CIDR per AZ in a stable order."
  }
}

run "scaling_and_logs_configurable" {
  command = plan

  variables {
    enable_autoscaling = false
    enable_flow_logs   = false
    min_tasks          = 2
    max_tasks          = 2
    sites              = ["a", "b", "docs"]
  }

  assert {
    condition     = length(aws_appautoscaling_target.service) == 0 && length(aws_appautoscaling_policy.cpu) == 0 && length(aws_appautoscaling_policy.requests) == 0
    error_message = "enable_autoscaling = false must remove every scaling target and policy."
  }

  assert {
    condition     = length(aws_flow_log.vpc) == 0 && length(aws_iam_role.flow_logs) == 0
    error_message = "enable_flow_logs = false must remove the flow log and its role."
  }

  assert {
    condition     = keys(module.site) == ["a", "b", "docs"] && alltrue([for s in [for m in module.site : m.service] : s.desired_count == 2])
    error_message = "Every site must get a service running min_tasks tasks."
  }

  assert {
    condition     = alltrue([for k, m in module.site : m.service.name == "frontline-${k}"])
    error_message = "Without autoscaling each site is still one service, named as before."
  }

  assert {
    condition     = one(aws_lb_listener_rule.site["docs"].condition).path_pattern[0].values == toset(["/docs", "/docs/*"]) && aws_lb_listener_rule.site["docs"].priority == 120
    error_message = "A third site must get its own path rule."
  }
}

run "site_settings_reach_the_static_server" {
  # apply (against the mock provider): container_definitions is only known then.
  command = apply

  variables {
    site_settings = {
      a = {
        headers  = ["/assets/*: Cache-Control: public, max-age=31536000, immutable", "*.html: Content-Security-Policy: default-src 'self'"]
        fallback = "/index.html"
      }
      b = {
        compress  = false
        list_dirs = true
      }
    }
  }

  assert {
    condition = { for e in jsondecode(module.site["a"].task_definition.container_definitions)[0].environment : e.name => e.value if startswith(e.name, "STATIC_") && !contains(["STATIC_LISTEN", "STATIC_ROOT", "STATIC_BASE_PATH", "STATIC_LOG_FORMAT", "STATIC_SHUTDOWN_GRACE", "STATIC_METRICS_LISTEN"], e.name) } == {
      STATIC_COMPRESS = "on"
      STATIC_HEADERS  = "/assets/*: Cache-Control: public, max-age=31536000, immutable\n*.html: Content-Security-Policy: default-src 'self'"
      STATIC_FALLBACK = "/index.html"
    }
    error_message = "Site a must get its compression, header rules (one per line) and fallback as environment variables."
  }

  assert {
    condition = { for e in jsondecode(module.site["b"].task_definition.container_definitions)[0].environment : e.name => e.value if contains(["STATIC_COMPRESS", "STATIC_HEADERS", "STATIC_FALLBACK", "STATIC_LIST_DIRS"], e.name) } == {
      STATIC_COMPRESS  = "off"
      STATIC_LIST_DIRS = "1"
    }
    error_message = "Site b must get compression off and listings on, and nothing it did not ask for."
  }
}

run "site_settings_are_checked" {
  command = plan

  variables {
    site_settings = {
      nope = { fallback = "index.html" }
    }
  }

  expect_failures = [var.site_settings]
}

run "metrics_inside_the_vpc_only" {
  command = apply

  assert {
    condition = alltrue([for site in ["a", "b"] :
      contains([for e in jsondecode(module.site[site].task_definition.container_definitions)[0].environment : "${e.name}=${e.value}"], "STATIC_METRICS_LISTEN=0.0.0.0:9145") &&
      contains([for p in jsondecode(module.site[site].task_definition.container_definitions)[0].portMappings : p.containerPort], 9145)
    ])
    error_message = "Every site task must serve metrics on 9145 (STATIC_METRICS_LISTEN and a port mapping)."
  }

  assert {
    condition     = [for r in aws_vpc_security_group_ingress_rule.tasks_metrics : r.cidr_ipv4] == [var.vpc_cidr] && alltrue([for r in aws_vpc_security_group_ingress_rule.tasks_metrics : r.from_port == 9145 && r.to_port == 9145])
    error_message = "The metrics port must be open to the VPC CIDR only."
  }

  assert {
    condition     = alltrue([for tg in aws_lb_target_group.site : tg.port == 8080]) && aws_vpc_security_group_egress_rule.alb_to_tasks.from_port == 8080 && aws_vpc_security_group_egress_rule.alb_to_tasks.to_port == 8080
    error_message = "The ALB must never reach the metrics port: target groups and its egress stay on the container port."
  }
}

run "metrics_can_be_turned_off" {
  command = plan

  variables {
    metrics_port = null
  }

  assert {
    condition     = length(aws_vpc_security_group_ingress_rule.tasks_metrics) == 0
    error_message = "metrics_port = null must open no metrics port."
  }
}

run "metrics_port_must_differ_from_the_service_port" {
  command = plan

  variables {
    metrics_port = 8080
  }

  expect_failures = [var.metrics_port]
}

run "arm64_by_default_x86_on_request" {
  command = plan

  variables {
    cpu_architecture = "X86_64"
  }

  assert {
    condition     = alltrue([for td in [for m in module.site : m.task_definition] : one(td.runtime_platform).cpu_architecture == "X86_64"])
    error_message = "cpu_architecture must reach every site task definition."
  }
}

run "alb_access_logs_bucket_made_by_the_stack" {
  command = apply

  variables {
    enable_alb_access_logs = true
  }

  assert {
    condition     = one(aws_lb.this.access_logs).enabled && one(aws_lb.this.access_logs).bucket == aws_s3_bucket.alb_logs[0].id && one(aws_lb.this.access_logs).prefix == "frontline"
    error_message = "The ALB must log into the bucket the stack made, under its name."
  }

  assert {
    condition = (
      jsondecode(aws_s3_bucket_policy.alb_logs[0].policy).Statement[0].Principal.AWS == "arn:aws:iam::127311923021:root" &&
      jsondecode(aws_s3_bucket_policy.alb_logs[0].policy).Statement[0].Resource == "arn:aws:s3:::frontline-alb-logs-20261201/frontline/AWSLogs/123456789012/*" &&
      jsondecode(aws_s3_bucket_policy.alb_logs[0].policy).Statement[1].Principal.Service == "logdelivery.elasticloadbalancing.amazonaws.com" &&
      jsondecode(aws_s3_bucket_policy.alb_logs[0].policy).Statement[2].Effect == "Deny"
    )
    error_message = "Only ELB log delivery may write, only under the stack's prefix, and only over TLS."
  }

  assert {
    condition     = aws_s3_bucket_public_access_block.alb_logs[0].restrict_public_buckets && one(one(aws_s3_bucket_server_side_encryption_configuration.alb_logs[0].rule).apply_server_side_encryption_by_default).sse_algorithm == "AES256" && one(aws_s3_bucket_lifecycle_configuration.alb_logs[0].rule).expiration[0].days == 30
    error_message = "The log bucket must be private, encrypted (SSE-S3, the only kind ALB logs support) and expire logs."
  }
}

run "no_log_bucket_by_default" {
  command = plan

  assert {
    condition     = length(aws_s3_bucket.alb_logs) == 0 && length(aws_lb.this.access_logs) == 0
    error_message = "Access logs are off by default: no bucket."
  }
}
