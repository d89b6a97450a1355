-- Records the consumer could not turn into rows, kept whole with the reason, so nothing is lost.
-- A record is identified by where it sits in the stream, so a replayed batch adds no second copy.
CREATE TABLE dead_letters (
    id                  bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_source_arn    text        NOT NULL,
    shard_id            text        NOT NULL,
    sequence_number     text        NOT NULL,
    -- The user record's position in a KPL aggregate; 0 for a plain record, -1 for a whole corrupt aggregate.
    sub_sequence_number integer     NOT NULL,
    partition_key       text        NOT NULL,
    reason              text        NOT NULL,
    raw                 bytea       NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    UNIQUE (event_source_arn, shard_id, sequence_number, sub_sequence_number)
);

CREATE INDEX dead_letters_created_at_idx ON dead_letters (created_at);
