################################################################################
# Stream
################################################################################

variable "name" {
  description = "(Required) Full name of the Kinesis data stream, e.g. event-pipeline-qa-errors."
  type        = string
}

variable "stream_mode" {
  description = "ON_DEMAND (capacity follows traffic) or PROVISIONED (fixed shard_count)."
  type        = string
  default     = "ON_DEMAND"

  validation {
    condition     = contains(["ON_DEMAND", "PROVISIONED"], var.stream_mode)
    error_message = "stream_mode must be ON_DEMAND or PROVISIONED."
  }
}

variable "shard_count" {
  description = "Number of shards when stream_mode is PROVISIONED; ignored for ON_DEMAND."
  type        = number
  default     = 1

  validation {
    condition     = var.shard_count >= 1
    error_message = "shard_count must be at least 1."
  }
}

variable "retention_period_hours" {
  description = "How long records stay readable (24 to 8760 hours). It bounds how late a failed batch can be replayed from its on-failure pointer."
  type        = number
  default     = 24

  validation {
    condition     = var.retention_period_hours >= 24 && var.retention_period_hours <= 8760
    error_message = "retention_period_hours must be between 24 and 8760."
  }
}

################################################################################
# Encryption and tags
################################################################################

variable "kms_key_arn" {
  description = "(Required) ARN of the customer managed KMS key that encrypts the stream at rest."
  type        = string
}

variable "tags" {
  description = "Tags added to the stream (on top of the provider's default tags)."
  type        = map(string)
  default     = {}
}
