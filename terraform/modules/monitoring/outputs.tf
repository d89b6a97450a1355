output "sns_topic_arn" {
  description = "ARN of the SNS topic every alarm notifies."
  value       = aws_sns_topic.alarms.arn
}

output "alarm_names" {
  description = "Names of every alarm, grouped by kind (iterator_age, errors, throttles, dlq_depth, dead_letters, fields_dropped)."
  value = {
    for kind, alarms in local.alarm_groups : kind => [for k in keys(alarms) : aws_cloudwatch_metric_alarm.this[k].alarm_name]
  }
}

output "dashboard_name" {
  description = "Name of the CloudWatch dashboard, or null when none was created."
  value       = try(aws_cloudwatch_dashboard.this[0].dashboard_name, null)
}
