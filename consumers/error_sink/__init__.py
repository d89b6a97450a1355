"""error_sink: de-aggregates error events from Kinesis and writes them to PostgreSQL, idempotently."""
