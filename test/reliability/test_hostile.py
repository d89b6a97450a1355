"""Hostile records and hostile timing against the real consumer, PostgreSQL and moto: nothing lost, no shard blocked.

Each test holds the accounting RecordsIn = RowsWritten + DuplicatesSkipped + DeadLetters, and adds its row
to the fault table printed at the end of the run.
"""

from __future__ import annotations

import hashlib
import sys
import threading
import time
from contextlib import closing
from typing import Any

import pytest

from local.esm import LambdaContext
from shared import bulk, kinesis
from shared import db as shared_db
from shared.config import DatabaseSettings
from shared.exceptions import DatabaseError
from test.reliability.conftest import Row
from test.support import connect, counts, error_event, kinesis_event, wire

pytestmark = [pytest.mark.integration]


def _framed(body: bytes) -> bytes:
    return kinesis.MAGIC + body + hashlib.md5(body).digest()


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    return bytes([*out, value])


def _inner(index: int, data: bytes) -> bytes:
    record = b"\x08" + _varint(index) + b"\x1a" + _varint(len(data)) + data
    return b"\x1a" + _varint(len(record)) + record


def _metrics(capsys: pytest.CaptureFixture[str]) -> dict[str, int]:
    import json

    for line in reversed(capsys.readouterr().out.splitlines()):
        if '"_aws"' in line and "RecordsIn" in line:
            doc = json.loads(line)
            return {k: doc[k] for k in ("RecordsIn", "RowsWritten", "DuplicatesSkipped", "DeadLetters")}
    raise AssertionError("the consumer printed no metrics")


def _database(local_stack: Any) -> shared_db.Database:
    return shared_db.Database(DatabaseSettings(url=local_stack.database_url, sslmode="disable"))


def test_an_error_raised_while_copy_reads_rows_commits_nothing_and_is_not_retried(local_stack, db):
    """On a warm connection an exception inside the COPY's row source passed for a stale connection, and the
    retry committed only the rows read before it. It must surface as itself, with nothing committed."""
    from consumers.error_sink import transform

    database = _database(local_stack)
    database.run(lambda cur: cur.execute("SELECT 1"))  # warm, as on Lambda

    def rows():
        plan = transform.plan(kinesis_event([(f"k{i}", wire(error_event(i))) for i in range(9)])["Records"])
        yield from plan.rows[:4]
        raise TypeError("a decoder bug met on the fifth record")

    def write(cur):
        return bulk.insert_idempotent(cur, "errors", transform.ERROR_COLUMNS, rows(), key=transform.ERROR_KEY)

    try:
        with pytest.raises(TypeError, match="fifth record"):
            database.run(write, time_left_s=5.0)
        assert database.retries == 0
        assert counts(db) == (0, 0)
    finally:
        database.close()


