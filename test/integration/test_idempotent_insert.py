"""bulk.insert_idempotent against the real PostgreSQL: first delivery, replay, partial overlap, repeats in a batch."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from consumers.error_sink import transform
from shared import bulk
from shared import db as shared_db
from shared.config import DatabaseSettings
from test.support import counts, error_event, kinesis_event, wire

pytestmark = [pytest.mark.integration]


def _rows(numbers: list[int], first_seq: int = 1000) -> list[tuple[Any, ...]]:
    event = kinesis_event([(f"k{n}", wire(error_event(n))) for n in numbers], first_seq=first_seq)
    return transform.plan(event["Records"]).rows


def _insert(database: shared_db.Database, table: str, columns: Any, rows: Any, key: Any) -> tuple[int, bool]:
    """(rows inserted, whether the staging table was needed), in one transaction."""

    def work(cur: Any) -> tuple[int, bool]:
        inserted = bulk.insert_idempotent(cur, table, columns, rows, key=key)
        cur.execute("SELECT to_regclass(%s) IS NOT NULL", (f"pg_temp._stage_{table}",))
        return inserted, cur.fetchone()[0]

    return database.run(work)


@pytest.fixture
def database(local_stack: Any) -> Any:
    database = shared_db.Database(DatabaseSettings(url=local_stack.database_url, sslmode="disable"))
    yield database
    database.close()


def test_a_replay_of_a_stored_batch_writes_nothing_and_needs_no_staging(database, db):
    rows = _rows(list(range(500)))
    assert _insert(database, "errors", transform.ERROR_COLUMNS, rows, transform.ERROR_KEY) == (500, False)
    database.close()  # a fresh session, so a temp table would be new
    assert _insert(database, "errors", transform.ERROR_COLUMNS, rows, transform.ERROR_KEY) == (0, False)
    assert counts(db) == (500, 0)


def test_a_partial_overlap_inserts_only_the_new_rows(database, db):
    columns, key = transform.ERROR_COLUMNS, transform.ERROR_KEY
    assert _insert(database, "errors", columns, _rows(list(range(0, 300))), key)[0] == 300
    assert _insert(database, "errors", columns, _rows(list(range(200, 500))), key)[0] == 200
    assert counts(db) == (500, 0)


def test_a_key_repeated_within_a_batch_is_written_once(database, db):
    rows = _rows([1, 2, 3, 2, 1, 4])
    inserted, _ = _insert(database, "errors", transform.ERROR_COLUMNS, rows, transform.ERROR_KEY)
    assert inserted == 4
    assert counts(db) == (4, 0)


def test_a_multi_column_key_is_looked_up_by_every_column(database, db):
    dead = [
        ("arn:aws:kinesis:us-east-1:1:stream/errors", "shardId-000000000000", str(1000 + i), i % 3, "k", "r", b"x")
        for i in range(30)
    ]
    columns, key = transform.DEAD_LETTER_COLUMNS, transform.DEAD_LETTER_KEY
    assert _insert(database, "dead_letters", columns, dead, key)[0] == 30
    # Same stream, shard and sequence numbers, other sub-sequence numbers: new keys, not repeats.
    shifted = [(*d[:3], d[3] + 3, *d[4:]) for d in dead]
    assert _insert(database, "dead_letters", columns, dead + shifted, key)[0] == 30
    assert counts(db) == (0, 60)


def test_stored_keys_are_compared_by_postgresql_not_by_their_text(database, db):
    """A key spelt otherwise than the server prints it (a UUID in capitals) is still found on a replay."""
    rows = [(row[0].upper(), *row[1:]) for row in _rows(list(range(50)))]
    assert _insert(database, "errors", transform.ERROR_COLUMNS, rows, transform.ERROR_KEY) == (50, False)
    database.close()
    assert _insert(database, "errors", transform.ERROR_COLUMNS, rows, transform.ERROR_KEY) == (0, False)
    assert counts(db) == (50, 0)


def test_a_replay_is_told_apart_before_any_row_is_formatted_for_copy(database, db):
    """A replay of a stored batch is detected by probing its first key, not by a COPY that fails on it."""
    rows = _rows(list(range(300)))
    formatted: list[Any] = []

    def line(row: Any) -> str:
        formatted.append(row)
        return bulk.copy_line(row)

    first = database.run(
        lambda cur: bulk.insert_idempotent(
            cur, "errors", transform.ERROR_COLUMNS, rows, key=transform.ERROR_KEY, line=line
        )
    )
    assert (first, len(formatted)) == (300, 300)
    formatted.clear()
    again = database.run(
        lambda cur: bulk.insert_idempotent(
            cur, "errors", transform.ERROR_COLUMNS, rows, key=transform.ERROR_KEY, line=line
        )
    )
    assert (again, formatted) == (0, [])
    assert counts(db) == (300, 0)


def test_a_replay_whose_first_row_is_new_still_writes_only_the_new_rows(database, db):
    columns, key = transform.ERROR_COLUMNS, transform.ERROR_KEY
    assert _insert(database, "errors", columns, _rows(list(range(100, 200))), key)[0] == 100
    assert _insert(database, "errors", columns, _rows([0, *range(100, 200), 1]), key)[0] == 2
    assert counts(db) == (102, 0)


def _partition_of(db: Any, occurred_at: str) -> str:
    with db.cursor() as cur:
        cur.execute(
            "INSERT INTO errors (event_id, source, level, message, occurred_at, received_at, shard_id, "
            "sequence_number, sub_sequence_number) "
            "VALUES (gen_random_uuid(), 's', 'ERROR', 'm', %s, now(), 'x', 'y', 0) RETURNING tableoid::regclass::text",
            (occurred_at,),
        )
        return cur.fetchone()[0]


def test_a_replay_reads_only_the_partitions_its_batch_falls_in(database, db):
    """The lookup of stored keys is bounded by the batch's occurred_at, so other days' partitions are not read."""
    rows = _rows(list(range(2000)))  # all on the one day error_event gives them
    here = _partition_of(db, rows[0][4])
    today = _partition_of(db, datetime.now(UTC).isoformat())
    assert here != today, "the test needs the batch and today's rows in different partitions"
    with db.cursor() as cur:  # another day with more rows than the batch: what a hash of every partition would read
        cur.execute(
            "INSERT INTO errors (event_id, source, level, message, occurred_at, received_at, shard_id, "
            "sequence_number, sub_sequence_number) SELECT gen_random_uuid(), 's', 'ERROR', 'm', now(), now(), "
            "'x', 'y', 0 FROM generate_series(1, 5000)"
        )
    assert _insert(database, "errors", transform.ERROR_COLUMNS, rows, transform.ERROR_KEY)[0] == 2000
    with db.cursor() as cur:
        cur.execute("ANALYZE errors")

    def replay(cur: Any) -> tuple[int, dict[str, int]]:
        inserted = bulk.insert_idempotent(cur, "errors", transform.ERROR_COLUMNS, rows, key=transform.ERROR_KEY)
        cur.execute(
            "SELECT relname, coalesce(seq_scan, 0) + coalesce(idx_scan, 0) FROM pg_stat_xact_user_tables "
            "WHERE relid IN (SELECT inhrelid FROM pg_inherits WHERE inhparent = 'errors'::regclass)"
        )
        return inserted, dict(cur.fetchall())

    inserted, scans = database.run(replay)
    assert inserted == 0
    assert scans[here] > 0  # the batch's own partition is read
    assert {name: n for name, n in scans.items() if name != here and n} == {}
    assert counts(db) == (2000 + 5002, 0)


TRICKY_TEXT = ['a"b', "back\\slash", "x,y", "{braces}", " padded ", "", "NULL", 'q",\\"', "é\u2028", '","']


def test_keys_are_sent_to_the_lookup_whatever_their_text(database, db):
    """Text keys reach the lookup as one array literal: quotes, backslashes, commas, braces, spaces, an empty
    string and the word NULL must each arrive as themselves."""
    columns, key = transform.DEAD_LETTER_COLUMNS, transform.DEAD_LETTER_KEY
    dead = [(arn, shard, "7", i, "k", "r", b"x") for i, arn in enumerate(TRICKY_TEXT) for shard in TRICKY_TEXT[:3]]
    assert _insert(database, "dead_letters", columns, dead, key)[0] == len(dead)
    # The same keys again, with one new row in front (so the lookup, not the first key's probe, decides).
    new = ("new", "shard", "7", 0, "k", "r", b"x")
    assert _insert(database, "dead_letters", columns, [new, *dead], key)[0] == 1
    assert counts(db) == (0, len(dead) + 1)
    with db.cursor() as cur:
        cur.execute("SELECT %s::text[]", (bulk._array(TRICKY_TEXT),))
        assert cur.fetchone()[0] == TRICKY_TEXT


def _insert_or_reject(database: shared_db.Database, rows: Any) -> tuple[int, list[tuple[int, str]]]:
    columns, key = transform.DEAD_LETTER_COLUMNS, transform.DEAD_LETTER_KEY
    return database.run(lambda cur: bulk.insert_or_reject(cur, "dead_letters", columns, rows, key=key))


def test_a_key_psycopg2_cannot_send_is_refused_alone_not_fatal_to_the_batch(database, db):
    # GIVEN a stored row first (so the probe and the lookup both see the batch's keys), then a key holding a NUL
    stored = ("arn", "shard", "1", 0, "k", "r", b"x")
    assert _insert_or_reject(database, [stored]) == (1, [])
    batch = [stored, ("arn", "sha\x00rd", "2", 0, "k", "r", b"x"), ("arn", "shard", "3", 0, "k", "r", b"x")]
    # WHEN the batch is inserted; THEN the NUL key's row alone is refused, with a reason, and the new row lands
    written, refused = _insert_or_reject(database, batch)
    assert written == 1
    assert [position for position, _ in refused] == [1]
    assert "NUL" in refused[0][1] or "0x00" in refused[0][1], refused
    assert counts(db) == (0, 2)


def test_a_key_holding_none_after_a_stored_first_row_is_refused_alone(database, db):
    stored = ("arn", "shard", "1", 0, "k", "r", b"x")
    assert _insert_or_reject(database, [stored]) == (1, [])
    batch = [stored, ("arn", None, "2", 0, "k", "r", b"x"), ("arn", "shard", "3", 0, "k", "r", b"x")]
    written, refused = _insert_or_reject(database, batch)
    assert written == 1
    assert [position for position, _ in refused] == [1]
    assert counts(db) == (0, 2)
