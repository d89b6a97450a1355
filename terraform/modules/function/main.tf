# One Lambda function from a ./build.sh zip, with its own least-privilege role, a log
# group with retention, and optionally Kinesis event source mappings (each with an SQS
# on-failure destination), an SQS on-failure destination for asynchronous invocations,
# and an IAM-authenticated function URL.

data "aws_partition" "current" {}

locals {
  reads_streams = length(var.event_sources) > 0
  writes        = length(var.write_stream_arns) > 0
  publishes     = length(var.publish_topic_arns) > 0
}

################################################################################
# Role: one per function, allowing only what this function does
################################################################################

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "this" {
  name               = var.function_name
  assume_role_policy = data.aws_iam_policy_document.assume.json
  tags               = var.tags
}

data "aws_iam_policy_document" "this" {
  statement {
    sid       = "WriteOwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.this.arn}:*"]
  }

  statement {
    sid = "Tracing"
    # X-Ray trace segments have no resource-level permissions.
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    resources = ["*"]
  }

  statement {
    sid = "ProjectKeyDecrypt"
    # Reading an encrypted stream, the database secret and the environment.
    actions   = ["kms:Decrypt"]
    resources = [var.kms_key_arn]
  }

  dynamic "statement" {
    for_each = local.writes || local.reads_streams || local.publishes || var.async_on_failure ? [1] : []
    content {
      sid = "ProjectKeyEncrypt"
      # Writing to an encrypted stream, topic or on-failure queue.
      actions   = ["kms:GenerateDataKey"]
      resources = [var.kms_key_arn]
    }
  }

  dynamic "statement" {
    for_each = local.writes ? [1] : []
    content {
      sid       = "WriteStreams"
      actions   = ["kinesis:PutRecord", "kinesis:PutRecords", "kinesis:DescribeStreamSummary", "kinesis:ListShards"]
      resources = var.write_stream_arns
    }
  }

  dynamic "statement" {
    for_each = local.reads_streams ? [1] : []
    content {
      sid = "ReadStreams"
      actions = [
        "kinesis:DescribeStream", "kinesis:DescribeStreamSummary", "kinesis:GetRecords",
        "kinesis:GetShardIterator", "kinesis:ListShards", "kinesis:SubscribeToShard",
      ]
      resources = [for s in values(var.event_sources) : s.stream_arn]
    }
  }

  dynamic "statement" {
    for_each = local.reads_streams ? [1] : []
    content {
      sid       = "SendFailedBatchPointers"
      actions   = ["sqs:SendMessage"]
      resources = [for q in aws_sqs_queue.on_failure : q.arn]
    }
  }

  dynamic "statement" {
    for_each = var.async_on_failure ? [1] : []
    content {
      sid = "SendFailedAsyncEvents"
      # Lambda delivers a failed asynchronous event to the destination with the function's role.
      actions   = ["sqs:SendMessage"]
      resources = [aws_sqs_queue.async_on_failure[0].arn]
    }
  }

  dynamic "statement" {
    for_each = local.publishes ? [1] : []
    content {
      sid       = "PublishTopics"
      actions   = ["sns:Publish"]
      resources = var.publish_topic_arns
    }
  }

  dynamic "statement" {
    for_each = length(var.secret_arns) > 0 ? [1] : []
    content {
      sid       = "ReadDatabaseSecret"
      actions   = ["secretsmanager:GetSecretValue"]
      resources = var.secret_arns
    }
  }

  dynamic "statement" {
    for_each = length(var.database_connect_arns) > 0 ? [1] : []
    content {
      sid = "ConnectToDatabaseAsOwnUser"
      # RDS IAM authentication: the auth token the function signs is accepted for these database users only.
      actions   = ["rds-db:connect"]
      resources = var.database_connect_arns
    }
  }
}

resource "aws_iam_role_policy" "this" {
  name   = "least-privilege"
  role   = aws_iam_role.this.id
  policy = data.aws_iam_policy_document.this.json
}

# Lambda creates and deletes the ENIs of a VPC function; those EC2 actions take no
# resource-level restriction, so the AWS managed policy is as narrow as it gets.
resource "aws_iam_role_policy_attachment" "vpc" {
  count = var.vpc != null ? 1 : 0

  role       = aws_iam_role.this.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/service-role/AWSLambdaENIManagementAccess"
}

################################################################################
# Logs
################################################################################

