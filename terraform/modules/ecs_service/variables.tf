variable "name" {
  description = "ECS service name."
  type        = string
}

variable "family" {
  description = "Task definition family."
  type        = string
}

variable "cluster_id" {
  description = "ECS cluster ID."
  type        = string
}

variable "container" {
  description = "The task's one container definition (an object; JSON-encoded here)."
  type        = any
}

variable "container_port" {
  description = "Port of the container behind the target group."
  type        = number
}

variable "cpu" {
  description = "Fargate task CPU units."
  type        = number
}

variable "memory" {
  description = "Fargate task memory in MiB."
  type        = number
}

variable "cpu_architecture" {
  description = "ARM64 or X86_64."
  type        = string
}

variable "execution_role_arn" {
  description = "Role the ECS agent uses to pull images and write logs."
  type        = string
}

variable "task_role_arn" {
  description = "Role the container runs with."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets of the tasks."
  type        = list(string)
}

variable "security_group_ids" {
  description = "Security groups of the tasks."
  type        = list(string)
}

variable "target_group_arn" {
  description = "ALB target group the tasks register with."
  type        = string
}

variable "registry_arn" {
  description = "Cloud Map service to register the tasks in, or null."
  type        = string
  default     = null
}

variable "desired_count" {
  description = "Tasks to run (with autoscaling: only at creation; Application Auto Scaling owns it afterwards)."
  type        = number
}

variable "autoscaling" {
  description = "Whether Application Auto Scaling owns the running count."
  type        = bool
}

variable "health_check_grace_period" {
  description = "Seconds ECS ignores failing ALB health checks of a new task."
  type        = number
}

variable "deployment_alarm_names" {
  description = "CloudWatch alarms that roll a deployment back when they fire."
  type        = list(string)
}

variable "tags" {
  description = "Tags of the task definition and the service."
  type        = map(string)
  default     = {}
}
