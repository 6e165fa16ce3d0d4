# Pinned tool and provider versions. `terraform test` with mock providers needs
# Terraform >= 1.7. The AWS provider stays on the 5.x line that the tests and
# the offline provider mirror use; 6.x is a major release with breaking changes
# and is adopted deliberately, not by a floating constraint.
terraform {
  required_version = ">= 1.7.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.100"
    }
  }
}
