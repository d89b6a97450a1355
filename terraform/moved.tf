# Address changes of existing resources, so a stage applied before them updates its state
# instead of destroying and creating again. A block can go once every stage's state has been
# applied past it (`terraform state list` shows no `from` address); it is harmless before then.

################################################################################
# Event source mappings and their on-failure queues: keyed by the mapping's name in
# pipeline.json (they were keyed by the stream's short name within each function).
################################################################################

moved {
  from = module.function["error_sink"].aws_lambda_event_source_mapping.this["errors"]
  to   = module.function["error_sink"].aws_lambda_event_source_mapping.this["error_sink_errors"]
}

moved {
  from = module.function["error_sink"].aws_sqs_queue.on_failure["errors"]
  to   = module.function["error_sink"].aws_sqs_queue.on_failure["error_sink_errors"]
}

moved {
  from = module.function["error_alert"].aws_lambda_event_source_mapping.this["errors"]
  to   = module.function["error_alert"].aws_lambda_event_source_mapping.this["error_alert_errors"]
}

moved {
  from = module.function["error_alert"].aws_sqs_queue.on_failure["errors"]
  to   = module.function["error_alert"].aws_sqs_queue.on_failure["error_alert_errors"]
}

################################################################################
# Alarms: one resource, module.monitoring's aws_cloudwatch_metric_alarm.this, keyed by the
# alarm's name less the stage prefix (it was one resource per kind, keyed by the subject).
# The names themselves do not change.
################################################################################

moved {
  from = module.monitoring.aws_cloudwatch_metric_alarm.iterator_age["error_sink"]
  to   = module.monitoring.aws_cloudwatch_metric_alarm.this["error_sink-iterator-age"]
}

moved {
  from = module.monitoring.aws_cloudwatch_metric_alarm.iterator_age["error_alert"]
  to   = module.monitoring.aws_cloudwatch_metric_alarm.this["error_alert-iterator-age"]
}

moved {
  from = module.monitoring.aws_cloudwatch_metric_alarm.errors["error_source"]
  to   = module.monitoring.aws_cloudwatch_metric_alarm.this["error_source-errors"]
}

moved {
  from = module.monitoring.aws_cloudwatch_metric_alarm.errors["log_source"]
  to   = module.monitoring.aws_cloudwatch_metric_alarm.this["log_source-errors"]
}

moved {
  from = module.monitoring.aws_cloudwatch_metric_alarm.errors["error_sink"]
  to   = module.monitoring.aws_cloudwatch_metric_alarm.this["error_sink-errors"]
}

moved {
  from = module.monitoring.aws_cloudwatch_metric_alarm.errors["error_alert"]
  to   = module.monitoring.aws_cloudwatch_metric_alarm.this["error_alert-errors"]
}

moved {
  from = module.monitoring.aws_cloudwatch_metric_alarm.errors["migrate"]
  to   = module.monitoring.aws_cloudwatch_metric_alarm.this["migrate-errors"]
}

moved {
  from = module.monitoring.aws_cloudwatch_metric_alarm.errors["read_table"]
  to   = module.monitoring.aws_cloudwatch_metric_alarm.this["read_table-errors"]
}

moved {
  from = module.monitoring.aws_cloudwatch_metric_alarm.errors["reset_table"]
  to   = module.monitoring.aws_cloudwatch_metric_alarm.this["reset_table-errors"]
}

moved {
  from = module.monitoring.aws_cloudwatch_metric_alarm.errors["redrive"]
  to   = module.monitoring.aws_cloudwatch_metric_alarm.this["redrive-errors"]
}

moved {
  from = module.monitoring.aws_cloudwatch_metric_alarm.errors["reprocess_dead_letters"]
  to   = module.monitoring.aws_cloudwatch_metric_alarm.this["reprocess_dead_letters-errors"]
}

moved {
  from = module.monitoring.aws_cloudwatch_metric_alarm.errors["maintain"]
  to   = module.monitoring.aws_cloudwatch_metric_alarm.this["maintain-errors"]
}

moved {
  from = module.monitoring.aws_cloudwatch_metric_alarm.throttles["error_source"]
  to   = module.monitoring.aws_cloudwatch_metric_alarm.this["error_source-throttles"]
}

moved {
  from = module.monitoring.aws_cloudwatch_metric_alarm.throttles["log_source"]
  to   = module.monitoring.aws_cloudwatch_metric_alarm.this["log_source-throttles"]
}

moved {
  from = module.monitoring.aws_cloudwatch_metric_alarm.throttles["error_sink"]
  to   = module.monitoring.aws_cloudwatch_metric_alarm.this["error_sink-throttles"]
}

moved {
  from = module.monitoring.aws_cloudwatch_metric_alarm.throttles["error_alert"]
  to   = module.monitoring.aws_cloudwatch_metric_alarm.this["error_alert-throttles"]
}

moved {
  from = module.monitoring.aws_cloudwatch_metric_alarm.throttles["migrate"]
  to   = module.monitoring.aws_cloudwatch_metric_alarm.this["migrate-throttles"]
}

moved {
  from = module.monitoring.aws_cloudwatch_metric_alarm.throttles["read_table"]
  to   = module.monitoring.aws_cloudwatch_metric_alarm.this["read_table-throttles"]
}

moved {
  from = module.monitoring.aws_cloudwatch_metric_alarm.throttles["reset_table"]
  to   = module.monitoring.aws_cloudwatch_metric_alarm.this["reset_table-throttles"]
}

moved {
  from = module.monitoring.aws_cloudwatch_metric_alarm.throttles["redrive"]
  to   = module.monitoring.aws_cloudwatch_metric_alarm.this["redrive-throttles"]
}

moved {
  from = module.monitoring.aws_cloudwatch_metric_alarm.throttles["reprocess_dead_letters"]
  to   = module.monitoring.aws_cloudwatch_metric_alarm.this["reprocess_dead_letters-throttles"]
}

moved {
  from = module.monitoring.aws_cloudwatch_metric_alarm.throttles["maintain"]
  to   = module.monitoring.aws_cloudwatch_metric_alarm.this["maintain-throttles"]
}

moved {
  from = module.monitoring.aws_cloudwatch_metric_alarm.dlq_depth["error_sink-errors"]
  to   = module.monitoring.aws_cloudwatch_metric_alarm.this["error_sink-errors-dlq-depth"]
}

moved {
  from = module.monitoring.aws_cloudwatch_metric_alarm.dlq_depth["error_alert-errors"]
  to   = module.monitoring.aws_cloudwatch_metric_alarm.this["error_alert-errors-dlq-depth"]
}

moved {
  from = module.monitoring.aws_cloudwatch_metric_alarm.dlq_depth["log_source-async"]
  to   = module.monitoring.aws_cloudwatch_metric_alarm.this["log_source-async-dlq-depth"]
}

moved {
  from = module.monitoring.aws_cloudwatch_metric_alarm.dead_letters["error_sink"]
  to   = module.monitoring.aws_cloudwatch_metric_alarm.this["error_sink-dead-letters"]
}

moved {
  from = module.monitoring.aws_cloudwatch_metric_alarm.fields_dropped["log_source"]
  to   = module.monitoring.aws_cloudwatch_metric_alarm.this["log_source-fields-dropped"]
}
