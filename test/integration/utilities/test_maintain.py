"""Partitioned errors on the real PostgreSQL: migration 0007 converting a filled table, and maintain creating,
filling and dropping daily partitions with an injected today."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg2
import pytest

from local.stack import ROOT
from shared import bulk, migrations, sink
from shared import db as shared_db
from shared.config import DatabaseSettings
from test.support import connect, error_event, kinesis_event, wire
from utilities.maintain import partitions

pytestmark = pytest.mark.integration

OLD_KEY = ("event_id",)  # errors' key before migration 0007


def _url(local_stack: Any, name: str, role: str = "postgres") -> str:
    base = local_stack.database_url.replace("postgresql://postgres@", f"postgresql://{role}@")
    return base.rsplit("/", 1)[0] + "/" + name


@pytest.fixture
def fresh(local_stack: Any) -> Iterator[Any]:
    """A database of its own on the stack's server, with no migration applied: (name, url, admin connection)."""
    name = f"maintain_{uuid.uuid4().hex[:8]}"
    with closing(connect(local_stack.database_url)) as admin, admin.cursor() as cur:
        cur.execute(f"CREATE DATABASE {name}")
    conn = connect(_url(local_stack, name))
    try:
        yield name, _url(local_stack, name), conn
    finally:
        conn.close()
        with closing(connect(local_stack.database_url)) as admin, admin.cursor() as cur:
            cur.execute(f"DROP DATABASE {name} WITH (FORCE)")


def _migrate(url: str, *, before: str | None = None) -> list[str]:
    todo = [m for m in migrations.available() if before is None or m.version < before]
    with closing(psycopg2.connect(url)) as conn, conn, conn.cursor() as cur:
        return migrations.apply(cur, todo)


def _rows(events: list[dict[str, Any]], first_seq: int = 1000) -> list[tuple[Any, ...]]:
    plan = sink.plan(kinesis_event([(e["event_id"], wire(e)) for e in events], first_seq=first_seq)["Records"])
    assert not plan.dead_letters
    return plan.rows


def _insert(url: str, rows: list[tuple[Any, ...]], key: tuple[str, ...] = sink.ERROR_KEY) -> int:
    database = shared_db.Database(DatabaseSettings(url=url, sslmode="disable"))
    try:
        return int(database.run(lambda cur: bulk.insert_idempotent(cur, "errors", sink.ERROR_COLUMNS, rows, key=key)))
    finally:
        database.close()


def _event(n: int, occurred: datetime) -> dict[str, Any]:
    return error_event(n, occurred_at=occurred.isoformat(), received_at=occurred.isoformat())


def _stored(conn: Any) -> dict[str, tuple[Any, ...]]:
    with conn.cursor() as cur:
        cur.execute("SELECT event_id::text, occurred_at, txid::text, message, tableoid::regclass::text FROM errors")
        return {r[0]: r[1:] for r in cur.fetchall()}


def _partitions(conn: Any) -> list[str]:
    with conn.cursor() as cur:
        return partitions.existing(cur)


def _run_maintain(url: str, today: date, retention_days: int, ahead_days: int = 2) -> dict[str, Any]:
    database = shared_db.Database(DatabaseSettings(url=url, sslmode="disable"))
    try:
        return partitions.maintain(database, today=today, retention_days=retention_days, ahead_days=ahead_days)
    finally:
        database.close()


def _day(n: int) -> datetime:
    """n days from now's UTC midnight, plus a little, as occurred_at."""
    midnight = datetime.combine(datetime.now(UTC).date(), datetime.min.time(), UTC)
    return midnight + timedelta(days=n, hours=9, minutes=15, microseconds=120)


