# Inputs for the apply/destroy against moto_server.
image_tag = "moto-0123456789abcdef"

# moto has no ListTagsForResource for Application Auto Scaling, which the
# provider calls after creating a scalable target; scaling is covered by
# `terraform test` (terraform/tests/defaults.tftest.hcl) instead.
enable_autoscaling = false

# Not the defaults, so the checks prove the inputs reach AWS.
min_tasks          = 2
max_tasks          = 3
log_retention_days = 14

# The optional proxy service too, so the apply creates every resource the
# configuration has (Cloud Map, the proxy's listener, target group and service).
enable_proxy_service = true
