# IAM, least privilege:
#  - execution role: what ECS itself needs to start a task (pull our images,
#    write to our log groups), nothing else;
#  - task role: what the servers may call at runtime, which is nothing;
#  - flow logs role: write to the flow-log group only.
# Policies are built with jsonencode, not aws_iam_policy_document data sources,
# so they are plain values that tests can decode and assert on.

locals {
  ecr_repository_arns = [for r in aws_ecr_repository.this : r.arn]

  task_log_group_arns = concat(
    [for g in aws_cloudwatch_log_group.site : g.arn],
    [for g in aws_cloudwatch_log_group.proxy : g.arn],
  )

  # The task role: only ECS tasks of this account and region may assume it
  # (confused-deputy protection, as AWS documents for task IAM roles: the
  # aws:SourceAccount and aws:SourceArn conditions).
  task_role_trust_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "EcsTasksOfThisAccount"
      Effect    = "Allow"
      Principal = { Service = "ecs-tasks.amazonaws.com" }
      Action    = "sts:AssumeRole"
      Condition = {
        StringEquals = { "aws:SourceAccount" = local.account_id }
        ArnLike      = { "aws:SourceArn" = "arn:${local.partition}:ecs:${var.aws_region}:${local.account_id}:*" }
      }
    }]
  })

  # The execution role: AWS's documentation for the task execution role gives
  # this trust policy without conditions (the ECS and Fargate agents assume it,
  # and the source-ARN conditions are documented for task roles only), so only
  # what is documented.
  execution_role_trust_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "EcsTasks"
      Effect    = "Allow"
      Principal = { Service = "ecs-tasks.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })
}

# --- Execution role ----------------------------------------------------------

resource "aws_iam_role" "execution" {
  name                 = "${var.name}-ecs-execution"
  description          = "ECS agent for ${var.name}: pull images from its ECR repositories, write to its log groups"
  assume_role_policy   = local.execution_role_trust_policy
  max_session_duration = 3600
}

resource "aws_iam_role_policy" "execution" {
  name = "pull-images-write-logs"
  role = aws_iam_role.execution.id

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        # GetAuthorizationToken has no resource-level permissions: "*" is the
        # only value AWS accepts for it.
        Sid      = "EcrLogin"
        Effect   = "Allow"
        Action   = ["ecr:GetAuthorizationToken"]
        Resource = "*"
      },
      {
        Sid    = "PullOwnImages"
        Effect = "Allow"
        Action = [
          "ecr:BatchCheckLayerAvailability",
          "ecr:BatchGetImage",
          "ecr:GetDownloadUrlForLayer",
        ]
        Resource = local.ecr_repository_arns
      },
      {
        Sid      = "WriteOwnLogs"
        Effect   = "Allow"
        Action   = ["logs:CreateLogStream", "logs:PutLogEvents"]
        Resource = [for arn in local.task_log_group_arns : "${arn}:log-stream:*"]
      },
    ]
  })
}

# --- Task role ---------------------------------------------------------------

# The servers make no AWS API calls, so the task role has no policy at all. It
# exists so that the task never falls back to any other credentials and so a
# future permission has an obvious, separate home.
resource "aws_iam_role" "task" {
  name                 = "${var.name}-ecs-task"
  description          = "Runtime role of the ${var.name} containers; intentionally without permissions"
  assume_role_policy   = local.task_role_trust_policy
  max_session_duration = 3600
}

# --- Flow logs role ----------------------------------------------------------

resource "aws_iam_role" "flow_logs" {
  count = var.enable_flow_logs ? 1 : 0

  name        = "${var.name}-vpc-flow-logs"
  description = "VPC flow logs of ${var.name}: write to the flow-log group only"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "FlowLogsOfThisAccount"
      Effect    = "Allow"
      Principal = { Service = "vpc-flow-logs.amazonaws.com" }
      Action    = "sts:AssumeRole"
      Condition = {
        StringEquals = { "aws:SourceAccount" = local.account_id }
        ArnLike      = { "aws:SourceArn" = "arn:${local.partition}:ec2:${var.aws_region}:${local.account_id}:vpc-flow-log/*" }
      }
    }]
  })
  max_session_duration = 3600
}

resource "aws_iam_role_policy" "flow_logs" {
  count = var.enable_flow_logs ? 1 : 0

  name = "write-flow-logs"
  role = aws_iam_role.flow_logs[0].id

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid      = "WriteFlowLogGroup"
        Effect   = "Allow"
        Action   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
        Resource = [aws_cloudwatch_log_group.flow_logs[0].arn, "${aws_cloudwatch_log_group.flow_logs[0].arn}:*"]
      },
      {
        # The flow-log service checks the group exists with DescribeLogGroups
        # (AWS's documented flow-logs policy); the action lists groups by
        # prefix, so it is scoped to this account's groups of this region.
        Sid      = "FindFlowLogGroup"
        Effect   = "Allow"
        Action   = ["logs:DescribeLogGroups"]
        Resource = ["arn:${local.partition}:logs:${var.aws_region}:${local.account_id}:log-group:*"]
      },
    ]
  })
}