def test_the_migration_keeps_every_row_its_txid_and_the_duplicates(fresh):
    _, url, conn = fresh
    assert "0007" not in _migrate(url, before="0007")
    # Rows of every kind of day: recent, a year and more ago, today, far ahead, and the years' ends.
    times = [_day(-1), _day(-30), _day(-400), _day(0), _day(3), _day(90)]
    times += [datetime(1, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, 23, 59, tzinfo=UTC)]
    events = [_event(n, t) for n, t in enumerate(times)]
    rows = _rows(events)
    assert _insert(url, rows, key=OLD_KEY) == len(events)
    before = {k: v[:3] for k, v in _stored(conn).items()}

    assert _migrate(url) == ["0007"]

    after = _stored(conn)
    assert {k: v[:3] for k, v in after.items()} == before  # same rows, same occurred_at, same txid
    where = {k: v[3] for k, v in after.items()}
    assert where[events[0]["event_id"]] == f"errors_p{_day(-1):%Y%m%d}"
    assert where[events[3]["event_id"]] == f"errors_p{_day(0):%Y%m%d}"
    assert where[events[2]["event_id"]] == "errors_default"  # older than the migration's year
    assert where[events[5]["event_id"]] == "errors_default"  # later than its week ahead
    assert where[events[6]["event_id"]] == where[events[7]["event_id"]] == "errors_default"
    assert f"errors_p{_day(7):%Y%m%d}" in _partitions(conn)
    # A resend of every event, as the consumer writes it, is skipped: each meets its first delivery.
    assert _insert(url, _rows(events, first_seq=5000)) == 0
    assert len(_stored(conn)) == len(events)
    with conn.cursor() as cur:
        cur.execute("SELECT to_regclass('errors_unpartitioned')")
        assert cur.fetchone() == (None,)


def test_the_roles_keep_their_rights_on_the_table_and_its_partitions(local_stack, fresh):
    name, url, conn = fresh
    _migrate(url, before="0007")
    _insert(url, _rows([_event(1, _day(0))]), key=OLD_KEY)
    rights = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE")

    def privileges(table: str) -> dict[str, set[str]]:
        with conn.cursor() as cur:
            return {
                role: {r for r in rights if _has(cur, role, table, r)}
                for role in ("pipeline_writer", "pipeline_reader", "pipeline_resetter")
            }

    old = privileges("errors")
    _migrate(url)
    assert (
        privileges("errors")
        == old
        == {
            "pipeline_writer": {"INSERT"},
            "pipeline_reader": {"SELECT"},
            "pipeline_resetter": {"TRUNCATE"},
        }
    )
    _run_maintain(url, datetime.now(UTC).date() + timedelta(days=10), 20)  # creates partitions of its own
    for part in _partitions(conn):
        assert privileges(part) == old, part
    with conn.cursor() as cur:  # the writer reads the key columns ON CONFLICT needs, and nothing else
        assert _has_column(cur, "pipeline_writer", "event_id") and _has_column(cur, "pipeline_writer", "occurred_at")
        assert not _has_column(cur, "pipeline_writer", "message")
    # Each login role does its job on the partitioned table, as itself.
    row = _rows([_event(2, _day(1))])
    assert _insert(_url(local_stack, name, "error_sink"), row) == 1
    assert _insert(_url(local_stack, name, "error_sink"), row) == 0  # the lookup of stored keys, as the sink
    with closing(connect(_url(local_stack, name, "read_table"))) as reader, reader.cursor() as cur:
        cur.execute("SELECT count(*) FROM errors")
        assert cur.fetchone() == (2,)
    with closing(connect(_url(local_stack, name, "reset_table"))) as resetter, resetter.cursor() as cur:
        cur.execute("LOCK TABLE errors IN ACCESS EXCLUSIVE MODE; TRUNCATE errors")
    assert _stored(conn) == {}


def _has(cur: Any, role: str, table: str, right: str) -> bool:
    cur.execute("SELECT has_table_privilege(%s, %s, %s)", (role, table, right))
    return bool(cur.fetchone()[0])


def _has_column(cur: Any, role: str, column: str) -> bool:
    cur.execute("SELECT has_column_privilege(%s, 'errors', %s, 'SELECT')", (role, column))
    return bool(cur.fetchone()[0])


