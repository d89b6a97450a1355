# The event pipeline (DESIGN §6): streams, topics, the database, one function per entry
# of local.functions, event source mappings from local.event_source_mappings, and
# monitoring (log subscriptions are in log_subscriptions.tf). Environment differences
# live in environments/<stage>.tfvars only.

locals {
  name_prefix   = "${var.project}-${var.stage}"
  artifacts_dir = coalesce(var.artifacts_dir, "${path.root}/../target")

  # Streams: short name => settings (capacity and retention come from the stage).
  streams = {
    errors = {}
  }

  # SNS topics functions publish to: short name => settings. FIFO topics deduplicate
  # on the MessageDeduplicationId the publisher sends (never on content).
  topics = {
    alerts = { fifo = true }
  }

  # Functions: short name (the folder name, the zip name and the EMF Service
  # dimension) => settings. Adding a function means adding one entry here.
  #   kind        producers | consumers | utilities (handler <kind>.<name>.handler.handler)
  #   database    runs in the VPC with DATABASE_* settings
  #   db_user     its login role (migration 0006): with database_iam_auth it logs in as that role with an
  #               IAM auth token; without one (migrate) it reads the master secret
  #   stream_env  environment variable => stream short name; grants write access
  #   topic_env   environment variable => topic short name (its ARN); grants sns:Publish
  #   environment other environment variables (plain configuration, never secrets)
  #   function_url  IAM-authenticated HTTPS endpoint (SigV4) for HTTP clients
  #   async       invoked asynchronously (CloudWatch Logs): failed events go to an SQS queue
  #   dead_letters  routes poison records to the dead_letters table (EMF DeadLetters alarm)
  functions = {
    error_source = {
      kind         = "producers"
      description  = "Validates error events and writes them, KPL-aggregated, to the errors stream."
      memory_size  = 512
      timeout      = 30
      database     = false
      stream_env   = { STREAM_NAME = "errors" }
      function_url = true
    }
    log_source = {
      kind        = "producers"
      description = "Turns CloudWatch Logs subscription deliveries into error events on the errors stream."
      memory_size = 256
      timeout     = 60
      database    = false
      stream_env  = { STREAM_NAME = "errors" }
      async       = true
    }
    error_sink = {
      kind         = "consumers"
      description  = "Writes error events from the errors stream to PostgreSQL, idempotently, with dead letters."
      memory_size  = 1024
      timeout      = 120
      database     = true
      db_user      = "error_sink"
      dead_letters = true
    }
    error_alert = {
      kind        = "consumers"
      description = "Counts errors per source in tumbling windows; one SNS alert per source and window over the threshold."
      memory_size = 256
      timeout     = 60
      database    = false
      topic_env   = { ALERT_TOPIC_ARN = "alerts" }
      environment = { ALERT_THRESHOLD = tostring(var.alert_threshold) }
    }
    migrate = {
      kind        = "utilities"
      description = "Applies the versioned SQL migrations."
      memory_size = 256
      timeout     = 300
      database    = true
    }
    read_table = {
      kind        = "utilities"
      description = "Returns rows of an allow-listed table, paginated."
      memory_size = 256
      timeout     = 30
      database    = true
      db_user     = "read_table"
    }
    reset_table = {
      kind        = "utilities"
      description = "Truncates an allow-listed table outside production, on explicit confirmation."
      memory_size = 256
      timeout     = 60
      database    = true
      db_user     = "reset_table"
    }
    # Operators' recovery tools. redrive's access (the on-failure queues, reading the
    # streams, invoking the consumers) is granted in redrive.tf; reprocess_dead_letters
    # needs the database only.
    redrive = {
      kind        = "utilities"
      description = "Reads on-failure records, fetches their batches back from the stream and invokes the consumer again."
      memory_size = 512
      timeout     = 900
      database    = false
    }
    reprocess_dead_letters = {
      kind        = "utilities"
      description = "Reads dead letters again through the current schema; the valid ones move to errors."
      memory_size = 512
      timeout     = 900
      database    = true
    }
    # Daily (maintain.tf): partitions of errors ahead, those past the retention dropped,
    # older dead letters deleted. No db_user: it connects as the schema owner, as migrate
    # does, since only the owner of errors may create and drop its partitions.
    maintain = {
      kind        = "utilities"
      description = "Creates the coming days' partitions of errors and drops those past the retention; deletes older dead letters."
      memory_size = 256
      timeout     = 900
      database    = true
      environment = { RETENTION_DAYS = tostring(var.retention_days) }
    }
  }

  # Readers of the streams, one entry per (function, stream) pair. A stream may have
  # any number of readers, each with its own checkpoint and on-failure queue.
  # Outages: a failed batch is retried (maximum_retry_attempts = -1) until its records
  # are maximum_record_age_in_seconds old, bisected to isolate a bad record, and only
  # then recorded in the on-failure queue. local/stack.py's MAPPINGS mirror these
  # settings (test/conformance/test_settings_match_terraform.py checks it).
  #   tumbling_window_in_seconds  null, or the window (1-900 s) whose state Lambda
  #                               passes between invocations (isFinalInvokeForWindow)
  #   starting_position           optional: TRIM_HORIZON (the default: a new reader reads
  #                               the whole retained stream) or AT_TIMESTAMP with
  #                               starting_position_timestamp (RFC 3339); both apply when
  #                               the mapping is created, and changing them replaces it
  event_source_mappings = {
    error_sink_errors = {
      function                           = "error_sink"
      stream                             = "errors"
      batch_size                         = 100
      maximum_batching_window_in_seconds = 5
      parallelization_factor             = 2
      maximum_retry_attempts             = -1
      maximum_record_age_in_seconds      = var.maximum_record_age_in_seconds
      tumbling_window_in_seconds         = null
    }
    # Windows and the alert's deduplication id are per shard: one batch at a time
    # per shard (parallelization 1) keeps one window state per shard.
    error_alert_errors = {
      function                           = "error_alert"
      stream                             = "errors"
      batch_size                         = 500
      maximum_batching_window_in_seconds = 5
      parallelization_factor             = 1
      maximum_retry_attempts             = -1
      maximum_record_age_in_seconds      = var.maximum_record_age_in_seconds
      tumbling_window_in_seconds         = 60
    }
  }

  # Where the database is, for every database function (its proxy when there is one); how
  # each logs in depends on its db_user.
  db_proxy = var.db_proxy && var.create_database
  database_location_env = var.create_database ? {
    DATABASE_HOST = local.db_proxy ? module.database.proxy_endpoint : module.database.db_instance_address
    DATABASE_NAME = module.database.db_name
    DATABASE_PORT = tostring(module.database.db_instance_port)
  } : {}
  iam_login = {
    for k, f in local.functions : k => f.database && var.create_database && var.database_iam_auth && try(f.db_user, null) != null
  }
  database_env = {
    for k, f in local.functions : k => !f.database ? {} : merge(
      local.database_location_env,
      local.iam_login[k] ? { DATABASE_IAM_AUTH = "1", DATABASE_USER = try(f.db_user, "") } : {},
      !local.iam_login[k] && var.create_database ? { DATABASE_SECRET_ARN = module.database.master_user_secret_arn } : {},
      # Behind the proxy the login roles log in to PostgreSQL with their passwords (the
      # proxy's secrets), so they must not be switched to IAM logins (rds_iam).
      k == "migrate" && var.create_database && var.database_iam_auth && !local.db_proxy ? { DATABASE_IAM_LOGINS = "1" } : {},
      # ...instead migrate gives each login role the password in the proxy's secret for it.
      k == "migrate" && local.db_proxy && var.database_iam_auth ? { DATABASE_LOGIN_SECRETS = jsonencode(module.database.login_secret_arns) } : {},
    )
  }
}

