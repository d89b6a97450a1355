# Terraform and provider versions. Only hashicorp/aws is used (no archive/random/null):
# function zips come from ./build.sh, and the database password is managed by RDS.
terraform {
  required_version = ">= 1.6.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.100"
    }
  }
}
