# The maintain function's daily schedule. Its access is the database only (the
# functions map in main.tf: VPC, the master secret); EventBridge may invoke it.

resource "aws_cloudwatch_event_rule" "maintain" {
  name                = "${local.name_prefix}-maintain"
  description         = "Daily partition maintenance and retention of errors and dead letters."
  schedule_expression = var.maintain_schedule
}

resource "aws_cloudwatch_event_target" "maintain" {
  rule = aws_cloudwatch_event_rule.maintain.name
  arn  = module.function["maintain"].function_arn
}

resource "aws_lambda_permission" "maintain_schedule" {
  statement_id  = "AllowEventBridgeSchedule"
  action        = "lambda:InvokeFunction"
  function_name = module.function["maintain"].function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.maintain.arn
}
