# Application Load Balancer in the public subnets. It does the path routing:
# /<site> and /<site>/* go to that site's service, / answers with a small
# index page, everything else gets a 404 from the ALB itself.

locals {
  # ALB fixed responses are limited to 1024 bytes; the page stays far below.
  index_html = join("", [
    "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>${var.name}</title></head><body>",
    "<h1>${var.name}</h1><ul>",
    join("", [for site in var.sites : "<li><a href=\"/${site}/\">/${site}/</a></li>"]),
    "</ul></body></html>",
  ])

  # Listener that carries the routing rules: HTTPS with a domain, else HTTP.
  serving_listener_arn = local.https ? aws_lb_listener.https[0].arn : aws_lb_listener.http.arn
}

resource "aws_lb" "this" {
  #checkov:skip=CKV2_AWS_28:No WAF for a static demo site (a web ACL costs at least 5 USD/month plus rules); attach one with aws_wafv2_web_acl_association when needed.
  #checkov:skip=CKV_AWS_150:Deletion protection is var.alb_deletion_protection, off by default so the documented `terraform destroy` works in one step.
  #checkov:skip=CKV2_AWS_20:With a domain the port-80 listener redirects to HTTPS (301); without a domain there is no certificate and no HTTPS to redirect to, as the README states.
  name               = var.name
  load_balancer_type = "application"
  internal           = false
  security_groups    = [aws_security_group.alb.id]
  subnets            = aws_subnet.public[*].id

  # Reject requests with header names that are not valid HTTP tokens instead of
  # passing them to the servers (request smuggling hygiene).
  drop_invalid_header_fields = true
  enable_deletion_protection = var.alb_deletion_protection
  idle_timeout               = var.alb_idle_timeout
  enable_http2               = true

  dynamic "access_logs" {
    for_each = aws_s3_bucket.alb_logs[*].id
    content {
      bucket  = access_logs.value
      prefix  = var.name
      enabled = true
    }
  }

  tags = { Name = var.name }

  # The ALB checks that it may write to the bucket when logging is turned on.
  depends_on = [aws_s3_bucket_policy.alb_logs]

  lifecycle {
    precondition {
      condition     = var.domain_name == null || var.hosted_zone_id != null
      error_message = "domain_name is set but hosted_zone_id is not: the certificate is validated through that Route 53 zone."
    }
    precondition {
      condition     = var.hosted_zone_id == null || var.domain_name != null
      error_message = "hosted_zone_id is set but domain_name is not; set both or neither."
    }
  }
}

# --- Target groups -----------------------------------------------------------

resource "aws_lb_target_group" "site" {
  #checkov:skip=CKV_AWS_378:TLS terminates at the ALB; the hop to the tasks stays inside the VPC's private subnets and the static server speaks plain HTTP.
  for_each = local.sites

  # A prefix (AWS allows 6 characters) and create-before-destroy: a change that
  # forces a new target group (port, protocol) creates it first and moves the
  # listener rule, where a fixed name would fail with DuplicateTargetGroupName
  # and the old group, in use, could not be deleted (ResourceInUse).
  name_prefix      = "${substr(each.key, 0, 5)}-"
  port             = var.container_port
  protocol         = "HTTP"
  protocol_version = "HTTP1"
  target_type      = "ip" # awsvpc tasks register by ENI address
  vpc_id           = aws_vpc.this.id

  # The servers drain in-flight requests themselves after SIGTERM, so the ALB
  # only needs a short window before ECS stops the task.
  deregistration_delay = var.deregistration_delay

  health_check {
    enabled             = true
    protocol            = "HTTP"
    port                = "traffic-port"
    path                = each.value.health_path
    matcher             = "200"
    interval            = 15
    timeout             = 5
    healthy_threshold   = 2
    unhealthy_threshold = 3
  }

  tags = { Name = "${var.name}-${each.key}", Site = each.key }

  lifecycle {
    create_before_destroy = true
  }
}

# --- Listeners ---------------------------------------------------------------

# Port 80 always exists. With a domain it only redirects to HTTPS; without one
# it is the serving listener. One resource with alternative default actions
# (rather than two resources) lets a stack switch modes in place without two
# listeners fighting over port 80.
resource "aws_lb_listener" "http" {
  #checkov:skip=CKV_AWS_2:Plain HTTP is served only when no domain_name is given (no certificate can exist then); with a domain this listener only redirects to HTTPS.
  #checkov:skip=CKV_AWS_103:TLS policy applies to the HTTPS listener; this one is port 80 (redirect, or HTTP-only mode without a domain).
  load_balancer_arn = aws_lb.this.arn
  port              = 80
  protocol          = "HTTP"

  dynamic "default_action" {
    for_each = local.https ? [1] : []
    content {
      type = "redirect"
      redirect {
        protocol    = "HTTPS"
        port        = "443"
        status_code = "HTTP_301"
      }
    }
  }

  dynamic "default_action" {
    for_each = local.https ? [] : [1]
    content {
      type = "fixed-response"
      fixed_response {
        content_type = "text/plain"
        message_body = "Not Found\n"
        status_code  = "404"
      }
    }
  }
}

resource "aws_lb_listener" "https" {
  count = local.https ? 1 : 0

  load_balancer_arn = aws_lb.this.arn
  port              = 443
  protocol          = "HTTPS"
  # TLS 1.3 and 1.2 with forward-secret ciphers only.
  ssl_policy      = "ELBSecurityPolicy-TLS13-1-2-2021-06"
  certificate_arn = aws_acm_certificate_validation.this[0].certificate_arn

  default_action {
    type = "fixed-response"
    fixed_response {
      content_type = "text/plain"
      message_body = "Not Found\n"
      status_code  = "404"
    }
  }
}

# --- Routing rules -----------------------------------------------------------

resource "aws_lb_listener_rule" "index" {
  listener_arn = local.serving_listener_arn
  priority     = 10

  action {
    type = "fixed-response"
    fixed_response {
      content_type = "text/html"
      message_body = local.index_html
      status_code  = "200"
    }
  }

  condition {
    path_pattern {
      values = ["/"]
    }
  }

  tags = { Name = "${var.name}-index" }
}

resource "aws_lb_listener_rule" "site" {
  for_each = local.sites

  listener_arn = local.serving_listener_arn
  priority     = each.value.priority

  action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.site[each.key].arn
  }

  # "/a" alone and everything below "/a/", but not "/ab".
  condition {
    path_pattern {
      values = [each.value.path_prefix, "${each.value.path_prefix}/*"]
    }
  }

  tags = { Name = "${var.name}-${each.key}", Site = each.key }

  lifecycle {
    create_before_destroy = true
  }
}
