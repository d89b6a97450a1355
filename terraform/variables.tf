################################################################################
# General
################################################################################

variable "project" {
  description = "Project name: the first part of every resource name (<project>-<stage>-<name>)."
  type        = string
  default     = "event-pipeline"
}

variable "stage" {
  description = "Deployment stage; also passed to every function as STAGE."
  type        = string
  default     = "qa"

  validation {
    condition     = contains(["qa", "prod"], var.stage)
    error_message = "stage must be qa or prod."
  }
}

variable "aws_region" {
  description = "AWS region to deploy to."
  type        = string
  default     = "eu-west-1"
}

variable "tags" {
  description = "Extra tags for every resource (Project, Stage and ManagedBy are always set)."
  type        = map(string)
  default     = {}
}

variable "artifacts_dir" {
  description = "Directory holding the function zips built by ./build.sh; null means ../target relative to this module."
  type        = string
  default     = null
}

################################################################################
# Local rehearsal (moto): leave these at their defaults for a real account
################################################################################

variable "aws_endpoint_url" {
  description = "Send every AWS API call to this endpoint (a moto server for the local rehearsal). Empty: real AWS."
  type        = string
  default     = ""
}

variable "create_database" {
  description = "Create the RDS instance. The rehearsal sets false (RDS against moto costs minutes of provider waits); the VPC and security groups are created either way."
  type        = bool
  default     = true
}

variable "enable_lambda_logging_config" {
  description = "Give functions logging_config (JSON format, log levels). The rehearsal sets false: moto does not return LoggingConfig, so every plan would show a change."
  type        = bool
  default     = true
}

variable "enable_function_urls" {
  description = "Create function URLs for functions that declare one (error_source)."
  type        = bool
  default     = true
}

variable "create_dashboard" {
  description = "Create the CloudWatch dashboard."
  type        = bool
  default     = true
}

################################################################################
# Streams
################################################################################

variable "stream_mode" {
  description = "Capacity mode of every stream: ON_DEMAND or PROVISIONED."
  type        = string
  default     = "ON_DEMAND"
}

variable "stream_shard_count" {
  description = "Shards per stream when stream_mode is PROVISIONED."
  type        = number
  default     = 1
}

variable "stream_retention_hours" {
  description = "Stream retention in hours: how long a batch that landed in an on-failure queue can still be replayed."
  type        = number
  default     = 168
}

variable "maximum_record_age_in_seconds" {
  description = "How long the event source mappings retry a failed batch (they retry without a count limit) before its records go to the on-failure queue. At most the stream's retention (checked at plan time)."
  type        = number
  default     = 21600

  validation {
    condition     = var.maximum_record_age_in_seconds >= 60 && var.maximum_record_age_in_seconds <= 604800
    error_message = "maximum_record_age_in_seconds must be between 60 and 604800: finite, since retries are unlimited."
  }
}

################################################################################
# Functions
################################################################################

variable "lambda_runtime" {
  description = "Runtime of every function (matches the build image)."
  type        = string
  default     = "python3.12"
}

variable "lambda_architecture" {
  description = "Architecture of every function (matches the build): x86_64 or arm64."
  type        = string
  default     = "x86_64"
}

variable "reserved_concurrency" {
  description = "Reserved concurrent executions per function short name; a function not listed stays on the unreserved pool (-1)."
  type        = map(number)
  default     = {}
}

variable "log_retention_days" {
  description = "Retention of every log group (functions, flow logs, PostgreSQL), in days."
  type        = number
  default     = 365
}

variable "application_log_level" {
  description = "Lowest application log level kept by Lambda's JSON log format."
  type        = string
  default     = "INFO"
}

################################################################################
# Fan-out: log subscriptions (log_source) and alerts (error_alert)
################################################################################

variable "log_subscriptions" {
  description = <<-EOT
    Log groups whose events log_source turns into error events: log group name => settings.
    filter_pattern: CloudWatch Logs filter syntax ("" forwards every event; log_source itself
    drops events below WARNING). create_log_group: create the group here, with retention and
    the stage key; only for groups nothing else creates (the rehearsal uses it). A log group
    takes at most two subscription filters. Groups of this stack's functions may be listed,
    except log_source's own.
  EOT
  type = map(object({
    filter_pattern   = string
    create_log_group = optional(bool, false)
  }))
  default = {}

  validation {
    condition     = alltrue([for name in keys(var.log_subscriptions) : can(regex("^[A-Za-z0-9_./#-]{1,512}$", name))])
    error_message = "log_subscriptions keys must be log group names (1-512 of A-Z a-z 0-9 _ . / # -)."
  }
}

variable "alert_threshold" {
  description = "Errors from one source in one tumbling window (per shard) that make error_alert publish an alert (ALERT_THRESHOLD)."
  type        = number
  default     = 10

  validation {
    condition     = var.alert_threshold >= 1 && floor(var.alert_threshold) == var.alert_threshold
    error_message = "alert_threshold must be a whole number of at least 1."
  }
}

