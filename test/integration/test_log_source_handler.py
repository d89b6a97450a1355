"""log_source's handler against the local stack (moto's Kinesis, PostgreSQL, the mapping emulator): a hostile line
and a bad field cost only themselves, the rows land, and FieldsDropped reaches the EMF metrics."""

from __future__ import annotations

import json

import pytest

from local.cloudwatch import subscription_event
from local.stack import FUNCTIONS, load_handler
from test.support import counts

pytestmark = pytest.mark.integration

DEEP = '{"level": "ERROR", "message": "x", "a": ' + "[" * 100_000 + "]" * 100_000 + "}"
LINES = [
    "2026-11-22 10:00:00,123 ERROR [main] com.acme.Checkout: payment declined",
    "java.lang.IllegalStateException: card expired",
    "\tat com.acme.Checkout.pay(Checkout.java:42)",
    DEEP,
    '{"level": "error", "msg": "refund failed", "order_id": "A-7", "ratio": NaN, "note": "nul \\u0000"}',
    "2026/11/22 10:00:01 [warn] 12#0: *3 upstream response is buffered",
    "2026-11-22 10:00:02,000 INFO [main] com.acme.Checkout: ok",
]


def test_a_delivery_with_a_hostile_line_and_bad_fields_publishes_the_rest(local_stack, mapping, db, capsys):
    handler = load_handler(FUNCTIONS["log_source"])
    capsys.readouterr()
    result = handler(subscription_event("/ecs/checkout", "web/1", LINES, first_timestamp_ms=1795338902000), None)
    assert result["published"] == 3 and result["fieldsDropped"] == 2
    assert [s["reason"] for s in result["skipped"]] == ["log line is JSON nested too deeply to read"]
    metrics = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line][-1]
    assert (metrics["EventsPublished"], metrics["LogEventsSkipped"], metrics["FieldsDropped"]) == (3, 1, 2)
    mapping.drain()
    assert counts(db) == (3, 0)
    with db.cursor() as cur:
        cur.execute("SELECT level, message, stack, context FROM errors ORDER BY occurred_at")
        rows = cur.fetchall()
    assert [(r[0], r[1]) for r in rows] == [
        ("ERROR", "[main] com.acme.Checkout: payment declined"),
        ("ERROR", "refund failed"),
        ("WARNING", "12#0: *3 upstream response is buffered"),
    ]
    assert rows[0][2] == "java.lang.IllegalStateException: card expired\n\tat com.acme.Checkout.pay(Checkout.java:42)"
    assert rows[1][3]["order_id"] == "A-7" and "ratio" not in rows[1][3] and "note" not in rows[1][3]
