"""read_table's request checks and cursors: anything forged or out of range is refused before any SQL."""

import base64
import json
import uuid
from datetime import UTC, datetime

import pytest

from shared.exceptions import Rejected
from test.support import load_event
from utilities.read_table import transform


def test_fixture_request_is_accepted_with_defaults():
    query = transform.parse_request(load_event("read_table/first_page.json"))
    assert query == transform.Query("errors", ("txid", "event_id", "occurred_at"), 100, None)
    assert transform.parse_request({"table": "dead_letters"}).limit == transform.DEFAULT_LIMIT


def test_cursor_round_trips():
    ident = uuid.UUID(int=5)
    at = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
    cursor = transform.encode_cursor("errors", ["18446744073709551615", ident, at])
    query = transform.parse_request({"table": "errors", "after": cursor})
    assert query.after == ("18446744073709551615", str(ident), at.isoformat()) and query.since is None
    assert transform.parse_request(
        {"table": "dead_letters", "after": _forge({"table": "dead_letters", "after": ["7", 3]})}
    ).after == ("7", 3)


def test_a_cursor_from_before_occurred_at_joined_the_key_resumes_after_its_txid_and_event_id():
    old = transform.encode_cursor("errors", ["9", uuid.UUID(int=1)])
    assert transform.parse_request({"table": "errors", "after": old}).after == ("9", str(uuid.UUID(int=1)), "infinity")
    with pytest.raises(Rejected, match="wrong number"):
        transform.parse_request({"table": "errors", "after": transform.encode_cursor("errors", ["9"])})


def test_since_is_checked_and_carried_by_cursors():
    when = datetime(2026, 11, 22, 9, 0, tzinfo=UTC).isoformat()
    first = transform.parse_request({"table": "errors", "since": "2026-11-22T09:00:00Z"})
    assert first.since == when and first.after is None
    start = transform.encode_cursor("errors", None, since=when)  # a starting point: no row yet, a since
    assert transform.parse_request({"table": "errors", "after": start}) == first
    later = transform.parse_request(
        {"table": "errors", "after": transform.encode_cursor("errors", ["9", uuid.UUID(int=1), when], since=when)}
    )
    assert later.since == when and later.after == ("9", str(uuid.UUID(int=1)), when)
    with pytest.raises(Rejected, match="since differs from the since the cursor carries"):
        transform.parse_request({"table": "errors", "after": start, "since": "2026-11-23T00:00:00Z"})
    for bad, reason in [("2026-11-22T09:00:00", "must carry a time zone"), (5, "RFC 3339"), ("soon", "Invalid")]:
        with pytest.raises(Rejected, match=reason):
            transform.parse_request({"table": "errors", "since": bad})


def _forge(obj):
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode()


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        ({"table": "users"}, "table must be one of dead_letters, errors, got 'users'"),
        ({"table": "errors; DROP TABLE errors; --"}, "table must be one of"),
        ({"table": 'errors" --'}, "table must be one of"),
        ({"table": ["errors"]}, "table must be one of"),
        ({}, "table must be one of"),
        ({"table": "errors", "limit": "10"}, "limit must be an integer, got str"),
        ({"table": "errors", "limit": 2.5}, "limit must be an integer, got float"),
        ({"table": "errors", "limit": True}, "limit must be an integer, got bool"),
        ({"table": "errors", "limit": 0}, "limit must be between 1 and 1000, got 0"),
        ({"table": "errors", "limit": 1001}, "limit must be between 1 and 1000"),
        ({"table": "errors", "after": "not base64!"}, "not a valid cursor"),
        ({"table": "errors", "after": 7}, "after must be a cursor string"),
        ({"table": "errors", "after": _forge({"table": "dead_letters", "after": [1]})}, "another table"),
        ({"table": "errors", "after": _forge({"table": "errors", "after": ["x') OR 1=1 --", "y"]})}, "not a valid"),
        (
            {"table": "errors", "after": _forge({"table": "errors", "after": ["2026-11-22T09:00:00+00:00", "1 OR 1"]})},
            "not a valid cursor",
        ),
        (
            {"table": "dead_letters", "after": _forge({"table": "dead_letters", "after": ["1", "1; DELETE"]})},
            "not a bigint",
        ),
        ({"table": "dead_letters", "after": _forge({"table": "dead_letters", "after": [1, 2]})}, "not a xid8"),
        ({"table": "dead_letters", "after": _forge({"table": "dead_letters", "after": ["1 OR 1", 2]})}, "not a xid8"),
        ({"table": "dead_letters", "after": _forge({"table": "dead_letters", "after": [str(2**64), 2]})}, "not a xid8"),
        ({"table": "dead_letters", "after": _forge({"table": "dead_letters", "after": ["1"]})}, "wrong number"),
        ({"table": "errors", "colour": 1}, "unknown field(s): colour"),
        ("errors", "must be a JSON object"),
    ],
)
def test_bad_requests_are_refused_with_a_reason(event, reason):
    with pytest.raises(Rejected) as err:
        transform.parse_request(event)
    assert reason in str(err.value)


