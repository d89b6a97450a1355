# QA: deployed automatically from main. Cheaper capacity, short retention, easy teardown.
stage = "qa"

stream_mode             = "PROVISIONED"
stream_shard_count      = 1
stream_retention_hours  = 24
stream_on_demand_shards = 4 # unused in PROVISIONED mode

# Reserved concurrency caps each function, and with it the number of database
# connections. migrate runs alone so two migrations never race. The stream consumers
# (error_sink, error_alert) are not listed: theirs is shards x parallelization factor
# (connections.tf), so it grows with the stream instead of throttling it.
reserved_concurrency = {
  error_source           = 10
  log_source             = 5
  migrate                = 1
  read_table             = 2
  reset_table            = 2
  reprocess_dead_letters = 1
  maintain               = 1
}

# No proxy in qa: the functions connect to the instance, whose max_connections less
# db_connection_reserve is the connection budget the plan checks.
db_proxy = false

# error_alert: errors from one source in one 60 s window (per shard) that raise an alert.
# QA alerts early so the path is exercised; test traffic is small.
alert_threshold = 5

# Log groups feeding log_source, e.g.
#   "/aws/lambda/checkout-api" = { filter_pattern = "?ERROR ?WARN ?CRITICAL" }
log_subscriptions = {}

# Days of errors and dead letters kept (maintain drops older days daily).
retention_days = 14

log_retention_days    = 14
application_log_level = "DEBUG"

db_instance_class        = "db.t4g.micro"
db_multi_az              = false
db_backup_retention_days = 1
db_deletion_protection   = false
db_skip_final_snapshot   = true

alarm_iterator_age_ms     = 900000
alarm_errors_threshold    = 5
alarm_throttles_threshold = 5
