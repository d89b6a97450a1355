output "function_name" {
  description = "Name of the Lambda function."
  value       = aws_lambda_function.this.function_name
}

output "function_arn" {
  description = "ARN of the Lambda function."
  value       = aws_lambda_function.this.arn
}

output "function_code_sha256" {
  description = "Base64 SHA-256 of the deployed zip, as Lambda reports it (equals the sha256 in target/<name>.json, base64-encoded)."
  value       = aws_lambda_function.this.code_sha256
}

output "function_url" {
  description = "Function URL (AWS_IAM auth), or null when none was created."
  value       = try(aws_lambda_function_url.this[0].function_url, null)
}

output "role_arn" {
  description = "ARN of the function's execution role."
  value       = aws_iam_role.this.arn
}

output "role_name" {
  description = "Name of the function's execution role."
  value       = aws_iam_role.this.name
}

output "log_group_name" {
  description = "Name of the function's CloudWatch log group."
  value       = aws_cloudwatch_log_group.this.name
}

output "event_source_mapping_uuids" {
  description = "UUIDs of the event source mappings, keyed like var.event_sources."
  value       = { for k, m in aws_lambda_event_source_mapping.this : k => m.uuid }
}

output "on_failure_queue_names" {
  description = "Names of the SQS on-failure queues, keyed like var.event_sources."
  value       = { for k, q in aws_sqs_queue.on_failure : k => q.name }
}

output "on_failure_queue_arns" {
  description = "ARNs of the SQS on-failure queues, keyed like var.event_sources."
  value       = { for k, q in aws_sqs_queue.on_failure : k => q.arn }
}

output "on_failure_queue_urls" {
  description = "URLs of the SQS on-failure queues, keyed like var.event_sources."
  value       = { for k, q in aws_sqs_queue.on_failure : k => q.url }
}

output "async_on_failure_queue_name" {
  description = "Name of the SQS on-failure queue for asynchronous invocations, or null."
  value       = try(aws_sqs_queue.async_on_failure[0].name, null)
}

output "async_on_failure_queue_url" {
  description = "URL of the SQS on-failure queue for asynchronous invocations, or null."
  value       = try(aws_sqs_queue.async_on_failure[0].url, null)
}
