# Alarms (iterator age, errors, throttles, on-failure queue depth, dead letters, fields dropped) that
# notify one SNS topic, and one dashboard with the pipeline's flow and health.

data "aws_region" "current" {}

locals {
  actions = [aws_sns_topic.alarms.arn]
}

resource "aws_sns_topic" "alarms" {
  name              = "${var.name}-alarms"
  kms_master_key_id = var.kms_key_arn
  tags              = var.tags
}

resource "aws_sns_topic_subscription" "email" {
  for_each = toset(var.alarm_emails)

  topic_arn = aws_sns_topic.alarms.arn
  protocol  = "email"
  endpoint  = each.value
}

################################################################################
# Alarms
################################################################################

resource "aws_cloudwatch_metric_alarm" "iterator_age" {
  for_each = var.consumers

  alarm_name        = "${var.name}-${each.key}-iterator-age"
  alarm_description = "${each.value} is falling behind its stream: the oldest record in the last batch is older than ${var.iterator_age_threshold_ms} ms."
  namespace         = "AWS/Lambda"
  metric_name       = "IteratorAge"
  dimensions        = { FunctionName = each.value }
  statistic         = "Maximum"

  comparison_operator = "GreaterThanThreshold"
  threshold           = var.iterator_age_threshold_ms
  period              = var.period_seconds
  evaluation_periods  = var.evaluation_periods
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "errors" {
  for_each = var.functions

  alarm_name        = "${var.name}-${each.key}-errors"
  alarm_description = "${each.value} raised errors (a consumer raising means an infrastructure failure: its batch is being retried)."
  namespace         = "AWS/Lambda"
  metric_name       = "Errors"
  dimensions        = { FunctionName = each.value }
  statistic         = "Sum"

  comparison_operator = "GreaterThanThreshold"
  threshold           = var.errors_threshold
  period              = var.period_seconds
  evaluation_periods  = var.evaluation_periods
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "throttles" {
  for_each = var.functions

  alarm_name        = "${var.name}-${each.key}-throttles"
  alarm_description = "${each.value} was throttled (reserved concurrency or the account limit reached)."
  namespace         = "AWS/Lambda"
  metric_name       = "Throttles"
  dimensions        = { FunctionName = each.value }
  statistic         = "Sum"

  comparison_operator = "GreaterThanThreshold"
  threshold           = var.throttles_threshold
  period              = var.period_seconds
  evaluation_periods  = var.evaluation_periods
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "dlq_depth" {
  for_each = var.on_failure_queues

  alarm_name        = "${var.name}-${each.key}-dlq-depth"
  alarm_description = "Lambda gave up on a batch (${each.value}): replay it from the pointer in the queue while the records are still in the stream."
  namespace         = "AWS/SQS"
  metric_name       = "ApproximateNumberOfMessagesVisible"
  dimensions        = { QueueName = each.value }
  statistic         = "Maximum"

  comparison_operator = "GreaterThanThreshold"
  threshold           = var.dlq_depth_threshold
  period              = var.period_seconds
  evaluation_periods  = 1
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "dead_letters" {
  for_each = var.dead_letter_consumers

  alarm_name        = "${var.name}-${each.key}-dead-letters"
  alarm_description = "${each.value} routed poison records to the dead_letters table."
  namespace         = var.metric_namespace
  metric_name       = "DeadLetters"
  dimensions        = { Service = each.key }
  statistic         = "Sum"

  comparison_operator = "GreaterThanThreshold"
  threshold           = var.dead_letters_threshold
  period              = var.period_seconds
  evaluation_periods  = 1
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "fields_dropped" {
  for_each = { for k in var.field_dropping_producers : k => var.functions[k] if contains(keys(var.functions), k) }

  alarm_name        = "${var.name}-${each.key}-fields-dropped"
  alarm_description = "${each.value} published log events without some of their fields (refused by the event schema or over the context size limit): a log format is sending values PostgreSQL cannot store."
  namespace         = var.metric_namespace
  metric_name       = "FieldsDropped"
  dimensions        = { Service = each.key }
  statistic         = "Sum"

  comparison_operator = "GreaterThanThreshold"
  threshold           = var.fields_dropped_threshold
  period              = var.period_seconds
  evaluation_periods  = 1
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
  tags                = var.tags
}

################################################################################
# Dashboard
################################################################################

locals {
  region = data.aws_region.current.name

  flow_metric_names = ["RecordsIn", "RowsWritten", "DuplicatesSkipped", "DeadLetters"]

  widgets = [
    {
      type = "metric", x = 0, y = 0, width = 12, height = 6
      properties = {
        title   = "Consumer flow (records in = rows written + duplicates skipped + dead letters)"
        region  = local.region
        stat    = "Sum"
        period  = 60
        view    = "timeSeries"
        metrics = [for p in setproduct(keys(var.dead_letter_consumers), local.flow_metric_names) : [var.metric_namespace, p[1], "Service", p[0]]]
      }
    },
    {
      type = "metric", x = 12, y = 0, width = 12, height = 6
      properties = {
        title   = "Iterator age (ms, max)"
        region  = local.region
        stat    = "Maximum"
        period  = 60
        view    = "timeSeries"
        metrics = [for f in values(var.consumers) : ["AWS/Lambda", "IteratorAge", "FunctionName", f]]
      }
    },
    {
      type = "metric", x = 0, y = 6, width = 12, height = 6
      properties = {
        title  = "Function errors and throttles"
        region = local.region
        stat   = "Sum"
        period = 60
        view   = "timeSeries"
        metrics = concat(
          [for f in values(var.functions) : ["AWS/Lambda", "Errors", "FunctionName", f]],
          [for f in values(var.functions) : ["AWS/Lambda", "Throttles", "FunctionName", f]],
        )
      }
    },
    {
      type = "metric", x = 12, y = 6, width = 12, height = 6
      properties = {
        title   = "Function duration (ms, p99)"
        region  = local.region
        stat    = "p99"
        period  = 60
        view    = "timeSeries"
        metrics = [for f in values(var.functions) : ["AWS/Lambda", "Duration", "FunctionName", f]]
      }
    },
    {
      type = "metric", x = 0, y = 12, width = 12, height = 6
      properties = {
        title  = "Streams: incoming records and write throttles"
        region = local.region
        stat   = "Sum"
        period = 60
        view   = "timeSeries"
        metrics = concat(
          [for s in values(var.streams) : ["AWS/Kinesis", "IncomingRecords", "StreamName", s]],
          [for s in values(var.streams) : ["AWS/Kinesis", "WriteProvisionedThroughputExceeded", "StreamName", s]],
        )
      }
    },
    {
      type = "metric", x = 12, y = 12, width = 12, height = 6
      properties = {
        title   = "On-failure queue depth"
        region  = local.region
        stat    = "Maximum"
        period  = 60
        view    = "timeSeries"
        metrics = [for q in values(var.on_failure_queues) : ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", q]]
      }
    },
  ]
}

resource "aws_cloudwatch_dashboard" "this" {
  count = var.create_dashboard ? 1 : 0

  dashboard_name = var.name
  # A widget without metrics is rejected by the API (e.g. no consumers yet).
  dashboard_body = jsonencode({ widgets = [for w in local.widgets : w if length(w.properties.metrics) > 0] })
}
