# redrive's access, beyond what every function gets (its logs, X-Ray, the stage key):
# the on-failure queues of the stream mappings, read access to the streams, and invoking
# the stream consumers. It sits outside modules/function because it names the other
# functions' queues and ARNs, which a module instance cannot take from its siblings.

data "aws_iam_policy_document" "redrive" {
  statement {
    sid = "TakeOnFailureRecords"
    # Receive, delete once redriven, and make a kept message visible again at once.
    actions   = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility"]
    resources = flatten([for f in local.stream_consumers : values(module.function[f].on_failure_queue_arns)])
  }

  statement {
    sid       = "ReadStreams"
    actions   = ["kinesis:DescribeStreamSummary", "kinesis:GetShardIterator", "kinesis:GetRecords"]
    resources = [for s in module.stream : s.stream_arn]
  }

  statement {
    sid     = "InvokeConsumers"
    actions = ["lambda:InvokeFunction"]
    # The unqualified ARN and its versions and aliases: an on-failure record names the
    # function as the mapping invoked it.
    resources = flatten([
      for f in local.stream_consumers : [module.function[f].function_arn, "${module.function[f].function_arn}:*"]
    ])
  }
}

resource "aws_iam_role_policy" "redrive" {
  name   = "redrive-access"
  role   = module.function["redrive"].role_name
  policy = data.aws_iam_policy_document.redrive.json
}
