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
