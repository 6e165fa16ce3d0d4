# Inputs of the stack. Only `image_tag` has no default: every deployment names
# the exact image it runs (the pipeline passes the commit SHA).
#
# Cross-variable rules (CPU/memory pairs, domain needs a zone, min <= max) are
# preconditions in the resources that use them, because variable validation can
# only see its own variable on Terraform < 1.9.

# --- General -----------------------------------------------------------------

variable "environment" {
  description = "Which environment this state is (staging or production): tagged on every resource. Each environment has its own tfvars (environments/<env>.tfvars), name and state key."
  type        = string
  default     = "production"

  validation {
    condition     = contains(["staging", "production"], var.environment)
    error_message = "environment must be staging or production."
  }
}

variable "name" {
  description = "Name prefix for every resource (ALB, cluster, services, ECR repositories `<name>/static` and `<name>/proxy`). Lower case, starts with a letter."
  type        = string
  default     = "frontline"

  validation {
    # Target group names are "<name>-<site>" and may be 32 characters at most.
    condition     = can(regex("^[a-z][a-z0-9-]{1,18}[a-z0-9]$", var.name))
    error_message = "name must be 3-20 characters of a-z, 0-9 and '-', start with a letter and not end with '-'."
  }
}

variable "aws_region" {
  description = "AWS region to deploy into."
  type        = string
  default     = "us-east-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", var.aws_region))
    error_message = "aws_region must look like an AWS region code, e.g. us-east-1 or eu-central-1."
  }
}

variable "tags" {
  description = "Extra tags for every resource (merged into the provider's default tags)."
  type        = map(string)
  default     = {}
}

# --- Images ------------------------------------------------------------------

variable "image_tag" {
  description = "Tag of the images in ECR to run (the services run `static`), normally the git commit SHA that CI pushed. ECR tags are immutable, so a tag always means the same image."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$", var.image_tag))
    error_message = "image_tag must be a valid OCI tag: up to 128 characters of letters, digits, '_', '.', '-', not starting with '.' or '-'."
  }
}

variable "ecr_keep_images" {
  description = "How many images each ECR repository keeps; older ones are expired by the lifecycle policy (untagged ones after a day)."
  type        = number
  default     = 30

  validation {
    condition     = var.ecr_keep_images >= 5 && var.ecr_keep_images <= 1000 && floor(var.ecr_keep_images) == var.ecr_keep_images
    error_message = "ecr_keep_images must be a whole number between 5 and 1000 (keep enough to roll back)."
  }
}

variable "ecr_force_delete" {
  description = "Let `terraform destroy` delete the ECR repositories even if they still hold images. Images are rebuilt from git, so the default favours a clean teardown; set false to protect them."
  type        = bool
  default     = true
}

# --- Network -----------------------------------------------------------------

variable "vpc_cidr" {
  description = "CIDR block of the VPC. Public and private subnets are carved out of it in /(prefix+4) blocks, one of each per AZ."
  type        = string
  default     = "10.40.0.0/16"

  validation {
    condition     = can(cidrhost(var.vpc_cidr, 0)) && tonumber(split("/", var.vpc_cidr)[1]) >= 16 && tonumber(split("/", var.vpc_cidr)[1]) <= 20
    error_message = "vpc_cidr must be an IPv4 CIDR with a prefix between /16 and /20 (subnets are 4 bits smaller, and the ALB needs at least a /27)."
  }
}

variable "az_count" {
  description = "Number of availability zones to spread subnets and tasks over. The ALB needs at least two."
  type        = number
  default     = 2

  validation {
    condition     = var.az_count >= 2 && var.az_count <= 4 && floor(var.az_count) == var.az_count
    error_message = "az_count must be 2, 3 or 4."
  }
}

variable "nat_gateway_per_az" {
  description = "One NAT gateway per AZ (survives the loss of an AZ, costs one NAT gateway each) instead of a single shared one."
  type        = bool
  default     = false
}

variable "enable_flow_logs" {
  description = "Send VPC flow logs (all traffic) to a CloudWatch log group."
  type        = bool
  default     = true
}

# --- Load balancer and DNS ---------------------------------------------------

