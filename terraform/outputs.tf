# What a person or the pipeline needs after an apply: where the site is, where
# to push images, and what to wait for.

output "alb_dns_name" {
  description = "DNS name of the Application Load Balancer."
  value       = aws_lb.this.dns_name
}

output "alb_zone_id" {
  description = "Route 53 zone ID of the ALB (for alias records made elsewhere)."
  value       = aws_lb.this.zone_id
}

output "base_url" {
  description = "Root URL of the deployment: https://<domain_name> with a domain, else http://<ALB DNS name>."
  value       = local.base_url
}

output "site_urls" {
  description = "URL of each site, e.g. { a = \"http://<alb>/a/\", b = \"http://<alb>/b/\" }."
  value       = { for site in var.sites : site => "${local.base_url}/${site}/" }
}

output "proxy_url" {
  description = "Base URL of the optional proxy service (null when enable_proxy_service is off); <proxy_url>/a/ goes through the proxy to site a."
  value       = var.enable_proxy_service ? "${local.base_url}:${var.proxy_listener_port}" : null
}

output "smoke_test_urls" {
  description = "URLs that must answer 200 after a deploy: each site directly, and through the proxy when it runs."
  value = concat(
    [for site in var.sites : "${local.base_url}/${site}/"],
    var.enable_proxy_service ? [for site in var.sites : "${local.base_url}:${var.proxy_listener_port}/${site}/"] : [],
  )
}

output "https_enabled" {
  description = "Whether the ALB serves HTTPS (true only when domain_name is set)."
  value       = local.https
}

output "ecr_repository_urls" {
  description = "ECR repository URL per image, { static = ..., proxy = ... }; push <url>:<image_tag>."
  value       = { for k, r in aws_ecr_repository.this : k => r.repository_url }
}

output "ecs_cluster_name" {
  description = "Name of the ECS cluster."
  value       = aws_ecs_cluster.this.name
}

output "ecs_service_names" {
  description = "ECS service name per site (and \"proxy\" when enable_proxy_service is on); the pipeline waits for all of them."
  value       = merge({ for k, m in module.site : k => m.service.name }, { for m in module.proxy : "proxy" => m.service.name })
}

output "ecs_task_definition_arns" {
  description = "Task definition (family:revision ARN) each site service should run after this apply; the pipeline checks the services' primary deployments against it."
  value       = merge({ for k, m in module.site : k => m.task_definition.arn }, { for m in module.proxy : "proxy" => m.task_definition.arn })
}

output "ecs_service_desired_counts" {
  description = "Desired task count per site service as created (auto scaling may change it later)."
  value       = { for k, m in module.site : k => m.service.desired_count }
}

output "log_group_names" {
  description = "CloudWatch log group per site (and \"proxy\" when enable_proxy_service is on)."
  value       = merge({ for k, g in aws_cloudwatch_log_group.site : k => g.name }, { for g in aws_cloudwatch_log_group.proxy : "proxy" => g.name })
}

output "vpc_id" {
  description = "ID of the VPC."
  value       = aws_vpc.this.id
}

output "private_subnet_ids" {
  description = "Private subnets the tasks run in."
  value       = aws_subnet.private[*].id
}

output "alarm_topic_arn" {
  description = "SNS topic of the CloudWatch alarms: subscribe chat or paging to it."
  value       = aws_sns_topic.alarms.arn
}
