################################################################################
# Function
################################################################################

variable "function_name" {
  description = "(Required) Full Lambda function name, e.g. event-pipeline-qa-error_sink."
  type        = string
}

variable "description" {
  description = "Description shown in the Lambda console."
  type        = string
  default     = ""
}

variable "handler" {
  description = "(Required) Handler string, <kind>.<name>.handler.handler."
  type        = string
}

variable "package_path" {
  description = "(Required) Path to the deployment zip built by ./build.sh (target/<name>.zip)."
  type        = string
}

variable "runtime" {
  description = "Lambda runtime identifier."
  type        = string
  default     = "python3.12"
}

variable "architecture" {
  description = "Instruction set the zip was built for: x86_64 or arm64."
  type        = string
  default     = "x86_64"

  validation {
    condition     = contains(["x86_64", "arm64"], var.architecture)
    error_message = "architecture must be x86_64 or arm64."
  }
}

variable "memory_size" {
  description = "Memory in MB (CPU scales with it)."
  type        = number
  default     = 256
}

variable "timeout" {
  description = "Timeout in seconds."
  type        = number
  default     = 30
}

variable "reserved_concurrency" {
  description = "Reserved concurrent executions; -1 leaves the function on the unreserved pool, 0 stops it."
  type        = number
  default     = -1
}

variable "environment" {
  description = "Environment variables (configuration only, never secrets: secrets are read from Secrets Manager at run time, IAM database auth tokens are signed per connection)."
  type        = map(string)
  default     = {}
}

variable "tracing_mode" {
  description = "X-Ray tracing mode: Active or PassThrough."
  type        = string
  default     = "Active"
}

################################################################################
# Logging
################################################################################

variable "log_retention_days" {
  description = "Retention of the function's log group, in days."
  type        = number
  default     = 365
}

variable "json_logging" {
  description = "Set logging_config (JSON log format, log levels, explicit log group). Only the local rehearsal turns this off, because moto does not return LoggingConfig and every plan would show a change."
  type        = bool
  default     = true
}

variable "application_log_level" {
  description = "Lowest application log level Lambda keeps when the JSON format is on."
  type        = string
  default     = "INFO"
}

variable "system_log_level" {
  description = "Lowest Lambda platform log level kept when the JSON format is on."
  type        = string
  default     = "WARN"
}

################################################################################
# Access
################################################################################

variable "kms_key_arn" {
  description = "(Required) Project KMS key: encrypts environment variables, the log group and on-failure queues; the role may decrypt with it (encrypted streams and the database secret)."
  type        = string
}

variable "write_stream_arns" {
  description = "Kinesis streams this function writes to (PutRecord/PutRecords)."
  type        = list(string)
  default     = []
}

variable "publish_topic_arns" {
  description = "SNS topics this function publishes to (sns:Publish)."
  type        = list(string)
  default     = []
}

variable "secret_arns" {
  description = "Secrets Manager secrets this function may read (GetSecretValue), e.g. the database master secret."
  type        = list(string)
  default     = []
}

variable "database_connect_arns" {
  description = "rds-db:connect resources this function may use: arn:<partition>:rds-db:<region>:<account>:dbuser:<DbiResourceId>/<login role>, one per database user it logs in as with an IAM auth token."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for a in var.database_connect_arns : can(regex("^arn:[a-z-]+:rds-db:[a-z0-9-]+:[0-9]{12}:dbuser:[A-Za-z0-9-]+/[a-z_][a-z0-9_]*$", a))])
    error_message = "database_connect_arns must name one database user each (arn:...:rds-db:<region>:<account>:dbuser:<DbiResourceId>/<user>), never a wildcard."
  }
}

variable "vpc" {
  description = "Subnets and security groups for a function that reaches the database; null keeps it outside any VPC."
  type = object({
    subnet_ids         = list(string)
    security_group_ids = list(string)
  })
  default = null
}

variable "create_function_url" {
  description = "Create a function URL with AWS_IAM auth (callers sign requests with SigV4 and need lambda:InvokeFunctionUrl)."
  type        = bool
  default     = false
}

################################################################################
# Event sources
################################################################################