def test_rows_become_json_safe():
    values = [7, memoryview(b"\x00\xff"), datetime(2026, 1, 1, tzinfo=UTC), uuid.UUID(int=1)]
    row = transform.json_row(["id", "raw", "at", "event_id"], values)
    assert json.loads(json.dumps(row)) == {
        "id": 7,
        "raw": "AP8=",
        "at": "2026-01-01T00:00:00+00:00",
        "event_id": "00000000-0000-0000-0000-000000000001",
    }


# --------------------------------------------------------------------------- dead-letter summary


def test_a_summary_request_is_checked():
    summary = transform.parse_request({"table": "dead_letters", "summary": True, "limit": 5})
    assert summary == transform.Summary("dead_letters", transform.SUMMARY_TABLES["dead_letters"], 5)
    assert isinstance(transform.parse_request({"table": "dead_letters", "summary": False}), transform.Query)


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        ({"table": "errors", "summary": True}, "summary is available for dead_letters only, not errors"),
        ({"table": "dead_letters", "summary": "yes"}, "summary must be true or false, got str"),
        ({"table": "dead_letters", "summary": True, "after": "x"}, "a summary has no pages"),
        ({"table": "dead_letters", "summary": True, "since": "2026-01-01T00:00:00Z"}, "leave out after and since"),
        ({"table": "dead_letters", "summary": True, "limit": 0}, "limit must be between 1 and 1000"),
    ],
)
def test_bad_summary_requests_are_refused(event, reason):
    with pytest.raises(Rejected) as err:
        transform.parse_request(event)
    assert reason in str(err.value)


def test_summary_reply_keeps_the_largest_groups_and_counts_the_rest():
    summary = transform.parse_request({"table": "dead_letters", "summary": True, "limit": 2})
    rows = [
        (None, None, 10),
        (0, "not JSON", 5),
        (0, "bad level", 3),
        (0, "too long", 2),
        (1, "arn:b", 4),
        (1, "arn:a", 6),
        (2, "2026-11-20", 1),
        (2, "2026-11-22", 7),
        (2, "2026-11-21", 2),
    ]
    assert transform.summary_reply(summary, rows) == {
        "total": 10,
        "by_reason": [{"reason": "not JSON", "count": 5}, {"reason": "bad level", "count": 3}],
        "by_reason_left_off": 2,
        "by_source": [{"event_source_arn": "arn:a", "count": 6}, {"event_source_arn": "arn:b", "count": 4}],
        "by_source_left_off": 0,
        "by_day": [{"day": "2026-11-22", "count": 7}, {"day": "2026-11-21", "count": 2}],
        "by_day_left_off": 1,
    }


def test_an_empty_table_summarises_to_zero():
    summary = transform.parse_request({"table": "dead_letters", "summary": True})
    assert transform.summary_reply(summary, [(None, None, 0)])["total"] == 0
    assert transform.summary_reply(summary, [])["by_reason"] == []