variable "alb_ingress_cidrs" {
  description = "IPv4 ranges allowed to reach the load balancer on 80/443. The default is the whole internet: it is a public web site."
  type        = list(string)
  default     = ["0.0.0.0/0"]

  validation {
    condition     = length(var.alb_ingress_cidrs) > 0 && alltrue([for c in var.alb_ingress_cidrs : can(cidrhost(c, 0))])
    error_message = "alb_ingress_cidrs must be a non-empty list of IPv4 CIDR blocks."
  }
}

variable "domain_name" {
  description = "Optional DNS name for the site, e.g. web.example.com. When set (with hosted_zone_id), an ACM certificate is issued, the ALB serves HTTPS and redirects HTTP to HTTPS. When null, the ALB serves plain HTTP only."
  type        = string
  default     = null

  validation {
    condition     = var.domain_name == null || can(regex("^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z]{2,63}$", var.domain_name))
    error_message = "domain_name must be a lower-case fully qualified domain name without a trailing dot, or null."
  }
}

variable "hosted_zone_id" {
  description = "ID of the Route 53 public hosted zone that contains domain_name (for the certificate's DNS validation and the alias record). Required when domain_name is set."
  type        = string
  default     = null

  validation {
    condition     = var.hosted_zone_id == null || can(regex("^Z[A-Z0-9]{1,31}$", var.hosted_zone_id))
    error_message = "hosted_zone_id must be a Route 53 zone ID such as Z0123456789ABCDEFGHIJ, or null."
  }
}

variable "alb_deletion_protection" {
  description = "Turn on the ALB's deletion protection. Off by default so `terraform destroy` tears the stack down in one step."
  type        = bool
  default     = false
}

variable "enable_alb_access_logs" {
  description = "ALB access logs to an S3 bucket the stack creates (encrypted, private, versioned, expiring after log_retention_days, with the policy ELB log delivery needs). Off by default: CloudWatch already has the servers' own access logs."
  type        = bool
  default     = false
}

variable "alb_idle_timeout" {
  description = "Seconds the ALB keeps an idle connection open. Must stay below the servers' keep-alive timeout so the ALB, not the server, closes idle connections."
  type        = number
  default     = 30

  validation {
    condition     = var.alb_idle_timeout >= 1 && var.alb_idle_timeout <= 4000
    error_message = "alb_idle_timeout must be between 1 and 4000 seconds."
  }
}

# --- Services ----------------------------------------------------------------

variable "sites" {
  description = "The sites baked into the `static` image under /html/<site>. Each gets its own ECS service, target group and ALB path rule `/<site>` and `/<site>/*`."
  type        = list(string)
  default     = ["a", "b"]

  validation {
    condition     = length(var.sites) >= 1 && length(var.sites) <= 10 && length(distinct(var.sites)) == length(var.sites) && alltrue([for s in var.sites : can(regex("^[a-z0-9]{1,8}$", s)) && s != "proxy"])
    error_message = "sites must be 1-10 distinct names of 1-8 characters a-z0-9, not \"proxy\" (they become URL prefixes and part of AWS resource names)."
  }
}

variable "container_port" {
  description = "Port the servers listen on inside the task (STATIC_LISTEN / PROXY_LISTEN)."
  type        = number
  default     = 8080

  validation {
    # Non-root user: no privileged ports.
    condition     = var.container_port >= 1024 && var.container_port <= 65535
    error_message = "container_port must be between 1024 and 65535 (the containers run as a non-root user)."
  }
}

variable "task_cpu" {
  description = "Fargate task CPU units (256 = 0.25 vCPU)."
  type        = number
  default     = 256

  validation {
    condition     = contains([256, 512, 1024, 2048, 4096], var.task_cpu)
    error_message = "task_cpu must be one of 256, 512, 1024, 2048, 4096."
  }
}

variable "task_memory" {
  description = "Fargate task memory in MiB; must be a valid pair with task_cpu (256: 512-2048, 512: 1024-4096, 1024: 2048-8192, 2048: 4096-16384, 4096: 8192-30720)."
  type        = number
  default     = 512

  validation {
    condition     = var.task_memory >= 512 && var.task_memory <= 30720 && (var.task_memory == 512 || var.task_memory % 1024 == 0)
    error_message = "task_memory must be 512 or a multiple of 1024 up to 30720."
  }
}

