# Production: manual job on the same pipeline. Capacity follows traffic, a week of
# replay window, protected and backed-up database, a year of logs.
stage = "prod"

stream_mode            = "ON_DEMAND"
stream_shard_count     = 1 # unused in ON_DEMAND mode
stream_retention_hours = 168
# The shards the consumers' reserved concurrency and the connection budget plan for
# (docs/capacity.md: about where the database, not the stream, becomes the limit).
# Raise it when the stream grows past it: the throttles alarm of error_sink says so.
stream_on_demand_shards = 32

# reset_table refuses to run in production; 0 also stops Lambda from invoking it. The
# stream consumers (error_sink, error_alert) are not listed: theirs is shards x
# parallelization factor (connections.tf), so it grows with the stream.
reserved_concurrency = {
  error_source           = 100
  log_source             = 20
  migrate                = 1
  read_table             = 2
  reset_table            = 0
  reprocess_dead_letters = 1
  maintain               = 1
}

# The database functions reach PostgreSQL through an RDS Proxy (TLS, IAM auth); the
# connection budget is its pool, db_proxy_max_connections_percent of max_connections.
db_proxy = true

# error_alert: errors from one source in one 60 s window (per shard) that raise an alert.
# Production alerts only on a burst, not on the background error rate.
alert_threshold = 20

# Log groups feeding log_source, e.g.
#   "/aws/lambda/checkout-api" = { filter_pattern = "?ERROR ?WARN ?CRITICAL" }
log_subscriptions = {}

# Days of errors and dead letters kept (maintain drops older days daily).
retention_days = 90

log_retention_days    = 365
application_log_level = "INFO"

db_instance_class        = "db.t4g.medium"
db_multi_az              = true
db_backup_retention_days = 14
db_deletion_protection   = true
db_skip_final_snapshot   = false

alarm_iterator_age_ms     = 300000
alarm_errors_threshold    = 0
alarm_throttles_threshold = 0
