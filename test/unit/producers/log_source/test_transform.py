"""log_source's transform: subscription decoding, line parsing, level filter, deterministic ids."""

import base64
import gzip
from datetime import UTC, datetime

import pytest

from producers.log_source import transform
from test.support import load_event

NOW = datetime(2026, 11, 22, 9, 20, tzinfo=UTC)


def test_data_message_keeps_warning_and_above_from_json_and_text_lines():
    delivery = transform.decode(load_event("log_source/subscription.json"))
    assert delivery.message_type == "DATA_MESSAGE" and len(delivery.log_events) == 7
    found, skipped = transform.to_events(delivery, received_at=NOW)
    assert skipped == []
    assert [(e.level, e.message) for e in found] == [
        ("ERROR", "payment provider timed out"),
        ("ERROR", "KeyError: 'customer_id'"),
        ("WARNING", "disk usage at 91% on /var/lib/app"),
        ("CRITICAL", "database connection pool exhausted"),
    ]
    first = found[0]
    assert first.source == "/aws/lambda/checkout-api"
    assert first.context["order_id"] == "A-1042" and first.context["log_event_id"]
    assert first.occurred_at == datetime(2026, 11, 22, 9, 15, 2, 120000, tzinfo=UTC)
    assert found[3].context["pool"] == "primary"


def test_redelivery_gives_the_same_event_ids():
    event = load_event("log_source/subscription.json")
    once, _ = transform.to_events(transform.decode(event), received_at=NOW)
    again, _ = transform.to_events(transform.decode(event), received_at=datetime(2026, 11, 23, tzinfo=UTC))
    assert [e.event_id for e in once] == [e.event_id for e in again]
    assert len({e.event_id for e in once}) == len(once)


def test_control_message_is_ignored():
    delivery = transform.decode(load_event("log_source/control_message.json"))
    assert delivery.message_type == "CONTROL_MESSAGE"
    assert transform.to_events(delivery, received_at=NOW) == ([], [])


@pytest.mark.parametrize(
    "event",
    [
        {},
        {"awslogs": {"data": "***"}},
        {"awslogs": {"data": base64.b64encode(b"not gzip").decode()}},
        {"awslogs": {"data": base64.b64encode(gzip.compress(b"[1, 2]")).decode()}},
        {"awslogs": {"data": base64.b64encode(gzip.compress(b"{not json")).decode()}},
    ],
)
def test_unreadable_delivery_is_a_bad_delivery(event):
    with pytest.raises(transform.BadDelivery, match="not a CloudWatch Logs subscription event"):
        transform.decode(event)


def test_log_events_that_cannot_become_events_are_skipped_with_a_reason():
    delivery = transform.Delivery(
        "DATA_MESSAGE",
        "/g",
        "s",
        [
            {"id": "1", "timestamp": "soon", "message": "ERROR x"},
            {"id": "", "timestamp": 1, "message": "ERROR y"},
            {"id": "3", "timestamp": 1795338902120, "message": "ERROR nul \x00 inside"},
        ],
    )
    found, skipped = transform.to_events(delivery, received_at=NOW)
    assert found == []
    assert [s["reason"] for s in skipped] == [
        "log event timestamp is not an integer",
        "log event without an id or a message",
        "message contains a NUL character, which PostgreSQL text cannot store",
    ]


def test_oversize_extra_fields_are_dropped_but_the_event_kept():
    line = '{"level": "ERROR", "message": "big", "blob": "' + "x" * 20_000 + '"}'
    delivery = transform.Delivery("DATA_MESSAGE", "/g", "s", [{"id": "9", "timestamp": 1795338902120, "message": line}])
    (event,), _ = transform.to_events(delivery, received_at=NOW)
    assert "blob" not in event.context and event.context["log_event_id"] == "9"
