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

# Every alarm, keyed by its name less the "<name>-" prefix: <subject>-<what>, e.g.
# error_sink-iterator-age. The key is the name, so an alarm keeps its name (and its state) when
# others are added, and two alarms cannot share a name. Each group watches one metric for one
# set of subjects; what differs between the alarms is in these entries, the rest is common.
locals {
  alarm_groups = {
    iterator_age = {
      for k, f in var.consumers : "${k}-iterator-age" => {
        description        = "${f} is falling behind its stream: the oldest record in the last batch is older than ${var.iterator_age_threshold_ms} ms."
        namespace          = "AWS/Lambda"
        metric_name        = "IteratorAge"
        dimensions         = { FunctionName = f }
        statistic          = "Maximum"
        threshold          = var.iterator_age_threshold_ms
        evaluation_periods = var.evaluation_periods
      }
    }
    errors = {
      for k, f in var.functions : "${k}-errors" => {
        description        = "${f} raised errors (a consumer raising means an infrastructure failure: its batch is being retried)."
        namespace          = "AWS/Lambda"
        metric_name        = "Errors"
        dimensions         = { FunctionName = f }
        statistic          = "Sum"
        threshold          = var.errors_threshold
        evaluation_periods = var.evaluation_periods
      }
    }
    throttles = {
      for k, f in var.functions : "${k}-throttles" => {
        description        = "${f} was throttled (reserved concurrency or the account limit reached)."
        namespace          = "AWS/Lambda"
        metric_name        = "Throttles"
        dimensions         = { FunctionName = f }
        statistic          = "Sum"
        threshold          = var.throttles_threshold
        evaluation_periods = var.evaluation_periods
      }
    }
    dlq_depth = {
      for k, q in var.on_failure_queues : "${k}-dlq-depth" => {
        description        = "Lambda gave up on a batch (${q}): replay it from the pointer in the queue while the records are still in the stream."
        namespace          = "AWS/SQS"
        metric_name        = "ApproximateNumberOfMessagesVisible"
        dimensions         = { QueueName = q }
        statistic          = "Maximum"
        threshold          = var.dlq_depth_threshold
        evaluation_periods = 1
      }
    }
    # The EMF metrics' dimension is the short name (Service), not the Lambda function name.
    dead_letters = {
      for k, f in var.dead_letter_consumers : "${k}-dead-letters" => {
        description        = "${f} routed poison records to the dead_letters table."
        namespace          = var.metric_namespace
        metric_name        = "DeadLetters"
        dimensions         = { Service = k }
        statistic          = "Sum"
        threshold          = var.dead_letters_threshold
        evaluation_periods = 1
      }
    }
    fields_dropped = {
      for k in var.field_dropping_producers : "${k}-fields-dropped" => {
        description        = "${var.functions[k]} published log events without some of their fields (refused by the event schema or over the context size limit): a log format is sending values PostgreSQL cannot store."
        namespace          = var.metric_namespace
        metric_name        = "FieldsDropped"
        dimensions         = { Service = k }
        statistic          = "Sum"
        threshold          = var.fields_dropped_threshold
        evaluation_periods = 1
      } if contains(keys(var.functions), k)
    }
  }

  alarms = merge(values(local.alarm_groups)...)
}

resource "aws_cloudwatch_metric_alarm" "this" {
  for_each = local.alarms

  alarm_name        = "${var.name}-${each.key}"
  alarm_description = each.value.description
  namespace         = each.value.namespace
  metric_name       = each.value.metric_name
  dimensions        = each.value.dimensions
  statistic         = each.value.statistic

  comparison_operator = "GreaterThanThreshold"
  threshold           = each.value.threshold
  period              = var.period_seconds
  evaluation_periods  = each.value.evaluation_periods
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
  tags                = var.tags

  lifecycle {
    # merge() keeps the last of two equal keys: two alarms of one name would be one alarm.
    precondition {
      condition     = length(local.alarms) == sum([for g in values(local.alarm_groups) : length(g)])
      error_message = "Two alarms would have the same name: ${join(", ", [for k in distinct(flatten([for g in values(local.alarm_groups) : keys(g)])) : k if length([for g in values(local.alarm_groups) : g if contains(keys(g), k)]) > 1])}."
    }
  }
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
