"""read_table's request checks and cursors: anything forged or out of range is refused before any SQL."""

import base64
import json
import uuid
from datetime import UTC, datetime

import pytest

from test.support import load_event
from utilities.read_table import transform


def test_fixture_request_is_accepted_with_defaults():
    query = transform.parse(load_event("read_table/first_page.json"))
    assert query == transform.Query("errors", ("ingested_at", "event_id"), 100, None)
    assert transform.parse({"table": "dead_letters"}).limit == transform.DEFAULT_LIMIT


def test_cursor_round_trips():
    when = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
    ident = uuid.UUID(int=5)
    cursor = transform.encode_cursor("errors", [when, ident])
    query = transform.parse({"table": "errors", "after": cursor})
    assert query.after == (when.isoformat(), str(ident))


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
        ({"table": "dead_letters", "after": _forge({"table": "dead_letters", "after": ["1; DELETE"]})}, "not a bigint"),
        ({"table": "dead_letters", "after": _forge({"table": "dead_letters", "after": [1, 2]})}, "wrong number"),
        ({"table": "errors", "colour": 1}, "unknown field(s): colour"),
        ("errors", "must be a JSON object"),
    ],
)
def test_bad_requests_are_refused_with_a_reason(event, reason):
    with pytest.raises(transform.BadRequest) as err:
        transform.parse(event)
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
