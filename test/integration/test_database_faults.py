"""The consumer against a failing PostgreSQL: it raises, writes nothing half-way, and a retry lands each record once."""

from __future__ import annotations

import threading
import time
from contextlib import closing

import pytest

from shared import bulk
from shared import db as shared_db
from shared.exceptions import DatabaseError
from test.support import connect, counts, error_event, kinesis_event, slow_inserts, wire

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _batch(n: int) -> dict:
    return kinesis_event([(f"k{i}", wire(error_event(i))) for i in range(n)] + [("bad", b"nope")])


def test_postgres_stopped_mid_batch_raises_then_retry_lands_once(local_stack, sink, db):
    postgres = local_stack.postgres
    event = _batch(300)
    sink(kinesis_event([("warm", wire(error_event(999)))]), None)  # a warm connection, as on Lambda
    with slow_inserts(local_stack.database_url, 3.0):  # hold the batch inside its transaction
        killer = threading.Timer(1.0, postgres.stop, kwargs={"mode": "immediate"})
        killer.start()
        try:
            with pytest.raises(DatabaseError, match="PostgreSQL"):
                sink(event, None)
        finally:
            killer.join()
            postgres.start()
    with closing(connect(local_stack.database_url)) as conn:  # the old connection died with the server
        assert counts(conn) == (1, 0)  # only the warm-up row: nothing of the failed batch
        for _ in range(2):  # Lambda's retry, then a replay for good measure
            assert sink(event, None)["batchItemFailures"] == []
        assert counts(conn) == (301, 1)


def test_a_connection_killed_between_invocations_is_replaced(local_stack, sink, db):
    sink(_batch(2), None)
    with db.cursor() as cur:
        cur.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = 'event-pipeline' AND pid <> pg_backend_pid()"
        )
        assert cur.rowcount >= 1
    time.sleep(0.2)
    assert sink(_batch(5), None)["batchItemFailures"] == []
    assert counts(db) == (5, 2)  # the two "bad" records sit at different sequence numbers


def test_unreachable_database_is_a_database_error(local_stack):
    from shared.config import DatabaseSettings

    database = shared_db.Database(DatabaseSettings(url="postgresql://nobody@127.0.0.1:1/none", connect_timeout=1))
    with pytest.raises(DatabaseError, match="cannot connect to PostgreSQL"):
        database.run(lambda cur: cur.execute("SELECT 1"))


def test_a_row_postgres_refuses_is_dead_lettered_not_fatal(local_stack, db):
    # Validation should make this impossible; the backstop must still keep the shard moving.
    from consumers.error_sink import transform
    from shared.config import DatabaseSettings

    database = shared_db.Database(DatabaseSettings(url=local_stack.database_url, sslmode="disable"))
    plan = transform.plan(kinesis_event([("a", wire(error_event(1))), ("b", wire(error_event(2)))])["Records"])
    plan.rows[1] = (*plan.rows[1][:1], "x" * 200, *plan.rows[1][2:])  # breaks the source length CHECK

    def write(cur):
        return bulk.insert_or_reject(cur, "errors", transform.ERROR_COLUMNS, plan.rows, key=transform.ERROR_KEY)

    inserted, refused = database.run(write)
    database.close()
    assert inserted == 1
    assert [i for i, _ in refused] == [1]
    assert "PostgreSQL refused the row" in refused[0][1]
    assert counts(db) == (1, 0)


def test_a_connection_lost_reported_as_a_plain_database_error_is_retried(local_stack, db):
    """libpq can report a server gone mid-query as psycopg2.DatabaseError, not OperationalError (seen when a
    warm read_table met a restarted server), with no SQLSTATE. Such an error is no answer from the server: the
    connection is replaced and the attempt made again. The error is raised by hand (an in-process stand-in):
    which class the driver picks depends on timing no local server reproduces at will."""
    import psycopg2

    from shared.config import DatabaseSettings

    database = shared_db.Database(DatabaseSettings(url=local_stack.database_url, sslmode="disable"))
    database.run(lambda cur: cur.execute("SELECT 1"))  # warm
    attempts = []

    def work(cur):
        attempts.append(1)
        if len(attempts) == 1:
            raise psycopg2.DatabaseError("server closed the connection unexpectedly")
        cur.execute("SELECT 2")
        return cur.fetchone()[0]

    try:
        assert database.run(work) == 2
        assert len(attempts) == 2
        # An error the server gave, with its SQLSTATE, is not retried: it would say the same again.
        with pytest.raises(psycopg2.errors.DivisionByZero):
            database.run(lambda cur: cur.execute("SELECT 1/0"))
    finally:
        database.close()
