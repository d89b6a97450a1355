# One Kinesis data stream: the log that producers write once and consumers read
# independently, encrypted with the project's KMS key.
resource "aws_kinesis_stream" "this" {
  name             = var.name
  shard_count      = var.stream_mode == "PROVISIONED" ? var.shard_count : null
  retention_period = var.retention_period_hours

  encryption_type = "KMS"
  kms_key_id      = var.kms_key_arn

  # Registered enhanced fan-out consumers would otherwise block `destroy`.
  enforce_consumer_deletion = true

  stream_mode_details {
    stream_mode = var.stream_mode
  }

  tags = var.tags
}
