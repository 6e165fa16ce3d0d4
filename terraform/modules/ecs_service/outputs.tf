output "task_definition" {
  description = "The task definition resource (arn, family, revision, container_definitions, ...)."
  value       = aws_ecs_task_definition.this
}

output "service" {
  description = "The service resource, whichever of the two variants exists."
  value       = one(concat(aws_ecs_service.scaled, aws_ecs_service.fixed))
}

output "service_name" {
  description = "The service's name (known at plan time)."
  value       = var.name
}
