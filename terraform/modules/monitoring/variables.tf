################################################################################
# What to watch
################################################################################

variable "name" {
  description = "(Required) Name prefix for the topic, alarms and dashboard, e.g. event-pipeline-qa."
  type        = string
}

variable "functions" {
  description = "Every function to watch for errors and throttles: short name (the EMF Service dimension) => Lambda function name."
  type        = map(string)
  default     = {}
}

variable "consumers" {
  description = "Stream consumers to watch for iterator age: short name => Lambda function name."
  type        = map(string)
  default     = {}
}

variable "dead_letter_consumers" {
  description = "Consumers that route poison records to the dead_letters table and emit the flow metrics (RecordsIn, RowsWritten, DuplicatesSkipped, DeadLetters): short name (the EMF Service dimension) => Lambda function name."
  type        = map(string)
  default     = {}
}

variable "field_dropping_producers" {
  description = "Producers (short names, keys of functions) that emit the FieldsDropped EMF metric when they publish an event without some of its fields; each one present in functions gets an alarm."
  type        = list(string)
  default     = ["log_source"]
}

variable "streams" {
  description = "Kinesis streams for the dashboard: short name => stream name."
  type        = map(string)
  default     = {}
}

variable "on_failure_queues" {
  description = "On-failure (dead-letter) queues whose depth raises an alarm: key => SQS queue name."
  type        = map(string)
  default     = {}
}

variable "metric_namespace" {
  description = "Namespace of the custom EMF metrics the functions emit (RecordsIn, RowsWritten, DuplicatesSkipped, DeadLetters)."
  type        = string
  default     = "EventPipeline"
}

################################################################################
# Thresholds
################################################################################

variable "iterator_age_threshold_ms" {
  description = "Alarm when a consumer's IteratorAge (maximum, ms) stays above this for the evaluation periods."
  type        = number
  default     = 300000
}

variable "errors_threshold" {
  description = "Alarm when a function's Errors (sum per period) exceed this."
  type        = number
  default     = 0
}

variable "throttles_threshold" {
  description = "Alarm when a function's Throttles (sum per period) exceed this."
  type        = number
  default     = 0
}

variable "dlq_depth_threshold" {
  description = "Alarm when an on-failure queue holds more visible messages than this."
  type        = number
  default     = 0
}

variable "dead_letters_threshold" {
  description = "Alarm when a consumer routes more poison records to dead_letters than this per period."
  type        = number
  default     = 0
}

variable "fields_dropped_threshold" {
  description = "Alarm when a producer drops more fields than this per period."
  type        = number
  default     = 0
}

variable "period_seconds" {
  description = "Period of every alarm, in seconds."
  type        = number
  default     = 300
}

variable "evaluation_periods" {
  description = "Consecutive breaching periods before an alarm fires."
  type        = number
  default     = 1
}

################################################################################
# Notification and dashboard
################################################################################

variable "kms_key_arn" {
  description = "(Required) Project KMS key that encrypts the alarm topic (its key policy lets CloudWatch use it)."
  type        = string
}

variable "alarm_emails" {
  description = "E-mail addresses subscribed to the alarm topic (each must confirm)."
  type        = list(string)
  default     = []
}

variable "create_dashboard" {
  description = "Create the CloudWatch dashboard."
  type        = bool
  default     = true
}

variable "tags" {
  description = "Tags added to every resource of the module."
  type        = map(string)
  default     = {}
}
