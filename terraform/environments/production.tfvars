# Production: deployed from a version tag (v*) or a manual "promote" pipeline
# run, with the same commit's images that staging ran (the pipeline passes this
# file and the state key frontline/production/terraform.tfstate).
environment = "production"
name        = "frontline"
aws_region  = "us-east-1"

min_tasks          = 2 # a task in two AZs at all times
max_tasks          = 6
az_count           = 2
nat_gateway_per_az = true
log_retention_days = 90

cpu_architecture = "ARM64"

# alarm_emails = ["oncall@example.com"]
