# With autoscaling on, a changed min_tasks moves the scalable target's bounds
# and leaves the running count (Application Auto Scaling's) alone.

mock_provider "aws" {
  source = "./tests/mocks"
}

variables {
  image_tag = "0123456789abcdef0123456789abcdef01234567"
}

run "scaled_first_apply" {
  command = apply
  variables {
    enable_autoscaling = true
    min_tasks          = 1
    max_tasks          = 4
  }
  assert {
    condition     = module.site["a"].service.desired_count == 1 && aws_appautoscaling_target.service["a"].min_capacity == 1
    error_message = "The service must start with min_tasks tasks and the target at min_tasks."
  }
}

run "scaled_count_left_to_autoscaling" {
  command = apply
  variables {
    enable_autoscaling = true
    min_tasks          = 2
    max_tasks          = 4
  }
  assert {
    condition     = module.site["a"].service.desired_count == 1 && aws_appautoscaling_target.service["a"].min_capacity == 2
    error_message = "With autoscaling, terraform must not touch the running count (Application Auto Scaling raises it to the new minimum)."
  }
}
