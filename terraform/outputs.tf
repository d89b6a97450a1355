output "stream_names" {
  description = "Kinesis stream names by short name."
  value       = { for k, s in module.stream : k => s.stream_name }
}

output "stream_arns" {
  description = "Kinesis stream ARNs by short name."
  value       = { for k, s in module.stream : k => s.stream_arn }
}

output "function_names" {
  description = "Lambda function names by short name (invoke migrate after every apply)."
  value       = { for k, f in module.function : k => f.function_name }
}

output "function_arns" {
  description = "Lambda function ARNs by short name."
  value       = { for k, f in module.function : k => f.function_arn }
}

output "function_code_sha256" {
  description = "Base64 SHA-256 of each deployed zip, as Lambda reports it."
  value       = { for k, f in module.function : k => f.function_code_sha256 }
}

output "function_urls" {
  description = "Function URLs (AWS_IAM auth) by short name, for functions that have one."
  value       = { for k, f in module.function : k => f.function_url if f.function_url != null }
}

output "event_source_mapping_uuids" {
  description = "Event source mapping UUIDs by the mapping's name in pipeline.json."
  value       = { for name, m in local.event_source_mappings : name => module.function[m.function].event_source_mapping_uuids[name] }
}

output "on_failure_queue_urls" {
  description = "SQS on-failure queue URLs by <function>-<stream> (pointers to batches Lambda gave up on) and <function>-async (asynchronous events that failed every retry)."
  value = merge(
    { for name, m in local.event_source_mappings : "${m.function}-${m.stream}" => module.function[m.function].on_failure_queue_urls[name] },
    { for k, f in local.functions : "${k}-async" => module.function[k].async_on_failure_queue_url if f.async },
  )
}

output "topic_arns" {
  description = "SNS topic ARNs by short name (alerts: error_alert's FIFO topic; subscribe SQS queues to it)."
  value       = { for k, t in aws_sns_topic.this : k => t.arn }
}

output "log_subscription_filters" {
  description = "CloudWatch Logs subscription filters feeding log_source: log group name => filter name."
  value       = { for k, f in aws_cloudwatch_log_subscription_filter.log_source : k => f.name }
}

output "db_instance_address" {
  description = "Database host, or null when create_database is false."
  value       = module.database.db_instance_address
}

output "db_master_user_secret_arn" {
  description = "Secrets Manager ARN of the database master user (managed and rotated by RDS), or null."
  value       = module.database.master_user_secret_arn
}

output "vpc_id" {
  description = "VPC of the database and the functions that reach it."
  value       = module.database.vpc_id
}

output "kms_key_arn" {
  description = "ARN of the project KMS key."
  value       = aws_kms_key.this.arn
}

output "alarm_topic_arn" {
  description = "SNS topic notified by every alarm (subscribe on-call here)."
  value       = module.monitoring.sns_topic_arn
}

output "dashboard_name" {
  description = "CloudWatch dashboard name, or null."
  value       = module.monitoring.dashboard_name
}
