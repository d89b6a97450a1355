################################################################################
# Naming and encryption
################################################################################

variable "name" {
  description = "(Required) Name prefix and DB instance identifier, e.g. event-pipeline-qa."
  type        = string
}

variable "kms_key_arn" {
  description = "(Required) Project KMS key: storage, Performance Insights, the master secret and log groups."
  type        = string
}

variable "tags" {
  description = "Tags added to every resource of the module."
  type        = map(string)
  default     = {}
}

################################################################################
# Network
################################################################################

variable "create_vpc" {
  description = "Create a VPC with private subnets (no internet route) for the database and the functions that reach it. False: use vpc_id and subnet_ids."
  type        = bool
  default     = true
}

variable "vpc_cidr" {
  description = "CIDR block of the created VPC."
  type        = string
  default     = "10.20.0.0/16"
}

variable "availability_zone_count" {
  description = "Number of availability zones (one private subnet each) in the created VPC; RDS needs at least 2."
  type        = number
  default     = 2

  validation {
    condition     = var.availability_zone_count >= 2
    error_message = "availability_zone_count must be at least 2 (an RDS subnet group spans two zones)."
  }
}

variable "availability_zones" {
  description = "Zones for the created subnets, e.g. [\"eu-west-1a\", \"eu-west-1b\"]; empty takes the first availability_zone_count zones of the region by name."
  type        = list(string)
  default     = []

  validation {
    condition     = length(var.availability_zones) == 0 || length(var.availability_zones) >= 2
    error_message = "availability_zones must name at least two zones (or none)."
  }
}

variable "vpc_id" {
  description = "Existing VPC when create_vpc is false."
  type        = string
  default     = null
}

variable "subnet_ids" {
  description = "Existing private subnets (at least two zones) when create_vpc is false."
  type        = list(string)
  default     = []
}

variable "create_secrets_manager_endpoint" {
  description = "Create an interface VPC endpoint for Secrets Manager so functions in private subnets can read the database secret without a NAT gateway. Turn off when the VPC already has one."
  type        = bool
  default     = true
}

variable "flow_log_retention_days" {
  description = "Retention of the VPC flow log group, in days."
  type        = number
  default     = 365
}

################################################################################
# Instance
################################################################################

variable "create_instance" {
  description = "Create the RDS instance. The local rehearsal (moto) leaves it out: the network and security groups are still created."
  type        = bool
  default     = true
}

variable "engine_version" {
  description = "PostgreSQL major (or major.minor) version; minor upgrades are applied automatically."
  type        = string
  default     = "16"
}

variable "instance_class" {
  description = "RDS instance class."
  type        = string
  default     = "db.t4g.medium"
}

variable "allocated_storage" {
  description = "Initial storage in GiB (gp3)."
  type        = number
  default     = 20
}

variable "max_allocated_storage" {
  description = "Storage autoscaling ceiling in GiB."
  type        = number
  default     = 100
}

variable "database_name" {
  description = "Name of the database created in the instance."
  type        = string
  default     = "events"
}

variable "master_username" {
  description = "Master user name; its password is generated and rotated by RDS in Secrets Manager."
  type        = string
  default     = "pipeline_admin"
}

variable "iam_database_authentication" {
  description = "Accept RDS IAM auth tokens for database users granted rds_iam (the functions' login roles); password logins keep working for the others (the master user)."
  type        = bool
  default     = true
}

variable "port" {
  description = "PostgreSQL port."
  type        = number
  default     = 5432
}

variable "multi_az" {
  description = "Run a standby in a second zone."
  type        = bool
  default     = true
}

variable "backup_retention_days" {
  description = "Automated backup retention in days (1 to 35)."
  type        = number
  default     = 7

  validation {
    condition     = var.backup_retention_days >= 1 && var.backup_retention_days <= 35
    error_message = "backup_retention_days must be between 1 and 35: backups are never switched off."
  }
}

variable "deletion_protection" {
  description = "Refuse to delete the instance (set false before a deliberate destroy)."
  type        = bool
  default     = true
}

variable "skip_final_snapshot" {
  description = "Skip the final snapshot on deletion (qa only)."
  type        = bool
  default     = false
}

variable "log_retention_days" {
  description = "Retention of the exported PostgreSQL log groups, in days."
  type        = number
  default     = 365
}

variable "monitoring_interval" {
  description = "Enhanced Monitoring interval in seconds (0 turns it off)."
  type        = number
  default     = 60
}

variable "performance_insights_retention_days" {
  description = "Performance Insights retention in days (7 is the free tier)."
  type        = number
  default     = 7
}

################################################################################
# RDS Proxy
################################################################################

variable "create_proxy" {
  description = "Put an RDS Proxy (TLS required) in front of the instance; the database then admits only the proxy. Needs create_instance."
  type        = bool
  default     = false
}

variable "proxy_login_users" {
  description = "Login roles that reach the database through the proxy with an IAM auth token: each gets a secret with a generated password (the proxy's login to PostgreSQL)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for u in var.proxy_login_users : can(regex("^[a-z_][a-z0-9_]*$", u))])
    error_message = "proxy_login_users must be PostgreSQL role names (lower case letters, digits, underscores)."
  }
}

variable "login_password_version" {
  description = "Version of the login roles' generated passwords: bump it to generate new ones (then run migrate, which sets them)."
  type        = number
  default     = 1
}

variable "proxy_max_connections_percent" {
  description = "The proxy's pool: at most this percentage of the instance's max_connections (1 to 100)."
  type        = number
  default     = 90

  validation {
    condition     = var.proxy_max_connections_percent >= 1 && var.proxy_max_connections_percent <= 100
    error_message = "proxy_max_connections_percent must be between 1 and 100."
  }
}

variable "proxy_connection_borrow_timeout" {
  description = "Seconds a client waits for a pooled connection when every one is busy (0 to 3600)."
  type        = number
  default     = 30
}

variable "proxy_idle_client_timeout" {
  description = "Seconds an idle client connection stays open at the proxy (a warm Lambda keeps its connection)."
  type        = number
  default     = 1800
}
