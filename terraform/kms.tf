# One customer managed key per project and stage. It encrypts the streams, the
# database (storage, Performance Insights, the master secret), log groups, function
# environments, on-failure queues, the alarm topic and the alert topic. Functions get kms:Decrypt /
# kms:GenerateDataKey on it through their own roles (modules/function).

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.name
}

resource "aws_kms_key" "this" {
  description             = "${local.name_prefix}: streams, database, logs, queues, topic"
  enable_key_rotation     = true
  deletion_window_in_days = 30

  # In a key policy, "Resource": "*" means this key.
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        # Keeps the key manageable through IAM policies of this account.
        Sid       = "AccountAdministration"
        Effect    = "Allow"
        Principal = { AWS = "arn:${local.partition}:iam::${local.account_id}:root" }
        Action    = "kms:*"
        Resource  = "*"
      },
      {
        Sid       = "CloudWatchLogsOfThisStage"
        Effect    = "Allow"
        Principal = { Service = "logs.${local.region}.amazonaws.com" }
        Action    = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
        Resource  = "*"
        Condition = {
          ArnLike = {
            # The stage's own groups, and the subscribed groups created in log_subscriptions.tf.
            "kms:EncryptionContext:aws:logs:arn" = concat(
              ["arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:*${local.name_prefix}*"],
              [for name, s in var.log_subscriptions : local.log_group_arns[name] if s.create_log_group],
            )
          }
        }
      },
      {
        # Alarms publish to the encrypted SNS topic.
        Sid       = "CloudWatchAlarmsToTopic"
        Effect    = "Allow"
        Principal = { Service = "cloudwatch.amazonaws.com" }
        Action    = ["kms:Decrypt", "kms:GenerateDataKey*"]
        Resource  = "*"
        Condition = {
          StringEquals = { "aws:SourceAccount" = local.account_id }
        }
      },
    ]
  })
}

resource "aws_kms_alias" "this" {
  name          = "alias/${local.name_prefix}"
  target_key_id = aws_kms_key.this.key_id
}