variable "static_workers" {
  description = "STATIC_WORKERS for the static server (event-loop threads). Null leaves the server's default."
  type        = number
  default     = null

  validation {
    # HCL does not short-circuit ||, hence the conditional.
    condition     = var.static_workers == null ? true : (var.static_workers >= 1 && var.static_workers <= 64)
    error_message = "static_workers must be between 1 and 64, or null."
  }
}

variable "alarm_emails" {
  description = "Addresses subscribed to the alarms' SNS topic (each confirms by email). Other subscribers (chat, paging) can subscribe to the topic_arn output."
  type        = list(string)
  default     = []
}

variable "alarm_5xx_percent" {
  description = "Alarm (and roll a deployment back) when more than this percent of a service's responses are target 5xx, in 3 of 5 minutes."
  type        = number
  default     = 5
}

variable "alarm_latency_p99_seconds" {
  description = "Alarm when a service's p99 target response time exceeds this, in 3 of 5 minutes."
  type        = number
  default     = 1
}

variable "cpu_architecture" {
  description = "Fargate CPU architecture of the tasks: ARM64 (Graviton, about 20% cheaper per vCPU-hour) or X86_64. The pipeline pushes one manifest list per image with both."
  type        = string
  default     = "ARM64"

  validation {
    condition     = contains(["ARM64", "X86_64"], var.cpu_architecture)
    error_message = "cpu_architecture must be ARM64 or X86_64."
  }
}

variable "metrics_port" {
  description = "Port of the servers' Prometheus metrics (STATIC_METRICS_LISTEN / PROXY_METRICS_LISTEN), reachable from inside the VPC only (metrics_cidrs), never through the ALB. Null turns the listener off."
  type        = number
  default     = 9145

  validation {
    condition     = var.metrics_port == null ? true : (var.metrics_port >= 1024 && var.metrics_port <= 65535 && var.metrics_port != var.container_port)
    error_message = "metrics_port must be between 1024 and 65535 and differ from container_port, or null."
  }
}

variable "metrics_cidrs" {
  description = "Who may scrape metrics_port: CIDRs inside the VPC (default: the whole VPC CIDR, where a Prometheus or an ADOT collector runs)."
  type        = list(string)
  default     = null
}

variable "site_settings" {
  description = <<-EOT
    Per-site features of the static server, keyed by site name (each optional):
    compress (STATIC_COMPRESS; default true: gzip made once per file version),
    headers (STATIC_HEADERS: 'PATTERN: Name: value' rules, e.g.
    "/assets/*: Cache-Control: public, max-age=31536000, immutable"),
    fallback (STATIC_FALLBACK: single-page-app page such as "/index.html"),
    list_dirs (STATIC_LIST_DIRS: directory listings; default false).
  EOT
  type = map(object({
    compress  = optional(bool, true)
    headers   = optional(list(string), [])
    fallback  = optional(string)
    list_dirs = optional(bool, false)
  }))
  default = {}

  validation {
    condition     = alltrue([for site in keys(var.site_settings) : contains(var.sites, site)])
    error_message = "site_settings keys must be names listed in sites."
  }

  validation {
    condition = alltrue(flatten([for cfg in values(var.site_settings) : [
      for h in cfg.headers : can(regex("^[/*][^:\\s]*:\\s*[!#$%&'*+.^_`|~0-9A-Za-z-]+:\\s*[^\\r\\n]+$", h))
    ]]))
    error_message = "Each header rule must read 'PATTERN: Name: value', the pattern starting with / or * (the server checks the rest and exits 2 on a bad one)."
  }

  validation {
    condition = alltrue([for cfg in values(var.site_settings) :
    cfg.fallback == null ? true : can(regex("^/[A-Za-z0-9._~!$&'()*+,;=:@/-]+$", cfg.fallback))])
    error_message = "fallback must be a path in the site such as /index.html."
  }
}

variable "log_format" {
  description = "Access log format of the servers (STATIC_LOG_FORMAT): combined, json or off. JSON is easiest to query in CloudWatch Logs Insights."
  type        = string
  default     = "json"

  validation {
    condition     = contains(["combined", "json", "off"], var.log_format)
    error_message = "log_format must be combined, json or off."
  }
}

