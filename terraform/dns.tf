# Optional domain: an ACM certificate validated through Route 53 and an alias
# record for the ALB. All of it exists only when domain_name is set.

resource "aws_acm_certificate" "this" {
  count = local.https ? 1 : 0

  domain_name       = var.domain_name
  validation_method = "DNS"

  tags = { Name = var.domain_name }

  # A renamed domain gets its new certificate before the listener lets go of
  # the old one.
  lifecycle {
    create_before_destroy = true
  }
}

# Keyed by the domain name (known at plan time) rather than by the
# certificate's computed validation options, so for_each never depends on
# values that only exist after apply.
resource "aws_route53_record" "cert_validation" {
  for_each = local.https ? toset([var.domain_name]) : toset([])

  zone_id         = var.hosted_zone_id
  name            = one([for o in aws_acm_certificate.this[0].domain_validation_options : o.resource_record_name if o.domain_name == each.key])
  type            = one([for o in aws_acm_certificate.this[0].domain_validation_options : o.resource_record_type if o.domain_name == each.key])
  records         = [one([for o in aws_acm_certificate.this[0].domain_validation_options : o.resource_record_value if o.domain_name == each.key])]
  ttl             = 60
  allow_overwrite = true
}

resource "aws_acm_certificate_validation" "this" {
  count = local.https ? 1 : 0

  certificate_arn         = aws_acm_certificate.this[0].arn
  validation_record_fqdns = [for r in aws_route53_record.cert_validation : r.fqdn]
}

resource "aws_route53_record" "alb" {
  count = local.https ? 1 : 0

  zone_id = var.hosted_zone_id
  name    = var.domain_name
  type    = "A"

  alias {
    name                   = aws_lb.this.dns_name
    zone_id                = aws_lb.this.zone_id
    evaluate_target_health = true
  }
}