def test_maintain_creates_ahead_drops_past_the_retention_and_keeps_duplicates_out(fresh):
    _, url, conn = fresh
    _migrate(url)
    today = date(2030, 6, 1)  # injected: the migration's own partitions (this week) are all past the retention
    at = lambda d, h=9: datetime(2030, 5, d, h, tzinfo=UTC)  # noqa: E731
    expired, kept, waiting, ancient = _event(1, at(20)), _event(2, at(29)), _event(3, at(31, 23)), _event(4, at(1))
    this_week = _event(5, _day(0))
    assert _insert(url, _rows([expired, kept, waiting, ancient, this_week])) == 5
    with conn.cursor() as cur:  # before maintain: every 2030 row waits in the default partition
        cur.execute("SELECT count(*) FROM errors_default")
        assert cur.fetchone() == (4,)
    with conn.cursor() as cur:
        cur.execute(
            "INSERT INTO dead_letters (event_source_arn, shard_id, sequence_number, sub_sequence_number,"
            " partition_key, reason, raw, created_at) VALUES ('arn', 's', '1', 0, 'k', 'old', 'x', '2030-05-20'),"
            " ('arn', 's', '2', 0, 'k', 'new', 'x', '2030-05-30')"
        )

    migrated = [p for p in _partitions(conn) if p != "errors_default"]
    done = _run_maintain(url, today, retention_days=3)

    assert done["cutoff"] == "2030-05-29T00:00:00+00:00"
    assert done["created"] == [f"errors_p2030{d}" for d in ("0529", "0530", "0531", "0601", "0602", "0603")]
    assert done["dropped"] == migrated and f"errors_p{_day(0):%Y%m%d}" in migrated  # this week's, oldest first
    assert done["rowsMoved"] == 2 and done["defaultRowsDeleted"] == 2 and done["deadLettersDeleted"] == 1
    assert done["busy"] == done["failed"] == done["leftAlone"] == []
    stored = _stored(conn)
    assert sorted(stored) == [kept["event_id"], waiting["event_id"]]  # in retention: kept; the rest gone
    assert stored[kept["event_id"]][3] == "errors_p20300529"
    assert stored[waiting["event_id"]][3] == "errors_p20300531"  # moved out of the default partition
    assert _partitions(conn) == ["errors_default"] + done["created"]
    # A resend within the retention is still a duplicate.
    assert _insert(url, _rows([kept, waiting], first_seq=7000)) == 0
    # A second run the same day has nothing to do.
    again = _run_maintain(url, today, retention_days=3)
    assert again["created"] == again["dropped"] == [] and again["defaultRowsDeleted"] == 0
    with conn.cursor() as cur:
        cur.execute("SELECT reason FROM dead_letters")
        assert cur.fetchall() == [("new",)]


def test_maintain_leaves_partitions_it_did_not_name_alone(fresh):
    _, url, conn = fresh
    _migrate(url)
    with conn.cursor() as cur:
        cur.execute(
            "CREATE TABLE errors_archive PARTITION OF errors FOR VALUES FROM ('2001-01-01+00') TO ('2002-01-01+00')"
        )
    done = _run_maintain(url, date(2030, 6, 1), retention_days=1, ahead_days=0)
    assert done["leftAlone"] == ["errors_archive"]
    assert "errors_archive" in _partitions(conn)


def test_a_day_pg_refuses_is_reported_and_the_other_days_are_made(fresh):
    _, url, conn = fresh
    _migrate(url)
    with conn.cursor() as cur:  # by hand, over two of the days maintain would create
        cur.execute(
            "CREATE TABLE errors_manual PARTITION OF errors"
            " FOR VALUES FROM ('2030-05-31+00') TO ('2030-06-01 12:00+00')"
        )
    done = _run_maintain(url, date(2030, 6, 2), retention_days=2, ahead_days=0)
    assert done["created"] == ["errors_p20300602"]
    assert [f.split(":")[0] for f in done["failed"]] == ["create errors_p20300531", "create errors_p20300601"]
    assert "overlap" in done["failed"][0]
    assert done["leftAlone"] == ["errors_manual"] and done["busy"] == []


def test_maintain_reports_a_busy_table_and_does_the_rest(fresh):
    _, url, conn = fresh
    _migrate(url)
    partitions_before = _partitions(conn)
    blocker = connect(url)
    blocker.autocommit = False
    try:
        with blocker.cursor() as cur:
            cur.execute("SELECT count(*) FROM errors")  # holds a lock on errors until it ends
        original, partitions.LOCK_TIMEOUT_MS = partitions.LOCK_TIMEOUT_MS, 100
        try:
            done = _run_maintain(url, date(2030, 6, 1), retention_days=1, ahead_days=0)
        finally:
            partitions.LOCK_TIMEOUT_MS = original
    finally:
        blocker.close()
    assert done["created"] == [] and done["dropped"] == []
    assert done["busy"] == ["create errors_p20300531", "create errors_p20300601"] + [
        f"drop {p}" for p in partitions_before if p != "errors_default"
    ]
    assert _partitions(conn) == partitions_before