variable "retention_days" {
  description = "Days of errors (by occurred_at, in daily partitions) and dead letters (by created_at) kept; the maintain function enforces it daily (RETENTION_DAYS)."
  type        = number
  default     = 30

  validation {
    condition     = var.retention_days >= 1 && var.retention_days <= 3650 && floor(var.retention_days) == var.retention_days
    error_message = "retention_days must be a whole number of days between 1 and 3650."
  }
}

variable "maintain_schedule" {
  description = "When maintain runs (EventBridge schedule expression, UTC). Partitions exist a week ahead, so a missed run loses nothing."
  type        = string
  default     = "cron(15 0 * * ? *)"
}

################################################################################
# Database
################################################################################

variable "create_vpc" {
  description = "Create the VPC (private subnets only) for the database. False: give vpc_id and subnet_ids."
  type        = bool
  default     = true
}

variable "vpc_cidr" {
  description = "CIDR block of the created VPC."
  type        = string
  default     = "10.20.0.0/16"
}

variable "availability_zones" {
  description = "Zones for the created subnets (two or more); empty takes the region's first two zones by name."
  type        = list(string)
  default     = []
}

variable "vpc_id" {
  description = "Existing VPC when create_vpc is false."
  type        = string
  default     = null
}

variable "subnet_ids" {
  description = "Existing private subnets (two zones or more) when create_vpc is false."
  type        = list(string)
  default     = []
}

variable "create_secrets_manager_endpoint" {
  description = "Create a Secrets Manager interface endpoint in the VPC (turn off when an existing VPC already has one)."
  type        = bool
  default     = true
}

variable "database_iam_auth" {
  description = "Database functions with a login role (error_sink, read_table, reset_table) log in as it with an RDS IAM auth token, and may rds-db:connect as that user only; migrate keeps the master secret and grants rds_iam to the login roles. False: every database function reads the master secret."
  type        = bool
  default     = true
}

variable "db_instance_class" {
  description = "RDS instance class."
  type        = string
  default     = "db.t4g.medium"
}

variable "db_allocated_storage" {
  description = "Initial database storage in GiB."
  type        = number
  default     = 20
}

variable "db_max_allocated_storage" {
  description = "Database storage autoscaling ceiling in GiB."
  type        = number
  default     = 100
}

variable "db_multi_az" {
  description = "Run a database standby in a second availability zone."
  type        = bool
  default     = true
}

variable "db_backup_retention_days" {
  description = "Automated backup retention in days."
  type        = number
  default     = 14
}

variable "db_deletion_protection" {
  description = "Protect the database from deletion."
  type        = bool
  default     = true
}

variable "db_skip_final_snapshot" {
  description = "Skip the final snapshot when the database is deleted."
  type        = bool
  default     = false
}

################################################################################
# Monitoring
################################################################################

variable "alarm_emails" {
  description = "E-mail addresses notified by every alarm."
  type        = list(string)
  default     = []
}

variable "alarm_iterator_age_ms" {
  description = "Iterator age (ms) above which a consumer is alarmed as falling behind."
  type        = number
  default     = 300000
}

variable "alarm_errors_threshold" {
  description = "Function errors per 5 minutes tolerated before alarming."
  type        = number
  default     = 0
}

variable "alarm_throttles_threshold" {
  description = "Function throttles per 5 minutes tolerated before alarming."
  type        = number
  default     = 0
}

################################################################################
# Database connections: RDS Proxy and the connection budget (connections.tf)
################################################################################

variable "db_proxy" {
  description = "Put an RDS Proxy (TLS required, IAM auth for the login roles) between the database functions and the instance. The connection budget is then the proxy's pool."
  type        = bool
  default     = true
}

variable "db_proxy_max_connections_percent" {
  description = "The proxy's pool as a percentage of the instance's max_connections; the rest stays for operators' direct sessions and RDS's own."
  type        = number
  default     = 90
}

variable "db_max_connections" {
  description = "The instance's max_connections, when known (SHOW max_connections) or set in a parameter group; null: computed from the instance class (connections.tf)."
  type        = number
  default     = null

  validation {
    condition     = var.db_max_connections == null || try(var.db_max_connections >= 10, false)
    error_message = "db_max_connections must be null or at least 10."
  }
}

variable "db_connection_reserve" {
  description = "Without a proxy: connections of max_connections kept free of the functions (superuser-reserved, operators, monitoring)."
  type        = number
  default     = 10
}

variable "stream_on_demand_shards" {
  description = "ON_DEMAND streams: the shard count that the consumers' reserved concurrency and the connection budget plan for (Terraform cannot know it). PROVISIONED streams use stream_shard_count."
  type        = number
  default     = 4

  validation {
    condition     = var.stream_on_demand_shards >= 1 && floor(var.stream_on_demand_shards) == var.stream_on_demand_shards
    error_message = "stream_on_demand_shards must be a whole number of at least 1."
  }
}
