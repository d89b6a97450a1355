"""db.insert_idempotent against the real PostgreSQL: first delivery, replay, partial overlap, repeats in a batch."""

from __future__ import annotations

from typing import Any

import pytest

from consumers.error_sink import transform
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
        inserted = shared_db.insert_idempotent(cur, table, columns, rows, key=key)
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
