-- errors, partitioned by the UTC day of occurred_at, so retention is a DROP of a day's table, not a DELETE that a
-- busy year of rows would make slow and leave to vacuum. The maintain utility creates the days ahead and drops the
-- days past the retention (utilities/maintain).
--
-- Days, not months: the retention is set in days per stage and is short (two weeks in qa, three months in prod), so
-- a daily partition keeps a row at most one day past its retention and a vacuum or an index build touches one
-- day's rows; a hundred partitions are well within what PostgreSQL prunes cheaply.
--
-- Idempotency. PostgreSQL's unique indexes on a partitioned table must include the partition key, so the key is
-- (event_id, occurred_at). A resend carries the same occurred_at as the first delivery (error_source derives the id
-- of an id-less event from its content, occurred_at included; a client that supplies ids resends the same body), so
-- it falls in the same partition and is skipped as before, for every event within retention. The consumer's key is
-- shared.sink.ERROR_KEY. Two different events that share an id but not occurred_at (a client reusing ids) are now
-- both kept, where the first used to win: nothing is dropped silently. A separate error_ids(event_id) table would
-- keep the old rule, but it would grow as errors does with no partition to drop, which is what this migration
-- ends, and it would add a second index write to every row the consumer copies.
--
-- occurred_at is the client's: a row on a day with no partition (far past or future, or a day maintain has not
-- created yet) goes to errors_default rather than being refused. maintain moves such rows into the day's partition
-- when it creates it, and deletes the default partition's rows older than the retention.
--
-- Rows already here are copied, keeping their txid (read_table's page order, migration 0005). Each UTC day holding
-- rows in the last 366 days, and today with the next 7, gets its partition now; older or later rows go to
-- errors_default until maintain runs. The grants of migration 0006 are given again on the new table, the writer's
-- column grant with occurred_at added (ON CONFLICT reads both key columns), and every partition carries the
-- parent's table grants, so TRUNCATE (which checks each partition) and direct reads keep the same rights.
ALTER TABLE errors RENAME TO errors_unpartitioned;
ALTER INDEX errors_pkey RENAME TO errors_unpartitioned_pkey;
ALTER INDEX errors_occurred_at_idx RENAME TO errors_unpartitioned_occurred_at_idx;
ALTER INDEX errors_source_occurred_at_idx RENAME TO errors_unpartitioned_source_occurred_at_idx;
ALTER INDEX errors_txid_event_id_idx RENAME TO errors_unpartitioned_txid_event_id_idx;

CREATE TABLE errors (
    event_id            uuid        NOT NULL,
    source              text        NOT NULL CHECK (char_length(source) BETWEEN 1 AND 128),
    level               text        NOT NULL CHECK (level IN ('DEBUG', 'INFO', 'WARNING', 'ERROR', 'CRITICAL')),
    message             text        NOT NULL,
    occurred_at         timestamptz NOT NULL,
    received_at         timestamptz NOT NULL,
    context             jsonb       NOT NULL DEFAULT '{}'::jsonb,
    stack               text,
    shard_id            text        NOT NULL,
    sequence_number     text        NOT NULL,
    sub_sequence_number integer     NOT NULL,
    ingested_at         timestamptz NOT NULL DEFAULT now(),
    txid                xid8        NOT NULL DEFAULT pg_current_xact_id(),
    PRIMARY KEY (event_id, occurred_at)
) PARTITION BY RANGE (occurred_at);

CREATE INDEX errors_occurred_at_idx ON errors (occurred_at);
CREATE INDEX errors_source_occurred_at_idx ON errors (source, occurred_at);
-- read_table's page order: (txid, event_id) is no longer unique on its own, so occurred_at completes the key.
CREATE INDEX errors_txid_event_id_idx ON errors (txid, event_id, occurred_at);

CREATE TABLE errors_default PARTITION OF errors DEFAULT;

DO $$
DECLARE
    today date := (now() AT TIME ZONE 'UTC')::date;
    day date;
BEGIN
    FOR day IN
        SELECT DISTINCT (occurred_at AT TIME ZONE 'UTC')::date FROM errors_unpartitioned
        WHERE occurred_at >= (today - 366)::timestamp AT TIME ZONE 'UTC'
          AND occurred_at < (today + 8)::timestamp AT TIME ZONE 'UTC'
        UNION
        SELECT today + n FROM generate_series(0, 7) AS n
    LOOP
        EXECUTE format(
            'CREATE TABLE %I PARTITION OF errors FOR VALUES FROM (%L) TO (%L)',
            'errors_p' || to_char(day, 'YYYYMMDD'),
            to_char(day, 'YYYY-MM-DD') || ' 00:00:00+00',
            to_char(day + 1, 'YYYY-MM-DD') || ' 00:00:00+00'
        );
    END LOOP;
END
$$;

INSERT INTO errors (
    event_id, source, level, message, occurred_at, received_at, context, stack,
    shard_id, sequence_number, sub_sequence_number, ingested_at, txid
)
SELECT
    event_id, source, level, message, occurred_at, received_at, context, stack,
    shard_id, sequence_number, sub_sequence_number, ingested_at, txid
FROM errors_unpartitioned;

DROP TABLE errors_unpartitioned;

REVOKE ALL ON errors FROM PUBLIC;
GRANT INSERT ON errors TO pipeline_writer;
GRANT SELECT (event_id, occurred_at) ON errors TO pipeline_writer;
GRANT SELECT ON errors TO pipeline_reader;
GRANT TRUNCATE ON errors TO pipeline_resetter;

-- Every partition gets the parent's table grants; maintain does the same for each partition it creates.
DO $$
DECLARE
    part regclass;
    grant_row record;
BEGIN
    FOR part IN SELECT inhrelid::regclass FROM pg_inherits WHERE inhparent = 'errors'::regclass LOOP
        FOR grant_row IN
            SELECT a.privilege_type, a.grantee::regrole AS grantee
            FROM pg_class c CROSS JOIN LATERAL aclexplode(c.relacl) AS a
            WHERE c.oid = 'errors'::regclass AND a.grantee <> c.relowner AND a.grantee <> 0
        LOOP
            EXECUTE format('GRANT %s ON %s TO %s', grant_row.privilege_type, part, grant_row.grantee);
        END LOOP;
    END LOOP;
END
$$;
