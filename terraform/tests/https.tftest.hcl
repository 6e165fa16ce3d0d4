# With a domain: ACM certificate validated in Route 53, HTTPS listener with the
# TLS 1.3/1.2 policy carrying the routing rules, port 80 redirecting to HTTPS.

mock_provider "aws" {
  source = "./tests/mocks"
}

variables {
  image_tag      = "0123456789abcdef0123456789abcdef01234567"
  domain_name    = "web.example.com"
  hosted_zone_id = "Z0123456789ABCDEFGHIJ"
}

# The real provider fills in the validation record ACM asks for; the mock
# needs to be told what it looks like.
override_resource {
  target = aws_acm_certificate.this
  values = {
    arn = "arn:aws:acm:us-east-1:123456789012:certificate/0e8c3a70-0000-4000-8000-000000000000"
    domain_validation_options = [{
      domain_name           = "web.example.com"
      resource_record_name  = "_3b2c.web.example.com."
      resource_record_type  = "CNAME"
      resource_record_value = "_9f1e.acm-validations.aws."
    }]
  }
}

run "https_with_domain" {
  command = apply

  assert {
    condition     = aws_acm_certificate.this[0].domain_name == "web.example.com" && aws_acm_certificate.this[0].validation_method == "DNS"
    error_message = "The certificate must be for the domain and validated through DNS."
  }

  assert {
    condition = (
      aws_route53_record.cert_validation["web.example.com"].zone_id == "Z0123456789ABCDEFGHIJ" &&
      aws_route53_record.cert_validation["web.example.com"].name == "_3b2c.web.example.com." &&
      aws_route53_record.cert_validation["web.example.com"].type == "CNAME" &&
      aws_route53_record.cert_validation["web.example.com"].records == toset(["_9f1e.acm-validations.aws."]) &&
      aws_acm_certificate_validation.this[0].certificate_arn == aws_acm_certificate.this[0].arn
    )
    error_message = "The validation record ACM asks for must be created in the zone and waited for."
  }

  assert {
    condition = (
      aws_lb_listener.https[0].port == 443 &&
      aws_lb_listener.https[0].protocol == "HTTPS" &&
      aws_lb_listener.https[0].ssl_policy == "ELBSecurityPolicy-TLS13-1-2-2021-06" &&
      aws_lb_listener.https[0].certificate_arn == aws_acm_certificate.this[0].arn
    )
    error_message = "The HTTPS listener must use the validated certificate and the TLS 1.3/1.2 policy."
  }

  assert {
    condition = (
      aws_lb_listener.http.port == 80 &&
      length(aws_lb_listener.http.default_action) == 1 &&
      aws_lb_listener.http.default_action[0].type == "redirect" &&
      aws_lb_listener.http.default_action[0].redirect[0].protocol == "HTTPS" &&
      aws_lb_listener.http.default_action[0].redirect[0].port == "443" &&
      aws_lb_listener.http.default_action[0].redirect[0].status_code == "HTTP_301"
    )
    error_message = "Port 80 must redirect everything to HTTPS with a 301."
  }

  assert {
    condition     = alltrue([for r in aws_lb_listener_rule.site : r.listener_arn == aws_lb_listener.https[0].arn]) && aws_lb_listener_rule.index.listener_arn == aws_lb_listener.https[0].arn
    error_message = "With a domain the routing rules must be on the HTTPS listener."
  }

  assert {
    condition     = toset([for r in aws_vpc_security_group_ingress_rule.alb_public : r.from_port]) == toset([80, 443])
    error_message = "With a domain the ALB must accept 80 (redirect) and 443."
  }

  assert {
    condition = (
      aws_route53_record.alb[0].name == "web.example.com" &&
      aws_route53_record.alb[0].type == "A" &&
      one(aws_route53_record.alb[0].alias).name == aws_lb.this.dns_name &&
      one(aws_route53_record.alb[0].alias).zone_id == aws_lb.this.zone_id
    )
    error_message = "The domain must be an alias record for the ALB."
  }

  assert {
    condition     = output.base_url == "https://web.example.com" && output.site_urls == { a = "https://web.example.com/a/", b = "https://web.example.com/b/" } && output.https_enabled
    error_message = "With a domain the outputs must be HTTPS URLs on the domain."
  }
}

run "proxy_listener_uses_https_with_domain" {
  command = apply

  variables {
    enable_proxy_service = true
  }

  assert {
    condition = (
      aws_lb_listener.proxy[0].protocol == "HTTPS" &&
      aws_lb_listener.proxy[0].ssl_policy == "ELBSecurityPolicy-TLS13-1-2-2021-06" &&
      aws_lb_listener.proxy[0].certificate_arn == aws_acm_certificate.this[0].arn &&
      output.proxy_url == "https://web.example.com:8080"
    )
    error_message = "With a domain the proxy's listener must be HTTPS with the same certificate and policy."
  }
}
