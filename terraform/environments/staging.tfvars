# Staging: deployed on every push to main (the pipeline passes this file and the
# state key frontline/staging/terraform.tfstate). Same code as production, fewer
# and smaller tasks, its own name so both can share an account.
environment = "staging"
name        = "frontline-stg"
aws_region  = "us-east-1"

min_tasks          = 1
max_tasks          = 2
az_count           = 2
nat_gateway_per_az = false
log_retention_days = 14

# Staging proves the Graviton images too.
cpu_architecture = "ARM64"
