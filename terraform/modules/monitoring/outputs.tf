output "sns_topic_arn" {
  description = "ARN of the SNS topic every alarm notifies."
  value       = aws_sns_topic.alarms.arn
}

output "alarm_names" {
  description = "Names of every alarm, grouped by kind."
  value = {
    iterator_age   = [for a in aws_cloudwatch_metric_alarm.iterator_age : a.alarm_name]
    errors         = [for a in aws_cloudwatch_metric_alarm.errors : a.alarm_name]
    throttles      = [for a in aws_cloudwatch_metric_alarm.throttles : a.alarm_name]
    dlq_depth      = [for a in aws_cloudwatch_metric_alarm.dlq_depth : a.alarm_name]
    dead_letters   = [for a in aws_cloudwatch_metric_alarm.dead_letters : a.alarm_name]
    fields_dropped = [for a in aws_cloudwatch_metric_alarm.fields_dropped : a.alarm_name]
  }
}

output "dashboard_name" {
  description = "Name of the CloudWatch dashboard, or null when none was created."
  value       = try(aws_cloudwatch_dashboard.this[0].dashboard_name, null)
}
