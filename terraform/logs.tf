# CloudWatch log groups, created here (not by the awslogs driver) so retention
# is set and IAM can be scoped to exactly these groups.

resource "aws_cloudwatch_log_group" "site" {
  #checkov:skip=CKV_AWS_158:Access logs of a public static site hold no secrets; CloudWatch Logs encrypts them at rest with AWS-owned keys. A customer-managed key would add cost and key-policy upkeep for no gain here.
  #checkov:skip=CKV_AWS_338:Retention is var.log_retention_days (default 30 days to keep storage cost down); raise it where a policy demands a year.
  for_each = local.sites

  name              = "/ecs/${var.name}/${each.key}"
  retention_in_days = var.log_retention_days

  tags = { Site = each.key }
}

resource "aws_cloudwatch_log_group" "proxy" {
  #checkov:skip=CKV_AWS_158:Access logs of a public static site hold no secrets; CloudWatch Logs encrypts them at rest with AWS-owned keys.
  #checkov:skip=CKV_AWS_338:Retention is var.log_retention_days (default 30 days to keep storage cost down); raise it where a policy demands a year.
  count = var.enable_proxy_service ? 1 : 0

  name              = "/ecs/${var.name}/proxy"
  retention_in_days = var.log_retention_days
}

resource "aws_cloudwatch_log_group" "flow_logs" {
  #checkov:skip=CKV_AWS_158:Flow records (addresses and ports of a public site) are encrypted at rest by CloudWatch Logs with AWS-owned keys; no customer-managed key needed.
  #checkov:skip=CKV_AWS_338:Retention is var.log_retention_days (default 30 days to keep storage cost down); raise it where a policy demands a year.
  count = var.enable_flow_logs ? 1 : 0

  name              = "/vpc/${var.name}/flow-logs"
  retention_in_days = var.log_retention_days
}