def test_a_retried_attempt_after_a_lost_connection_writes_the_whole_batch(local_stack, sink, db, summary):
    """The connection dies while the COPY is half read: the retry must write every row, not only the rest."""
    handler_module = sys.modules["consumers.error_sink.handler"]
    event = kinesis_event([(f"k{i}", wire(error_event(i))) for i in range(600)])
    sink(kinesis_event([("warm", wire(error_event(10_000)))]), None)
    real_write = handler_module.write_batch
    calls = []

    def write_then_lose_the_connection(cur: Any, records: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            with closing(connect(local_stack.database_url)) as other, other.cursor() as c:
                c.execute("SELECT pg_terminate_backend(%s)", (cur.connection.get_backend_pid(),))
        return real_write(cur, records)

    handler_module.write_batch = write_then_lose_the_connection
    try:
        assert sink(event, LambdaContext("error_sink", timeout_s=20))["batchItemFailures"] == []
    finally:
        handler_module.write_batch = real_write
    assert len(calls) == 2
    rows, dead = counts(db)
    summary(Row("connection lost mid-batch on a warm connection, retried", 600, rows - 1, 0, dead))
    assert (rows, dead) == (601, 0)


def test_hostile_text_in_a_dead_letter_never_fails_the_batch(local_stack, sink, db, capsys, summary):
    """NUL and lone surrogates in an unknown field name, a context key path and a partition key (plain and a
    KPL aggregate's inner key): the dead letter is written with storable text, the batch succeeds."""
    good = [(f"k{i}", wire(error_event(i))) for i in range(5)]
    nul_field = ("k-nul", wire({**error_event(100), "bad\x00field": 1}))
    surrogate_field = ("k-sur", wire(error_event(101)).replace(b'"source"', b'"\\udcff"', 1))
    nul_context = ("k-ctx", wire(error_event(102, context={"a": {"b\x00c": 1}})))
    nul_key = ("key\x00with nul", b"not json at all")
    surrogate_key = ("key\udcffsurrogate", b"not json either")
    inner_key = b"inner\x00key\xed\xb3\xbf"  # a NUL and an encoded lone surrogate in a KPL key
    body = b"\x0a" + _varint(len(inner_key)) + inner_key + _inner(0, b"{broken")
    aggregate = ("agg", _framed(body))
    payloads = [*good, nul_field, surrogate_field, nul_context, nul_key, surrogate_key, aggregate]
    event = kinesis_event(payloads)
    assert sink(event, None)["batchItemFailures"] == []
    metrics = _metrics(capsys)
    rows, dead = counts(db)
    summary(Row("hostile dead-letter text (NUL, lone surrogates in names and keys)", 11, rows, 0, dead))
    assert (rows, dead) == (5, 6)
    assert metrics["RecordsIn"] == metrics["RowsWritten"] + metrics["DuplicatesSkipped"] + metrics["DeadLetters"]
    with db.cursor() as cur:
        cur.execute("SELECT partition_key, reason, raw FROM dead_letters ORDER BY sequence_number, sub_sequence_number")
        stored = cur.fetchall()
    assert all("\x00" not in key and "\x00" not in reason for key, reason, _ in stored)
    assert bytes(stored[0][2]) == nul_field[1]  # the exact bytes live on in raw
    assert "key\\x00with nul" in {key for key, _, _ in stored}


def test_a_corrupt_key_index_in_an_aggregate_dead_letters_one_record(local_stack, sink, db, capsys, summary):
    """A user record naming partition key 2**63 raised TypeError inside the COPY, failed the batch as a
    'database' error and crashed error_alert. Now that record alone is a dead letter."""
    body = b"\x0a\x01k" + b"".join(_inner(2**63 if i == 4 else 0, wire(error_event(200 + i))) for i in range(9))
    assert sink(kinesis_event([("agg", _framed(body))]), None)["batchItemFailures"] == []
    metrics = _metrics(capsys)
    rows, dead = counts(db)
    summary(Row("corrupt partition key index in an aggregate", 9, rows, 0, dead))
    assert (rows, dead) == (8, 1)
    assert metrics == {"RecordsIn": 9, "RowsWritten": 8, "DuplicatesSkipped": 0, "DeadLetters": 1}


def test_an_empty_aggregate_is_a_dead_letter_not_nothing(local_stack, sink, db):
    assert sink(kinesis_event([("agg", _framed(b"\x0a\x01k"))]), None)["batchItemFailures"] == []
    with db.cursor() as cur:
        cur.execute("SELECT reason FROM dead_letters")
        assert [r for (r,) in cur.fetchall()] == ["aggregate holds no user records"]


def test_a_lock_held_by_an_orphaned_transaction_is_bounded_by_the_time_left(local_stack, sink, db, summary):
    """A timed-out invocation's backend lives on holding the uncommitted row of an event: a retried batch with
    the same event waits on it. The wait ends with the invocation's time, not the function's whole timeout,
    and the orphan's own session ends an idle transaction, so the next retry lands every record once."""
    event = kinesis_event([(f"k{i}", wire(error_event(300 + i))) for i in range(50)])
    orphan = _database(local_stack).connection()  # our session settings, as the orphaned invocation had
    with orphan.cursor() as cur:
        cur.execute("SHOW idle_in_transaction_session_timeout")
        assert cur.fetchone()[0] == "30s"
        cur.execute(
            "INSERT INTO errors (event_id, source, level, message, occurred_at, received_at, shard_id, "
            "sequence_number, sub_sequence_number) VALUES (%s, 's', 'ERROR', 'm', %s, now(), 'x', '1', 0)",
            (error_event(325)["event_id"], error_event(325)["occurred_at"]),
        )  # not committed: the orphan holds the key (event_id, occurred_at)
    started = time.monotonic()
    with pytest.raises(DatabaseError, match=r"(statement|lock) timeout"):
        sink(event, LambdaContext("error_sink", timeout_s=4.0))
    waited = time.monotonic() - started
    assert waited < 4.0  # within the invocation's time, margin kept for the handler's own return
    orphan.rollback()  # what the idle-in-transaction limit does to a real orphan, without waiting 30 s for it
    orphan.close()
    assert sink(event, LambdaContext("error_sink", timeout_s=10.0))["batchItemFailures"] == []
    rows, dead = counts(db)
    summary(Row("a lock held by an orphaned transaction, then released", 50, rows, 0, dead))
    assert (rows, dead) == (50, 0)


def test_overlapping_concurrent_batches_never_deadlock(local_stack, db, summary):
    """Two batches of the same events in opposite orders, at once (parallelization factor 2, a resend under
    another partition key): they deadlocked in 8 of 8 rounds, and the loser reconnected. Now the direct COPY
    gives up within moments on a key another batch holds uncommitted, and goes on in key order, the order every
    waiting writer takes: no deadlock at all, on the same connection, in the same invocation."""
    handler_module = sys.modules["consumers.error_sink.handler"]
    n, rounds = 400, 8
    with db.cursor() as cur:
        cur.execute("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
        (before,) = cur.fetchone()
    total_in = written = duplicates = 0
    for r in range(rounds):
        payloads = [(f"k{i}", wire(error_event(10_000 * (r + 1) + i))) for i in range(n)]
        forward = kinesis_event(payloads, shard_id="shardId-000000000000")
        backward = kinesis_event(payloads[::-1], shard_id="shardId-000000000001")
        results: list[Any] = [None, None]
        barrier = threading.Barrier(2)

        def run(slot: int, event: dict[str, Any], barrier=barrier, results=results) -> None:
            database = _database(local_stack)
            try:
                pid = database.connection().get_backend_pid()
                barrier.wait()
                results[slot] = database.run(
                    lambda cur, e=event: handler_module.write_batch(cur, e["Records"]), time_left_s=20.0
                )
                assert database.connection().get_backend_pid() == pid, "the connection was replaced"
                assert database.retries == 0, "a deadlock failed the whole attempt"
            except Exception as e:
                results[slot] = e
            finally:
                database.close()

        threads = [threading.Thread(target=run, args=(0, forward)), threading.Thread(target=run, args=(1, backward))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert all(not isinstance(x, Exception) for x in results), results
        total_in += sum(x.records_in for x in results)
        written += sum(x.rows_written for x in results)
        duplicates += sum(x.duplicates for x in results)
    with db.cursor() as cur:
        cur.execute("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
        (after,) = cur.fetchone()
    rows, dead = counts(db)
    summary(Row("overlapping concurrent batches, opposite orders (8 rounds)", total_in, rows, duplicates, dead))
    assert after - before == 0, "PostgreSQL detected a deadlock"
    assert (rows, written, duplicates, dead) == (n * rounds, n * rounds, n * rounds, 0)


def test_a_refused_row_is_found_by_bisection_and_a_replay_stays_linear(local_stack, db, summary, monkeypatch):
    """PostgreSQL's backstop: with one row it refuses among many, the batch went row by row (23 times slower)
    and, on a replay, quadratically (the staging table kept every row). Now it bisects: about 2 log2(n)
    smaller inserts, on a first delivery and on a replay alike."""
    from consumers.error_sink import transform

    plan = transform.plan(kinesis_event([(f"k{i}", wire(error_event(400 + i))) for i in range(1000)])["Records"])
    plan.rows[123] = (*plan.rows[123][:1], "x" * 200, *plan.rows[123][2:])  # breaks the source length CHECK
    database = _database(local_stack)
    parts: list[int] = []
    insert = bulk.insert_idempotent

    def counted(cur: Any, table: str, columns: Any, rows: Any, **kwargs: Any) -> int:
        rows = list(rows)
        parts.append(len(rows))
        return insert(cur, table, columns, rows, **kwargs)

    monkeypatch.setattr(bulk, "insert_idempotent", counted)

    def write(cur: Any) -> Any:
        return bulk.insert_or_reject(cur, "errors", transform.ERROR_COLUMNS, plan.rows, key=transform.ERROR_KEY)

    try:
        for delivery in ("first", "replay"):
            parts.clear()
            inserted, refused = database.run(write)
            assert [i for i, _ in refused] == [123], delivery
            assert "PostgreSQL refused the row" in refused[0][1]
            assert inserted == (999 if delivery == "first" else 0)
            assert len(parts) <= 2 * 10, (delivery, len(parts))  # 2 parts a level, log2(1000) < 10 levels
            assert sum(parts) <= 1000 * 10
    finally:
        database.close()
    summary(Row("one row PostgreSQL refuses, first delivery then replay", 2000, 999, 999, 2))
    assert counts(db) == (999, 0)