def test_the_consumer_skips_a_resent_event_in_its_day_partition(local_stack, sink, db):
    event = _event(7, _day(-1))
    for duplicates in (0, 1):
        reply = sink(kinesis_event([("k", wire(event))], first_seq=100 + duplicates), None)
        assert reply["duplicatesSkipped"] == duplicates and reply["rowsWritten"] == 1 - duplicates
    assert [v[3] for v in _stored(db).values()] == [f"errors_p{_day(-1):%Y%m%d}"]


def test_python_m_local_maintain_runs_the_handler_on_the_stack(local_stack, db):
    # The stack ran maintain at start: today's partition and the week ahead exist, so a run today has nothing to do.
    env = {**os.environ, **local_stack.env}
    out = subprocess.run(
        [sys.executable, "-m", "local", "maintain"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    reply = json.loads(out.stdout[out.stdout.rfind("\n{\n") + 1 :])
    assert reply["statusCode"] == 200 and reply["created"] == [] and reply["busy"] == reply["failed"] == []
    expected_cutoff = datetime.combine(datetime.now(UTC).date() - timedelta(days=30), datetime.min.time(), UTC)
    assert reply["cutoff"] == expected_cutoff.isoformat()
    assert {f"errors_p{_day(n):%Y%m%d}" for n in range(-30, 8)} <= set(_partitions(db))


def _invoke(local_stack: Any, function: str, event: dict[str, Any]) -> dict[str, Any]:
    env = {**os.environ, **local_stack.env}
    out = subprocess.run(
        [sys.executable, "-m", "local", "invoke", function, json.dumps(event)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    reply: dict[str, Any] = json.loads(out.stdout[out.stdout.rfind("\n{\n") + 1 :])
    return reply


def test_two_events_sharing_an_id_but_not_occurred_at_are_both_kept_and_paged(local_stack, sink, db):
    first, second = _event(8, _day(-2)), _event(8, _day(0))  # a client reusing an event_id, in one batch
    reply = sink(kinesis_event([("k", wire(first)), ("k", wire(second))], first_seq=200), None)
    assert (reply["rowsWritten"], reply["duplicatesSkipped"]) == (2, 0)
    third = _event(8, _day(1))
    reply = sink(kinesis_event([("k", wire(second)), ("k", wire(third))], first_seq=300), None)  # with a resend
    assert (reply["rowsWritten"], reply["duplicatesSkipped"]) == (1, 1)  # the resend skipped, not the third
    # Same transaction, same id: read_table's cursor needs occurred_at to tell them apart, a page each. In its own
    # process, so no connection of the handler's outlives this test (a later test restarts the server).
    page = _invoke(local_stack, "read_table", {"table": "errors", "limit": 1})
    rest = _invoke(local_stack, "read_table", {"table": "errors", "limit": 1, "after": page["next"]})
    assert [r["event_id"] for r in page["rows"] + rest["rows"]] == [first["event_id"]] * 2
    assert [r["occurred_at"] for r in page["rows"] + rest["rows"]] == [_day(-2).isoformat(), _day(0).isoformat()]


def test_the_handler_fails_after_the_rest_when_a_day_could_not_be_made(local_stack, fresh):
    _, url, conn = fresh
    _migrate(url)
    day = datetime.now(UTC).date() - timedelta(days=5)  # within the stack's 30 days, not made by the migration
    with conn.cursor() as cur:
        cur.execute(
            "CREATE TABLE errors_manual PARTITION OF errors FOR VALUES FROM (%s) TO (%s)",
            (f"{day} 06:00+00", f"{day} 07:00+00"),
        )
    env = {**os.environ, **local_stack.env, "DATABASE_URL": url}
    out = subprocess.run(
        [sys.executable, "-m", "local", "maintain"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode != 0
    assert f"maintenance incomplete: create errors_p{day:%Y%m%d}: " in out.stderr
    assert f"errors_p{day - timedelta(days=25):%Y%m%d}" in _partitions(conn)  # the other days were made