################################################################################
# Streams
################################################################################

module "stream" {
  source   = "./modules/stream"
  for_each = local.streams

  name                   = "${local.name_prefix}-${each.key}"
  stream_mode            = var.stream_mode
  shard_count            = var.stream_shard_count
  retention_period_hours = var.stream_retention_hours
  kms_key_arn            = aws_kms_key.this.arn
}

################################################################################
# Topics
################################################################################

resource "aws_sns_topic" "this" {
  for_each = local.topics

  name                        = "${local.name_prefix}-${each.key}${each.value.fifo ? ".fifo" : ""}"
  fifo_topic                  = each.value.fifo
  content_based_deduplication = each.value.fifo ? false : null
  kms_master_key_id           = aws_kms_key.this.arn
}

################################################################################
# Database and its network
################################################################################

module "database" {
  source = "./modules/database"

  name            = local.name_prefix
  kms_key_arn     = aws_kms_key.this.arn
  create_instance = var.create_database

  create_vpc         = var.create_vpc
  vpc_cidr           = var.vpc_cidr
  availability_zones = var.availability_zones
  vpc_id             = var.vpc_id
  subnet_ids         = var.subnet_ids

  create_secrets_manager_endpoint = var.create_secrets_manager_endpoint
  iam_database_authentication     = var.database_iam_auth

  create_proxy                  = var.db_proxy
  proxy_login_users             = sort(distinct([for k, f in local.functions : try(f.db_user, "") if local.iam_login[k]]))
  proxy_max_connections_percent = var.db_proxy_max_connections_percent

