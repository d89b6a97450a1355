# The event pipeline: streams, topics, the database, one function per entry of
# pipeline.json's functions, event source mappings from its mappings, and monitoring (log
# subscriptions are in log_subscriptions.tf). Environment differences live in
# environments/<stage>.tfvars only.

locals {
  name_prefix   = "${var.project}-${var.stage}"
  artifacts_dir = coalesce(var.artifacts_dir, "${path.root}/../target")

  # The topology (streams, topics, functions, event source mappings) is pipeline.json at the
  # repository root, shared with the local stack and the build; modules/manifest types and checks
  # it. docs/architecture.md describes its fields. Adding a function or a reader is an entry there.
  streams               = module.manifest.streams
  topics                = module.manifest.topics
  functions             = module.manifest.functions
  event_source_mappings = module.manifest.event_source_mappings

  # The functions that read a stream through a mapping (connections.tf, redrive.tf, monitoring).
  stream_consumers = distinct([for m in values(local.event_source_mappings) : m.function])

  # Environment values that are Terraform expressions, by function: merged over the function's
  # plain `environment`. pipeline.json lists each name in the function's terraform_environment.
  terraform_environment = {
    error_alert = { ALERT_THRESHOLD = tostring(var.alert_threshold) }
    maintain    = { RETENTION_DAYS = tostring(var.retention_days) }
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
    for k, f in local.functions : k => f.database && var.create_database && var.database_iam_auth && f.db_user != null
  }
  database_env = {
    for k, f in local.functions : k => !f.database ? {} : merge(
      local.database_location_env,
      local.iam_login[k] ? { DATABASE_IAM_AUTH = "1", DATABASE_USER = f.db_user } : {},
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
# The manifest: pipeline.json, typed and checked
################################################################################

module "manifest" {
  source = "./modules/manifest"

  manifest                      = jsondecode(file("${path.module}/../pipeline.json"))
  terraform_environment         = local.terraform_environment
  maximum_record_age_in_seconds = var.maximum_record_age_in_seconds
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
  proxy_login_users             = sort(distinct([for k, f in local.functions : f.db_user if local.iam_login[k]]))
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
    { for env, stream in each.value.stream_env : env => module.stream[stream].stream_name },
    { for env, topic in each.value.topic_env : env => aws_sns_topic.this[topic].arn },
    each.value.environment,
    local.database_env[each.key],
  )

  write_stream_arns  = [for stream in values(each.value.stream_env) : module.stream[stream].stream_arn]
  publish_topic_arns = [for topic in values(each.value.topic_env) : aws_sns_topic.this[topic].arn]
  secret_arns = concat(
    each.value.database && var.create_database && !local.iam_login[each.key] ? [module.database.master_user_secret_arn] : [],
    each.key == "migrate" && local.db_proxy ? values(module.database.login_secret_arns) : [],
  )
  database_connect_arns = local.iam_login[each.key] ? [
    "arn:${local.partition}:rds-db:${local.region}:${local.account_id}:dbuser:${local.db_proxy ? module.database.proxy_resource_id : module.database.db_resource_id}/${each.value.db_user}"
  ] : []

  vpc = each.value.database ? {
    subnet_ids         = module.database.subnet_ids
    security_group_ids = [module.database.function_security_group_id]
  } : null

  create_function_url = each.value.function_url && var.enable_function_urls
  async_on_failure    = each.value.async

  # Keyed by the mapping's own name in pipeline.json, so adding a mapping leaves the others' addresses alone.
  event_sources = {
    for name, m in local.event_source_mappings : name => {
      stream                             = m.stream
      stream_arn                         = module.stream[m.stream].stream_arn
      batch_size                         = m.batch_size
      maximum_batching_window_in_seconds = m.maximum_batching_window_in_seconds
      parallelization_factor             = m.parallelization_factor
      maximum_retry_attempts             = m.maximum_retry_attempts
      maximum_record_age_in_seconds      = m.maximum_record_age_in_seconds
      tumbling_window_in_seconds         = m.tumbling_window_in_seconds
      bisect_batch_on_function_error     = m.bisect_batch_on_function_error
      function_response_types            = m.report_batch_item_failures ? ["ReportBatchItemFailures"] : []
      starting_position                  = m.starting_position
      starting_position_timestamp        = m.starting_position_timestamp
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

  functions             = { for k, f in module.function : k => f.function_name }
  consumers             = { for f in local.stream_consumers : f => module.function[f].function_name }
  dead_letter_consumers = { for k, f in local.functions : k => module.function[k].function_name if f.dead_letters }
  streams               = { for k, s in module.stream : k => s.stream_name }
  # Keyed <function>-<stream> and <function>-async, like the queues' names (and the alarms' names).
  on_failure_queues = merge(
    { for name, m in local.event_source_mappings : "${m.function}-${m.stream}" => module.function[m.function].on_failure_queue_names[name] },
    { for k, f in local.functions : "${k}-async" => module.function[k].async_on_failure_queue_name if f.async },
  )

  iterator_age_threshold_ms = var.alarm_iterator_age_ms
  errors_threshold          = var.alarm_errors_threshold
  throttles_threshold       = var.alarm_throttles_threshold
  alarm_emails              = var.alarm_emails
  create_dashboard          = var.create_dashboard
}
