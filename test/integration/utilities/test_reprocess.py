"""reprocess_dead_letters against a real PostgreSQL: a rule too strict sent good events to dead_letters; once it is
relaxed, they move to errors exactly once, and what is still bad stays, with its reason."""

from __future__ import annotations

import threading
from contextlib import closing

import pytest

from local.stack import FUNCTIONS, load_handler
from shared import rows
from shared.exceptions import InvalidEvent
from test.support import STREAM_ARN, connect, counts, error_event, kinesis_event, wire

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def reprocess(local_stack):
    return load_handler(FUNCTIONS["reprocess_dead_letters"])


def _too_strict(monkeypatch):
    """Deploy a schema rule that is wrong: refuse every event from checkout-api.

    There is no setting that makes the schema stricter, so the consumer's reader is replaced in-process, as a
    buggy release would replace it; undoing the patch is the fix being deployed.
    """
    real = rows.read_stored_many
    too_strict = InvalidEvent("source checkout-api is not allowed (a rule too strict)")

    def strict(datas):
        return [too_strict if isinstance(r, tuple) and r[1] == "checkout-api" else r for r in real(datas)]

    monkeypatch.setattr(rows, "read_stored_many", strict)


def _reasons(db):
    with db.cursor() as cur:
        cur.execute("SELECT reason, count(*) FROM dead_letters GROUP BY reason ORDER BY reason")
        return dict(cur.fetchall())


def _error_ids(db):
    with db.cursor() as cur:
        cur.execute("SELECT event_id::text FROM errors ORDER BY event_id")
        return [r[0] for r in cur.fetchall()]


def test_a_rule_too_strict_then_relaxed_moves_the_events_to_errors_once(sink, db, reprocess, monkeypatch):
    good = [error_event(i) for i in range(30)] + [error_event(100 + i, source="billing") for i in range(5)]
    batch = kinesis_event([(f"k{i}", wire(e)) for i, e in enumerate(good)] + [("bad", b"{broken")])
    with monkeypatch.context() as patch:
        _too_strict(patch)
        assert sink(batch, None)["batchItemFailures"] == []
    assert counts(db) == (5, 31)  # only billing landed; 30 good events and one broken record are dead letters

    # A dry run shows what would happen, grouped by reason, and changes nothing.
    dry = reprocess({"dry_run": True, "page_size": 7}, None)
    assert dry["statusCode"] == 200 and dry["dry_run"] and dry["complete"]
    assert (dry["examined"], dry["moved"], dry["kept"], dry["rows_written"]) == (31, 30, 1, 30)
    assert dry["by_reason"]["source checkout-api is not allowed (a rule too strict)"] == {
        "examined": 30,
        "valid_now": 30,
        "still_invalid": 0,
    }
    assert dry["pages"] == 5
    assert counts(db) == (5, 31)

    # The real run, in pages of 7: every good event lands, the broken record stays with its reason.
    done = reprocess({"page_size": 7}, None)
    assert (done["examined"], done["moved"], done["kept"]) == (31, 30, 1)
    assert (done["rows_written"], done["duplicates"]) == (30, 0)
    assert counts(db) == (35, 1)
    assert _error_ids(db) == sorted(e["event_id"] for e in good)
    (reason,) = _reasons(db)
    assert "not JSON" in reason

    # A second run finds only the broken record, and changes nothing.
    again = reprocess({}, None)
    assert (again["examined"], again["moved"], again["kept"], again["rows_written"]) == (1, 0, 1, 0)
    assert counts(db) == (35, 1)


def test_filters_select_by_reason_stream_and_time(sink, db, reprocess, monkeypatch):
    with monkeypatch.context() as patch:
        _too_strict(patch)
        sink(kinesis_event([("a", wire(error_event(1))), ("b", wire(error_event(2)))]), None)
    other = kinesis_event([("c", wire(error_event(3)))])
    other["Records"][0]["eventSourceARN"] = STREAM_ARN.replace("stream/errors", "stream/other")
    with monkeypatch.context() as patch:
        _too_strict(patch)
        sink(other, None)
    sink(kinesis_event([("d", b"{broken")], first_seq=5000), None)
    assert counts(db) == (0, 4)

    assert reprocess({"reason": "NO SUCH REASON"}, None)["examined"] == 0
    assert reprocess({"since": "2000-01-01T00:00:00Z", "until": "2000-01-02T00:00:00Z"}, None)["examined"] == 0
    moved = reprocess({"reason": "RULE TOO STRICT", "stream": STREAM_ARN}, None)  # any case, one stream
    assert (moved["examined"], moved["moved"]) == (2, 2)
    assert counts(db) == (2, 2)
    rest = reprocess({"since": "2000-01-01T00:00:00Z"}, None)
    assert (rest["examined"], rest["moved"], rest["kept"]) == (2, 1, 1)
    assert counts(db) == (3, 1)


def test_an_event_already_in_errors_is_a_duplicate_and_its_dead_letter_goes(sink, db, reprocess, monkeypatch):
    event = error_event(1)
    with monkeypatch.context() as patch:
        _too_strict(patch)
        sink(kinesis_event([("a", wire(event))]), None)
    sink(kinesis_event([("a", wire(event))], first_seq=7000), None)  # the client resent it after the fix
    assert counts(db) == (1, 1)
    done = reprocess({}, None)
    assert (done["moved"], done["rows_written"], done["duplicates"]) == (1, 0, 1)
    assert counts(db) == (1, 0)


def test_a_dead_letter_locked_by_another_run_is_skipped_not_waited_for(sink, db, reprocess, monkeypatch, local_stack):
    with monkeypatch.context() as patch:
        _too_strict(patch)
        sink(kinesis_event([("a", wire(error_event(1))), ("b", wire(error_event(2)))]), None)
    locked = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with closing(connect(local_stack.database_url)) as conn:
            conn.autocommit = False
            with conn.cursor() as cur:
                cur.execute("SELECT id FROM dead_letters ORDER BY id LIMIT 1 FOR UPDATE")
                locked.set()
                release.wait(30)
            conn.rollback()

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert locked.wait(10)
        done = reprocess({}, None)
    finally:
        release.set()
        holder.join()
    assert (done["examined"], done["moved"]) == (1, 1)
    assert counts(db) == (1, 1)
    assert reprocess({}, None)["moved"] == 1  # once the other run let go
    assert counts(db) == (2, 0)


def test_production_refuses_without_the_confirmation(reprocess, db, monkeypatch):
    module = __import__(reprocess.__module__, fromlist=["CONFIG"])
    monkeypatch.setattr(module, "CONFIG", module.CONFIG.__class__(**{**_fields(module.CONFIG), "stage": "prod"}))
    refused = reprocess({}, None)
    assert refused["statusCode"] == 403 and '"confirm": "prod"' in refused["error"]
    assert reprocess({"dry_run": True}, None)["statusCode"] == 200


def _fields(settings):
    return {name: getattr(settings, name) for name in settings.__slots__}
