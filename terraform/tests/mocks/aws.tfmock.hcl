# Shared mock of the AWS provider for `terraform test` (mock_provider "aws"
# { source = "./tests/mocks" }). Unset computed attributes get random strings;
# the values here are the ones whose shape matters: zone names feed slice(),
# account and partition feed ARNs in IAM policies, ARN suffixes feed the
# auto scaling resource label, and ARNs that policies refer to look real so a
# failed assertion prints something readable.

mock_data "aws_availability_zones" {
  defaults = {
    names    = ["us-east-1a", "us-east-1b", "us-east-1c", "us-east-1d"]
    zone_ids = ["use1-az1", "use1-az2", "use1-az4", "use1-az6"]
  }
}

mock_data "aws_caller_identity" {
  defaults = {
    account_id = "123456789012"
    arn        = "arn:aws:iam::123456789012:user/terraform"
    user_id    = "AIDAEXAMPLEEXAMPLE"
  }
}

mock_data "aws_partition" {
  defaults = {
    partition          = "aws"
    dns_suffix         = "amazonaws.com"
    reverse_dns_prefix = "com.amazonaws"
  }
}

mock_resource "aws_lb" {
  defaults = {
    arn        = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/frontline/50dc6c495c0c9188"
    arn_suffix = "app/frontline/50dc6c495c0c9188"
    dns_name   = "frontline-1234567890.us-east-1.elb.amazonaws.com"
    zone_id    = "Z35SXDOTRQ7X7K"
  }
}

mock_resource "aws_lb_target_group" {
  defaults = {
    arn        = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/frontline-site/73e2d6bc24d8a067"
    arn_suffix = "targetgroup/frontline-site/73e2d6bc24d8a067"
  }
}

mock_resource "aws_ecr_repository" {
  defaults = {
    arn            = "arn:aws:ecr:us-east-1:123456789012:repository/frontline/image"
    repository_url = "123456789012.dkr.ecr.us-east-1.amazonaws.com/frontline/image"
  }
}

mock_resource "aws_cloudwatch_log_group" {
  defaults = {
    arn = "arn:aws:logs:us-east-1:123456789012:log-group:/mock/frontline"
  }
}

mock_resource "aws_iam_role" {
  defaults = {
    arn = "arn:aws:iam::123456789012:role/frontline-mock"
  }
}

mock_resource "aws_acm_certificate" {
  defaults = {
    arn = "arn:aws:acm:us-east-1:123456789012:certificate/0e8c3a70-0000-4000-8000-000000000000"
  }
}

# The provider validates ARN-typed arguments even under a mock, so resources
# whose ARN is passed to another resource need ARN-shaped defaults.
mock_resource "aws_lb_listener" {
  defaults = {
    arn = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/frontline/50dc6c495c0c9188/f2f7dc8efc522ab2"
  }
}

mock_resource "aws_service_discovery_service" {
  defaults = {
    arn = "arn:aws:servicediscovery:us-east-1:123456789012:service/srv-mock0000000000000"
  }
}

# Alarm actions are validated as ARNs by the provider.
mock_resource "aws_sns_topic" {
  defaults = {
    arn = "arn:aws:sns:us-east-1:123456789012:frontline-alarms"
  }
}

mock_data "aws_elb_service_account" {
  defaults = {
    arn = "arn:aws:iam::127311923021:root"
  }
}

mock_resource "aws_s3_bucket" {
  defaults = {
    arn = "arn:aws:s3:::frontline-alb-logs-20261201"
    id  = "frontline-alb-logs-20261201"
  }
}
