-- Error events, one row per event_id: the idempotency key end to end.
CREATE TABLE errors (
    event_id            uuid        PRIMARY KEY,
    source              text        NOT NULL CHECK (char_length(source) BETWEEN 1 AND 128),
    level               text        NOT NULL CHECK (level IN ('DEBUG', 'INFO', 'WARNING', 'ERROR', 'CRITICAL')),
    message             text        NOT NULL,
    occurred_at         timestamptz NOT NULL,
    received_at         timestamptz NOT NULL,
    context             jsonb       NOT NULL DEFAULT '{}'::jsonb,
    stack               text,
    -- Where the row came from in the stream, for tracing a row back to its record.
    shard_id            text        NOT NULL,
    sequence_number     text        NOT NULL,
    sub_sequence_number integer     NOT NULL,
    ingested_at         timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX errors_occurred_at_idx ON errors (occurred_at);
CREATE INDEX errors_source_occurred_at_idx ON errors (source, occurred_at);