variable "event_sources" {
  description = "Kinesis event source mappings for this function, keyed by the mapping's name (its key in pipeline.json's mappings). Each gets its own SQS on-failure queue, <function_name>-<stream>-failures. Every setting is required: the values come from pipeline.json, and a default here would be a second copy of them."
  type = map(object({
    stream                             = string # the stream's short name, for the queue's name
    stream_arn                         = string
    batch_size                         = number
    maximum_batching_window_in_seconds = number
    parallelization_factor             = number
    maximum_retry_attempts             = number
    maximum_record_age_in_seconds      = number
    tumbling_window_in_seconds         = number # null: no window
    bisect_batch_on_function_error     = bool
    function_response_types            = list(string)
    starting_position                  = string
    starting_position_timestamp        = string # null unless AT_TIMESTAMP
    enabled                            = optional(bool, true)
    stream_retention_hours             = optional(number) # null: the record age is not checked against it
  }))
  default = {}

  validation {
    condition     = length(distinct([for s in values(var.event_sources) : s.stream])) == length(var.event_sources)
    error_message = "A function reads each stream through one mapping at most (its on-failure queue is named after the stream)."
  }

  validation {
    condition = alltrue([for s in values(var.event_sources) :
      contains(["TRIM_HORIZON", "LATEST", "AT_TIMESTAMP"], s.starting_position) &&
      (s.starting_position == "AT_TIMESTAMP") == (s.starting_position_timestamp != null)
    ])
    error_message = "starting_position must be TRIM_HORIZON, LATEST or AT_TIMESTAMP; AT_TIMESTAMP, and only it, takes starting_position_timestamp (RFC 3339)."
  }

  validation {
    condition = alltrue([for s in values(var.event_sources) :
      coalesce(s.tumbling_window_in_seconds, 60) >= 1 && coalesce(s.tumbling_window_in_seconds, 60) <= 900
    ])
    error_message = "tumbling_window_in_seconds must be null (no window) or between 1 and 900."
  }

  validation {
    condition = alltrue([for s in values(var.event_sources) :
      s.maximum_retry_attempts >= -1 && s.maximum_retry_attempts <= 10000
    ])
    error_message = "maximum_retry_attempts must be -1 (retry until maximum_record_age_in_seconds) or 0 to 10000."
  }

  validation {
    condition = alltrue([for s in values(var.event_sources) :
      s.maximum_record_age_in_seconds >= 60 && s.maximum_record_age_in_seconds <= 604800
    ])
    error_message = "maximum_record_age_in_seconds must be between 60 and 604800 (finite): with unlimited retries it is what ends them."
  }

  validation {
    condition = alltrue([for s in values(var.event_sources) :
      s.stream_retention_hours == null || s.maximum_record_age_in_seconds <= coalesce(s.stream_retention_hours, 0) * 3600
    ])
    error_message = "maximum_record_age_in_seconds must not exceed the stream's retention: records would expire from the stream first."
  }
}

variable "async_on_failure" {
  description = "The function is invoked asynchronously (e.g. by a CloudWatch Logs subscription): give it an SQS on-failure destination for events that still fail after Lambda's retries."
  type        = bool
  default     = false
}

variable "async_maximum_retry_attempts" {
  description = "Retries of a failed asynchronous invocation (0 to 2) before it goes to the on-failure queue."
  type        = number
  default     = 2

  validation {
    condition     = var.async_maximum_retry_attempts >= 0 && var.async_maximum_retry_attempts <= 2
    error_message = "async_maximum_retry_attempts must be between 0 and 2."
  }
}

variable "async_maximum_event_age_in_seconds" {
  description = "How long Lambda keeps retrying an asynchronous event (60 to 21600 seconds) before it goes to the on-failure queue."
  type        = number
  default     = 21600

  validation {
    condition     = var.async_maximum_event_age_in_seconds >= 60 && var.async_maximum_event_age_in_seconds <= 21600
    error_message = "async_maximum_event_age_in_seconds must be between 60 and 21600."
  }
}

variable "on_failure_retention_seconds" {
  description = "How long on-failure records (pointers to a failed batch: shard, sequence numbers; or a failed asynchronous event) stay in the queues."
  type        = number
  default     = 1209600
}

variable "tags" {
  description = "Tags added to every resource of this function."
  type        = map(string)
  default     = {}
}