variable "shutdown_grace_seconds" {
  description = "Seconds a server drains open connections after SIGTERM (STATIC_SHUTDOWN_GRACE). ECS' stopTimeout is this plus 5 s so the drain is never cut short by SIGKILL."
  type        = number
  default     = 10

  validation {
    # Fargate caps stopTimeout at 120 s.
    condition     = var.shutdown_grace_seconds >= 1 && var.shutdown_grace_seconds <= 115
    error_message = "shutdown_grace_seconds must be between 1 and 115 (Fargate's stopTimeout limit is 120)."
  }
}

variable "deregistration_delay" {
  description = "Seconds the ALB keeps draining a target that is being removed. Short, because the servers finish in-flight requests themselves on SIGTERM."
  type        = number
  default     = 10

  validation {
    condition     = var.deregistration_delay >= 0 && var.deregistration_delay <= 3600
    error_message = "deregistration_delay must be between 0 and 3600 seconds."
  }
}

variable "health_check_grace_period" {
  description = "Seconds ECS ignores failing ALB health checks of a new task (it must pass two checks 15 s apart first)."
  type        = number
  default     = 60

  validation {
    condition     = var.health_check_grace_period >= 0 && var.health_check_grace_period <= 2147483647
    error_message = "health_check_grace_period must not be negative."
  }
}

variable "log_retention_days" {
  description = "Retention of the CloudWatch log groups (container and flow logs)."
  type        = number
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a value CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, ..., 3653)."
  }
}

# --- Scaling -----------------------------------------------------------------

variable "min_tasks" {
  description = "Minimum (and initial) number of tasks per site. 2 keeps a task in two AZs at all times; 1 halves the Fargate bill."
  type        = number
  default     = 1

  validation {
    condition     = var.min_tasks >= 1 && floor(var.min_tasks) == var.min_tasks
    error_message = "min_tasks must be a whole number of at least 1."
  }
}

variable "max_tasks" {
  description = "Maximum number of tasks per site that auto scaling may run."
  type        = number
  default     = 4

  validation {
    condition     = var.max_tasks >= 1 && var.max_tasks <= 100 && floor(var.max_tasks) == var.max_tasks
    error_message = "max_tasks must be a whole number between 1 and 100."
  }
}

variable "enable_autoscaling" {
  description = "Attach target-tracking auto scaling (CPU and requests per target) to each service. Without it the services run min_tasks tasks."
  type        = bool
  default     = true
}

variable "cpu_target_percent" {
  description = "Target average CPU utilisation (%) for the CPU tracking policy."
  type        = number
  default     = 60

  validation {
    condition     = var.cpu_target_percent >= 10 && var.cpu_target_percent <= 90
    error_message = "cpu_target_percent must be between 10 and 90."
  }
}

variable "requests_per_target" {
  description = "Target ALB requests per task per minute (ALBRequestCountPerTarget) for the request tracking policy."
  type        = number
  default     = 1000

  validation {
    condition     = var.requests_per_target >= 1
    error_message = "requests_per_target must be positive."
  }
}

variable "scale_out_cooldown" {
  description = "Seconds after a scale-out before another scale-out may start."
  type        = number
  default     = 60

  validation {
    condition     = var.scale_out_cooldown >= 0 && var.scale_out_cooldown <= 3600
    error_message = "scale_out_cooldown must be between 0 and 3600 seconds."
  }
}

variable "scale_in_cooldown" {
  description = "Seconds after a scale-in before another scale-in may start (longer than scale-out to avoid flapping)."
  type        = number
  default     = 300

  validation {
    condition     = var.scale_in_cooldown >= 0 && var.scale_in_cooldown <= 3600
    error_message = "scale_in_cooldown must be between 0 and 3600 seconds."
  }
}

# --- Optional proxy service --------------------------------------------------

variable "enable_proxy_service" {
  description = "Also run the `proxy` image as an ECS service, as in the local compose setup: reachable on its own ALB listener (proxy_listener_port), routing /<site> to the site services through Cloud Map DNS. Off by default: the ALB already does TLS and path routing, so the proxy is an extra hop."
  type        = bool
  default     = false
}

variable "proxy_listener_port" {
  description = "ALB port in front of the optional proxy service (HTTPS on it when a domain is set)."
  type        = number
  default     = 8080

  validation {
    condition     = var.proxy_listener_port >= 1 && var.proxy_listener_port <= 65535 && !contains([80, 443], var.proxy_listener_port)
    error_message = "proxy_listener_port must be a valid port other than 80 and 443."
  }
}