  instance_class          = var.db_instance_class
  allocated_storage       = var.db_allocated_storage
  max_allocated_storage   = var.db_max_allocated_storage
  multi_az                = var.db_multi_az
  backup_retention_days   = var.db_backup_retention_days
  deletion_protection     = var.db_deletion_protection
  skip_final_snapshot     = var.db_skip_final_snapshot
  log_retention_days      = var.log_retention_days
  flow_log_retention_days = var.log_retention_days
}

################################################################################
# Functions
################################################################################

module "function" {
  source   = "./modules/function"
  for_each = local.functions

  function_name = "${local.name_prefix}-${each.key}"
  description   = each.value.description
  handler       = "${each.value.kind}.${each.key}.handler.handler"
  package_path  = "${local.artifacts_dir}/${each.key}.zip"
  runtime       = var.lambda_runtime
  architecture  = var.lambda_architecture
  memory_size   = each.value.memory_size
  timeout       = each.value.timeout

  reserved_concurrency  = local.reserved_concurrency[each.key] # connections.tf
  log_retention_days    = var.log_retention_days
  json_logging          = var.enable_lambda_logging_config
  application_log_level = var.application_log_level
  kms_key_arn           = aws_kms_key.this.arn

  environment = merge(
    { STAGE = var.stage },
    { for env, stream in try(each.value.stream_env, {}) : env => module.stream[stream].stream_name },
    { for env, topic in try(each.value.topic_env, {}) : env => aws_sns_topic.this[topic].arn },
    try(each.value.environment, {}),
    local.database_env[each.key],
  )

  write_stream_arns  = [for stream in values(try(each.value.stream_env, {})) : module.stream[stream].stream_arn]
  publish_topic_arns = [for topic in values(try(each.value.topic_env, {})) : aws_sns_topic.this[topic].arn]
  secret_arns = concat(
    each.value.database && var.create_database && !local.iam_login[each.key] ? [module.database.master_user_secret_arn] : [],
    each.key == "migrate" && local.db_proxy ? values(module.database.login_secret_arns) : [],
  )
  database_connect_arns = local.iam_login[each.key] ? [
    "arn:${local.partition}:rds-db:${local.region}:${local.account_id}:dbuser:${local.db_proxy ? module.database.proxy_resource_id : module.database.db_resource_id}/${try(each.value.db_user, "")}"
  ] : []

  vpc = each.value.database ? {
    subnet_ids         = module.database.subnet_ids
    security_group_ids = [module.database.function_security_group_id]
  } : null

  create_function_url = try(each.value.function_url, false) && var.enable_function_urls
  async_on_failure    = try(each.value.async, false)

  event_sources = {
    for m in values(local.event_source_mappings) : m.stream => {
      stream_arn                         = module.stream[m.stream].stream_arn
      batch_size                         = m.batch_size
      maximum_batching_window_in_seconds = m.maximum_batching_window_in_seconds
      parallelization_factor             = m.parallelization_factor
      maximum_retry_attempts             = m.maximum_retry_attempts
      maximum_record_age_in_seconds      = m.maximum_record_age_in_seconds
      tumbling_window_in_seconds         = m.tumbling_window_in_seconds
      starting_position                  = try(m.starting_position, "TRIM_HORIZON")
      starting_position_timestamp        = try(m.starting_position_timestamp, null)
      stream_retention_hours             = var.stream_retention_hours
    } if m.function == each.key
  }

  tags = { Function = each.key }
}

################################################################################
# Monitoring
################################################################################

module "monitoring" {
  source = "./modules/monitoring"

  name        = local.name_prefix
  kms_key_arn = aws_kms_key.this.arn

  functions = { for k, f in module.function : k => f.function_name }
  consumers = {
    for f in distinct([for m in values(local.event_source_mappings) : m.function]) : f => module.function[f].function_name
  }
  dead_letter_consumers = { for k, f in local.functions : k => module.function[k].function_name if try(f.dead_letters, false) }
  streams               = { for k, s in module.stream : k => s.stream_name }
  on_failure_queues = merge(concat(
    [for k, f in module.function : { for stream, q in f.on_failure_queue_names : "${k}-${stream}" => q }],
    [{ for k, f in local.functions : "${k}-async" => module.function[k].async_on_failure_queue_name if try(f.async, false) }],
  )...)

  iterator_age_threshold_ms = var.alarm_iterator_age_ms
  errors_threshold          = var.alarm_errors_threshold
  throttles_threshold       = var.alarm_throttles_threshold
  alarm_emails              = var.alarm_emails
  create_dashboard          = var.create_dashboard
}
