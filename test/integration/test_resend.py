"""A client resending the same body without event ids (its first answer lost) leaves one row per report."""

from __future__ import annotations

import json

import pytest

from test.support import counts, load_event

pytestmark = pytest.mark.integration

REPORTS = [
    {
        "source": "checkout-api",
        "level": "ERROR",
        "message": "payment provider timed out",
        "occurred_at": "2026-11-22T09:15:02.120Z",
        "context": {"order_id": "A-1"},
    },
    {
        "source": "search",
        "level": "critical",
        "message": "index unavailable",
        "occurred_at": "2026-11-22T09:15:03+01:00",
        "stack": "Traceback (most recent call last): ...",
    },
]


def _post(body: object) -> dict:
    event = load_event("error_source/http_post.json")
    event["body"] = json.dumps(body)
    event["isBase64Encoded"] = False
    return event


def test_the_same_id_less_body_sent_twice_is_stored_once(produce, mapping, db):
    first = produce(_post(REPORTS), None)
    second = produce(_post(REPORTS), None)  # the client never saw the first answer and sends the body again
    assert first["statusCode"] == second["statusCode"] == 202
    ids = json.loads(first["body"])["accepted"]
    assert len(set(ids)) == 2
    assert json.loads(second["body"])["accepted"] == ids
    mapping.drain()
    assert counts(db) == (2, 0)
    with db.cursor() as cur:
        cur.execute("SELECT event_id::text FROM errors ORDER BY event_id")
        assert [r[0] for r in cur.fetchall()] == sorted(ids)
