"""The utilities against a real PostgreSQL: migrate, read_table and reset_table, guards and happy paths."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
import uuid

import psycopg2
import pytest

from local.stack import FUNCTIONS, ROOT, load_handler
from shared import migrations
from test.support import counts, error_event, kinesis_event, load_event, wire

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def read_table(local_stack):
    return load_handler(FUNCTIONS["read_table"])


@pytest.fixture(scope="module")
def reset_table(local_stack):
    return load_handler(FUNCTIONS["reset_table"])


@pytest.fixture
def filled(sink, db):
    sink(kinesis_event([(f"k{i}", wire(error_event(i))) for i in range(25)] + [("bad", b"{")]), None)
    return db


def _module(handler):
    return sys.modules[handler.__module__]


# --------------------------------------------------------------------------- migrate


def test_migrate_applies_nothing_when_current(local_stack):
    migrate = load_handler(FUNCTIONS["migrate"])
    current = migrations.available()[-1].version
    assert migrate(load_event("migrate/invoke.json"), None) == {"statusCode": 200, "applied": [], "current": current}


def test_concurrent_migrations_apply_each_version_once(local_stack):
    name = f"migr_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(local_stack.database_url)
    admin.autocommit = True
    admin.cursor().execute(f'CREATE DATABASE "{name}"')
    url = local_stack.database_url.rsplit("/", 1)[0] + f"/{name}"
    results: list[list[str]] = []
    barrier = threading.Barrier(3)

    def run() -> None:
        with psycopg2.connect(url) as conn, conn.cursor() as cur:
            barrier.wait()
            results.append(migrations.apply(cur, migrations.available()))

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        versions = [m.version for m in migrations.available()]
        assert sorted(results) == [[], [], versions]
        with psycopg2.connect(url) as conn, conn.cursor() as cur:
            cur.execute("SELECT version FROM schema_migrations ORDER BY version")
            assert [r[0] for r in cur.fetchall()] == versions
        conn.close()
    finally:
        admin.cursor().execute(f'DROP DATABASE "{name}"')
        admin.close()


# --------------------------------------------------------------------------- read_table


def test_read_table_pages_through_every_row_once(read_table, filled):
    seen, cursor, pages = [], None, 0
    while True:
        reply = read_table({"table": "errors", "limit": 10, **({"after": cursor} if cursor else {})}, None)
        assert reply["statusCode"] == 200
        seen += [r["event_id"] for r in reply["rows"]]
        pages += 1
        cursor = reply["next"]
        if cursor is None:
            break
    assert pages == 3
    assert sorted(seen) == sorted(error_event(i)["event_id"] for i in range(25))
    json.dumps(reply)  # every value is JSON-safe


_INSERT = (
    "INSERT INTO errors (event_id, source, level, message, occurred_at, received_at, shard_id, sequence_number,"
    " sub_sequence_number) VALUES (%s, 'paging', 'ERROR', 'm', now(), now(), 'shard', '1', 0)"
)


def _insert(conn, n: int) -> list[str]:
    ids = [str(uuid.uuid4()) for _ in range(n)]
    with conn.cursor() as cur:
        cur.executemany(_INSERT, [(i,) for i in ids])
    return ids


def _page_to_the_end(read_table, cursor, limit, seen):
    while cursor is not None:
        reply = read_table({"table": "errors", "limit": limit, "after": cursor}, None)
        seen += [r["event_id"] for r in reply["rows"]]
        cursor = reply["next"]
    return reply


def test_paging_misses_no_row_of_a_transaction_that_started_first_and_commits_late(local_stack, read_table, db):
    # T1 starts first, so its rows' ingested_at (its start time) is the earliest, but writes and commits only
    # after a page showing T2's later rows was read. Paging by ingested_at skipped T1's rows for good.
    existing = _insert(db, 4)
    t1, t2 = psycopg2.connect(local_stack.database_url), psycopg2.connect(local_stack.database_url)
    try:
        with t1.cursor() as cur:
            cur.execute("SELECT now()")  # T1 has begun
        time.sleep(0.01)
        early = _insert(t2, 2)
        t2.commit()
        first = read_table({"table": "errors", "limit": 5}, None)
        seen = [r["event_id"] for r in first["rows"]]
        assert seen[:4] == existing and seen[4] in early and first["next"] is not None
        late = _insert(t1, 2)
        t1.commit()
        _page_to_the_end(read_table, first["next"], 5, seen)
    finally:
        t1.close()
        t2.close()
    assert sorted(seen) == sorted(existing + early + late) and len(seen) == 8  # every row, exactly once


def test_rows_of_an_open_transaction_wait_and_then_come_once(local_stack, read_table, db):
    # T1 writes first (the smaller transaction id) and commits last: T2's committed rows are held back behind
    # it, so no cursor can pass them; the page ends, and "resume" carries on once T1 has finished.
    existing = _insert(db, 3)
    t1, t2 = psycopg2.connect(local_stack.database_url), psycopg2.connect(local_stack.database_url)
    try:
        late = _insert(t1, 2)
        early = _insert(t2, 2)
        t2.commit()
        first = read_table({"table": "errors", "limit": 10}, None)
        seen = [r["event_id"] for r in first["rows"]]
        assert seen == existing and first["next"] is None
        t1.commit()
        last = _page_to_the_end(read_table, first["resume"], 2, seen)
    finally:
        t1.close()
        t2.close()
    assert seen == existing + sorted(late) + sorted(early)  # transaction order, then key; each row once
    again = read_table({"table": "errors", "after": last["resume"]}, None)
    assert again["rows"] == [] and again["next"] is None


def test_page_order_is_served_by_an_index(local_stack, db):
    with db.cursor() as cur:
        cur.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename IN ('errors', 'dead_letters')"
            " AND indexname LIKE '%txid%' ORDER BY indexname"
        )
        assert [(name, "(txid, " in d) for name, d in cur.fetchall()] == [
            ("dead_letters_txid_id_idx", True),
            ("errors_txid_event_id_idx", True),
        ]
    _insert(db, 2000)
    with db.cursor() as cur:
        cur.execute("ANALYZE errors")
        cur.execute("ANALYZE errors_default")
        after_key = "('1'::xid8, '00000000-0000-0000-0000-000000000000'::uuid, '-infinity'::timestamptz)"
        for after in ("", f"AND (txid, event_id, occurred_at) > {after_key}"):
            cur.execute(
                "EXPLAIN SELECT * FROM errors WHERE txid < pg_snapshot_xmin(pg_current_snapshot()) "
                f"{after} ORDER BY txid, event_id, occurred_at LIMIT 101"
            )
            plan = [r[0].strip() for r in cur.fetchall()]
            # errors is partitioned (migration 0007): each partition's copy of the index, merged in order.
            scans = [line for line in plan if " on errors_" in line]
            assert scans and all("_txid_event_id_occurred_at_idx" in line for line in scans), plan
            assert not [line for line in plan if re.match(r"(->\s+)?(Incremental )?Sort\s+\(cost", line)], plan


def test_since_starts_at_a_time_and_cursors_keep_it(read_table, db):
    _insert(db, 3)
    with db.cursor() as cur:
        cur.execute("SELECT now()")
        (mark,) = cur.fetchone()
    later = _insert(db, 3)
    first = read_table({"table": "errors", "limit": 2, "since": mark.isoformat()}, None)
    seen = [r["event_id"] for r in first["rows"]]
    _page_to_the_end(read_table, first["next"], 2, seen)
    assert seen == later


def test_read_table_returns_dead_letters_with_raw_bytes(read_table, filled):
    reply = read_table({"table": "dead_letters"}, None)
    (row,) = reply["rows"]
    assert row["raw"] == "ew==" and "not JSON" in row["reason"] and reply["next"] is None


def test_read_table_summarises_dead_letters_by_reason_source_and_day(read_table, filled):
    with filled.cursor() as cur:  # beside the sink's one (not JSON, today), letters from two streams and days
        cur.executemany(
            "INSERT INTO dead_letters (event_source_arn, shard_id, sequence_number, sub_sequence_number,"
            " partition_key, reason, raw, created_at) VALUES (%s, 's', %s, 0, 'k', %s, '\\x00', %s)",
            [
                ("arn:aws:kinesis:us-east-1:1:stream/other", f"9{i}", reason, day)
                for i, (reason, day) in enumerate(
                    [("level is bad", "2020-01-01T23:59:59Z")] * 3 + [("message too long", "2020-01-02T00:00:00Z")]
                )
            ],
        )
    reply = read_table({"table": "dead_letters", "summary": True}, None)
    assert reply["statusCode"] == 200 and reply["table"] == "dead_letters"
    summary = reply["summary"]
    assert summary["total"] == 5
    (sink_reason,) = [g for g in summary["by_reason"] if "not JSON" in g["reason"]]
    assert sink_reason["count"] == 1
    assert [g for g in summary["by_reason"] if g is not sink_reason] == [
        {"reason": "level is bad", "count": 3},
        {"reason": "message too long", "count": 1},
    ]
    assert summary["by_source"][0] == {"event_source_arn": "arn:aws:kinesis:us-east-1:1:stream/other", "count": 4}
    assert [g["count"] for g in summary["by_source"]] == [4, 1]
    days = summary["by_day"]
    assert days[1:] == [{"day": "2020-01-02", "count": 1}, {"day": "2020-01-01", "count": 3}]
    assert days[0]["count"] == 1  # the sink's, today (UTC)
    assert summary["by_reason_left_off"] == summary["by_source_left_off"] == summary["by_day_left_off"] == 0
    json.dumps(reply)
    small = read_table({"table": "dead_letters", "summary": True, "limit": 1}, None)["summary"]
    assert small["by_reason"] == [{"reason": "level is bad", "count": 3}] and small["by_reason_left_off"] == 2


@pytest.mark.parametrize(
    "event",
    [
        {"table": "errors; DROP TABLE errors; --"},
        {"table": "pg_catalog.pg_authid"},
        {"table": "errors", "after": "eyJ0YWJsZSI6ICJlcnJvcnMiLCAiYWZ0ZXIiOiBbIicpIE9SIDE9MSAtLSIsICJ4Il19"},
        {"table": "errors", "limit": "1; SELECT pg_sleep(10)"},
    ],
)
def test_read_table_refuses_injection_without_running_sql(read_table, filled, event):
    module = _module(read_table)
    module.DB.close()
    reply = read_table(event, None)
    assert reply["statusCode"] == 400 and reply["error"]
    assert module.DB._conn is None  # no connection was even opened
    assert counts(filled) == (25, 1)


# --------------------------------------------------------------------------- reset_table


def test_reset_table_empties_a_confirmed_table_and_counts(reset_table, filled):
    assert reset_table(load_event("reset_table/errors.json"), None) == {
        "statusCode": 200,
        "table": "errors",
        "removed": 25,
    }
    assert counts(filled) == (0, 1)


@pytest.mark.parametrize(
    "event",
    [
        {"table": "errors"},
        {"table": "errors", "confirm": "dead_letters"},
        {"table": "users", "confirm": "users"},
        {"table": "errors; TRUNCATE dead_letters", "confirm": "errors; TRUNCATE dead_letters"},
    ],
)
def test_reset_table_refuses_without_running_sql(reset_table, filled, event):
    module = _module(reset_table)
    module.DB.close()
    reply = reset_table(event, None)
    assert reply["statusCode"] == 400
    assert module.DB._conn is None
    assert counts(filled) == (25, 1)


@pytest.mark.parametrize("stage", ["prod", "prd", "prod-eu"])
def test_reset_table_is_refused_in_any_stage_not_allowed(local_stack, filled, stage):
    out = subprocess.run(
        [sys.executable, "-m", "local", "invoke", "reset_table", '{"table": "errors", "confirm": "errors"}'],
        cwd=ROOT,
        env={**os.environ, **local_stack.env, "STAGE": stage},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert '"statusCode": 403' in out.stdout and f"disabled in stage '{stage}'" in out.stdout
    assert counts(filled) == (25, 1)


def test_reset_table_gives_up_behind_a_long_transaction(local_stack, reset_table, filled, monkeypatch):
    monkeypatch.setattr(_module(reset_table).transform, "LOCK_TIMEOUT_MS", 300)
    blocker = psycopg2.connect(local_stack.database_url)  # a long read holding errors
    replies: list[dict] = []
    try:
        with blocker.cursor() as cur:
            cur.execute("SELECT count(*) FROM errors")
        worker = threading.Thread(
            target=lambda: replies.append(reset_table(load_event("reset_table/errors.json"), None))
        )
        worker.start()
        worker.join(timeout=10)
        assert not worker.is_alive(), "reset_table hung behind the open transaction"
    finally:
        blocker.rollback()
        blocker.close()
        worker.join(timeout=30)
    assert replies[0]["statusCode"] == 409
    assert "could not lock errors within 300 ms" in replies[0]["error"]
    assert counts(filled) == (25, 1)
    # The connection is left clean: the next reset, with nothing in its way, succeeds.
    assert reset_table(load_event("reset_table/errors.json"), None)["removed"] == 25


def test_qa_cycle_reset_send_read_back(local_stack, produce, mapping, reset_table, read_table, filled):
    assert reset_table({"table": "errors", "confirm": "errors"}, None)["removed"] == 25
    reply = produce(load_event("error_source/http_post.json"), None)
    accepted = json.loads(reply["body"])["accepted"]
    mapping.drain()
    rows = read_table({"table": "errors"}, None)["rows"]
    assert sorted(r["event_id"] for r in rows) == sorted(accepted)


@pytest.mark.parametrize("restart", [False, True], ids=["backend killed", "server restarted"])
def test_a_utility_whose_connection_died_between_invocations_reconnects(read_table, filled, local_stack, restart):
    """A warm read_table whose connection died (a failover, a restart, an idle limit): the next invocation
    opens a new one. libpq reports some of these deaths as a plain DatabaseError, not an OperationalError."""
    assert read_table({"table": "errors", "limit": 5}, None)["statusCode"] == 200  # warm
    if restart:
        local_stack.postgres.stop(mode="immediate")
        local_stack.postgres.start()
    else:
        with filled.cursor() as cur:
            cur.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = 'event-pipeline' AND pid <> pg_backend_pid()"
            )
    assert read_table({"table": "errors", "limit": 5}, None)["statusCode"] == 200
