# The AWS provider. With `aws_endpoint_url` set (the local rehearsal against a moto
# server) every service endpoint points at that URL and the checks that need a real
# account are skipped; left empty, the provider talks to AWS as usual.
locals {
  local_endpoint = var.aws_endpoint_url != ""
}

provider "aws" {
  region = var.aws_region

  skip_credentials_validation = local.local_endpoint
  skip_requesting_account_id  = local.local_endpoint
  skip_metadata_api_check     = local.local_endpoint
  s3_use_path_style           = local.local_endpoint

  dynamic "endpoints" {
    for_each = local.local_endpoint ? [var.aws_endpoint_url] : []
    content {
      cloudwatch     = endpoints.value
      ec2            = endpoints.value
      events         = endpoints.value
      iam            = endpoints.value
      kinesis        = endpoints.value
      kms            = endpoints.value
      lambda         = endpoints.value
      logs           = endpoints.value
      rds            = endpoints.value
      s3             = endpoints.value
      secretsmanager = endpoints.value
      sns            = endpoints.value
      sqs            = endpoints.value
      sts            = endpoints.value
    }
  }

  default_tags {
    tags = merge(var.tags, {
      Project   = var.project
      Stage     = var.stage
      ManagedBy = "terraform"
    })
  }
}
