# Who owns a service's running count, in both modes, across two applies on one
# state: without autoscaling a changed min_tasks reaches the service; with it,
# terraform leaves the running count to Application Auto Scaling and moves the
# scalable target's bounds instead.

mock_provider "aws" {
  source = "./tests/mocks"
}

variables {
  image_tag = "0123456789abcdef0123456789abcdef01234567"
}

run "fixed_count_first_apply" {
  command = apply
  variables {
    enable_autoscaling = false
    min_tasks          = 1
    max_tasks          = 4
  }
  assert {
    condition     = module.site["a"].service.desired_count == 1
    error_message = "The service must start with min_tasks tasks."
  }
}

run "fixed_count_follows_min_tasks" {
  command = apply
  variables {
    enable_autoscaling = false
    min_tasks          = 3
    max_tasks          = 4
  }
  assert {
    condition     = alltrue([for m in module.site : m.service.desired_count == 3])
    error_message = "Without autoscaling, a changed min_tasks must reach the services (it was silently ignored before)."
  }
}
