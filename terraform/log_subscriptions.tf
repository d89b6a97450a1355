# CloudWatch Logs subscriptions feeding log_source: for each entry of
# var.log_subscriptions, a subscription filter on that log group and a permission for
# CloudWatch Logs to invoke log_source from that group only. CloudWatch Logs invokes
# the function asynchronously: a delivery that still fails after Lambda's retries
# lands in log_source's async on-failure queue (modules/function, async_on_failure).

locals {
  log_group_arns = {
    for name in keys(var.log_subscriptions) : name => "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:${name}"
  }
}

resource "aws_cloudwatch_log_group" "subscribed" {
  for_each = { for name, s in var.log_subscriptions : name => s if s.create_log_group }

  name              = each.key
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.this.arn
}

resource "aws_lambda_permission" "log_subscription" {
  for_each = var.log_subscriptions

  # Statement ids allow neither "/" nor more than 100 characters: a digest of the name.
  statement_id   = "logs-${substr(sha256(each.key), 0, 32)}"
  action         = "lambda:InvokeFunction"
  function_name  = module.function["log_source"].function_name
  principal      = "logs.amazonaws.com"
  source_arn     = "${local.log_group_arns[each.key]}:*"
  source_account = local.account_id
}

resource "aws_cloudwatch_log_subscription_filter" "log_source" {
  for_each = var.log_subscriptions

  name            = "${local.name_prefix}-log_source"
  log_group_name  = each.value.create_log_group ? aws_cloudwatch_log_group.subscribed[each.key].name : each.key
  filter_pattern  = each.value.filter_pattern
  destination_arn = module.function["log_source"].function_arn

  lifecycle {
    precondition {
      condition     = each.key != module.function["log_source"].log_group_name
      error_message = "log_source must not subscribe to its own log group: every delivery would log and trigger the next."
    }
  }

  # CloudWatch Logs checks at creation that it may invoke the function; the groups of
  # this stack's functions must exist before they can be subscribed.
  depends_on = [aws_lambda_permission.log_subscription, module.function]
}