resource "aws_cloudwatch_log_group" "this" {
  name              = "/aws/lambda/${var.function_name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

################################################################################
# Function
################################################################################

resource "aws_lambda_function" "this" {
  #checkov:skip=CKV_AWS_116:Failures go to SQS on-failure destinations instead of a DLQ: per event source mapping for stream batches, and per function (async_on_failure, aws_lambda_function_event_invoke_config) for asynchronous callers such as CloudWatch Logs; HTTP/direct invokes are synchronous and answer the caller.
  #checkov:skip=CKV_AWS_272:Zips are built deterministically in CI and pinned by source_code_hash (sha256); AWS Signer would need S3-hosted artifacts, which this project does not use.
  #checkov:skip=CKV_AWS_117:Only functions that reach the database run in the VPC; producers call the public Kinesis API and would otherwise need a NAT gateway or endpoints for no benefit.
  function_name = var.function_name
  description   = var.description
  role          = aws_iam_role.this.arn
  handler       = var.handler
  runtime       = var.runtime
  architectures = [var.architecture]
  memory_size   = var.memory_size
  timeout       = var.timeout

  filename         = var.package_path
  source_code_hash = filebase64sha256(var.package_path)

  reserved_concurrent_executions = var.reserved_concurrency
  kms_key_arn                    = var.kms_key_arn

  environment {
    variables = var.environment
  }

  tracing_config {
    mode = var.tracing_mode
  }

  dynamic "logging_config" {
    for_each = var.json_logging ? [1] : []
    content {
      log_format            = "JSON"
      log_group             = aws_cloudwatch_log_group.this.name
      application_log_level = var.application_log_level
      system_log_level      = var.system_log_level
    }
  }

  dynamic "vpc_config" {
    for_each = var.vpc != null ? [var.vpc] : []
    content {
      subnet_ids         = vpc_config.value.subnet_ids
      security_group_ids = vpc_config.value.security_group_ids
    }
  }

  tags = var.tags

  # The log group must exist (with retention and encryption) before Lambda would
  # create a default one, and the role must be able to write to it.
  depends_on = [
    aws_cloudwatch_log_group.this,
    aws_iam_role_policy.this,
    aws_iam_role_policy_attachment.vpc,
  ]
}

resource "aws_lambda_function_url" "this" {
  count = var.create_function_url ? 1 : 0

  function_name      = aws_lambda_function.this.function_name
  authorization_type = "AWS_IAM"
}

################################################################################
# Event source mappings
################################################################################

# Lambda sends a pointer to a batch it gave up on (shard, first and last sequence
# number) here; the records stay in the stream for its retention period and can be
# replayed from that pointer.
resource "aws_sqs_queue" "on_failure" {
  for_each = var.event_sources

  name                              = "${var.function_name}-${each.value.stream}-failures"
  message_retention_seconds         = var.on_failure_retention_seconds
  kms_master_key_id                 = var.kms_key_arn
  kms_data_key_reuse_period_seconds = 300
  tags                              = var.tags
}

resource "aws_lambda_event_source_mapping" "this" {
  for_each = var.event_sources

  function_name     = aws_lambda_function.this.arn
  event_source_arn  = each.value.stream_arn
  starting_position = each.value.starting_position
  # Only for AT_TIMESTAMP; a new reader replaying the stream from a time.
  starting_position_timestamp = each.value.starting_position_timestamp
  enabled                     = each.value.enabled

  batch_size                         = each.value.batch_size
  maximum_batching_window_in_seconds = each.value.maximum_batching_window_in_seconds
  parallelization_factor             = each.value.parallelization_factor

  # Stateful aggregation: Lambda passes the handler's state between the invocations
  # of one window per shard and marks the last one isFinalInvokeForWindow.
  tumbling_window_in_seconds = each.value.tumbling_window_in_seconds

  # Reliability: the handler reports poison records itself (dead_letters) and only
  # raises on infrastructure errors, such as a database outage; those batches are
  # retried (maximum_retry_attempts -1: until maximum_record_age_in_seconds), split
  # in halves to isolate a bad record, and finally recorded in the on-failure queue.
  bisect_batch_on_function_error = each.value.bisect_batch_on_function_error
  function_response_types        = each.value.function_response_types
  maximum_retry_attempts         = each.value.maximum_retry_attempts
  maximum_record_age_in_seconds  = each.value.maximum_record_age_in_seconds

  destination_config {
    on_failure {
      destination_arn = aws_sqs_queue.on_failure[each.key].arn
    }
  }

  # Lambda checks at creation that the role can read the stream.
  depends_on = [aws_iam_role_policy.this]
}

################################################################################
# Asynchronous invocations (e.g. CloudWatch Logs subscriptions)
################################################################################

# An event that still fails after Lambda's retries (or grows too old) lands here with
# the request payload and the error, so it can be inspected and invoked again.
resource "aws_sqs_queue" "async_on_failure" {
  count = var.async_on_failure ? 1 : 0

  name                              = "${var.function_name}-async-failures"
  message_retention_seconds         = var.on_failure_retention_seconds
  kms_master_key_id                 = var.kms_key_arn
  kms_data_key_reuse_period_seconds = 300
  tags                              = var.tags
}

resource "aws_lambda_function_event_invoke_config" "this" {
  count = var.async_on_failure ? 1 : 0

  function_name                = aws_lambda_function.this.function_name
  maximum_retry_attempts       = var.async_maximum_retry_attempts
  maximum_event_age_in_seconds = var.async_maximum_event_age_in_seconds

  destination_config {
    on_failure {
      destination = aws_sqs_queue.async_on_failure[0].arn
    }
  }

  # Lambda checks that the role may send to the destination.
  depends_on = [aws_iam_role_policy.this]
}
