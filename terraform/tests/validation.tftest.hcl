# Bad inputs must be refused at plan time with a clear message, not by AWS
# half-way through an apply.

mock_provider "aws" {
  source = "./tests/mocks"
}

variables {
  image_tag = "v1"
}

run "rejects_invalid_cpu" {
  command = plan
  variables {
    task_cpu = 300
  }
  expect_failures = [var.task_cpu]
}

run "rejects_invalid_cpu_memory_pair" {
  command = plan
  variables {
    task_cpu    = 256
    task_memory = 4096
  }
  expect_failures = [terraform_data.service_sizing]
}

run "rejects_min_above_max" {
  command = plan
  variables {
    min_tasks = 5
    max_tasks = 2
  }
  expect_failures = [terraform_data.service_sizing]
}

run "rejects_domain_without_zone" {
  command = plan
  variables {
    domain_name = "web.example.com"
  }
  expect_failures = [aws_lb.this]
}

run "rejects_bad_image_tag" {
  command = plan
  variables {
    image_tag = "-not a tag"
  }
  expect_failures = [var.image_tag]
}

run "rejects_duplicate_sites" {
  command = plan
  variables {
    sites = ["a", "a"]
  }
  expect_failures = [var.sites]
}

run "rejects_single_az" {
  command = plan
  variables {
    az_count = 1
  }
  expect_failures = [var.az_count]
}

run "rejects_too_long_grace" {
  command = plan
  variables {
    shutdown_grace_seconds = 200
  }
  expect_failures = [var.shutdown_grace_seconds]
}

run "rejects_site_named_proxy" {
  command = plan
  variables {
    sites = ["a", "proxy"]
  }
  expect_failures = [var.sites]
}
