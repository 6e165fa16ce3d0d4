# One AWS provider for the whole stack. Every taggable resource gets the
# default tags so the bill and the console can be filtered by project.
provider "aws" {
  region = var.aws_region

  default_tags {
    tags = merge(
      {
        Project     = var.name
        Environment = var.environment
        ManagedBy   = "terraform"
        Source      = "frontline/terraform"
      },
      var.tags,
    )
  }
}

# Account and partition are looked up instead of hard-coded so ARNs and the
# confused-deputy conditions in the IAM trust policies work in any account.
data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}
