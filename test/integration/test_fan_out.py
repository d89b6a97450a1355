"""Fan-out on one log: log_source writes, error_sink and error_alert read the same stream independently."""

from __future__ import annotations

import pytest

from local.cloudwatch import subscription_event
from local.stack import FUNCTIONS, load_handler
from test.support import counts, load_event

pytestmark = pytest.mark.integration

LINES = [f"ERROR checkout failed for order A-{n}" for n in range(4)] + [
    "WARN retry budget low",
    "INFO all good",
    '{"level": "CRITICAL", "message": "payments down"}',
]


@pytest.fixture
def log_source(local_stack):
    return load_handler(FUNCTIONS["log_source"])


@pytest.fixture
def alert_mapping(local_stack, db):
    esm = local_stack.mapping("error_alert")
    esm.seek_to_end()
    local_stack.read_alerts()  # start with an empty alert queue
    return esm


def test_log_lines_reach_the_table_and_raise_one_alert_per_source(local_stack, log_source, mapping, alert_mapping, db):
    event = subscription_event("/aws/lambda/checkout-api", "s1", LINES, first_timestamp_ms=1795338902000)
    assert log_source(event, None)["published"] == 6
    other = subscription_event("/aws/lambda/search", "s2", ["ERROR one", "ERROR two"], first_timestamp_ms=1795338902000)
    assert log_source(other, None)["published"] == 2
    mapping.drain()
    alert_mapping.drain()
    assert counts(db) == (8, 0)
    alerts = local_stack.read_alerts()
    # Threshold 3 locally. One delivery is one KPL aggregate, so its events share a shard and a window:
    # checkout-api's 5 errors (4 ERROR + 1 CRITICAL; WARNING does not count) alert once, search's 2 not at all.
    assert [(a["source"], a["count"]) for a in alerts] == [("/aws/lambda/checkout-api", 5)]


def test_redelivered_subscription_batch_leaves_the_table_unchanged(log_source, mapping, db):
    event = load_event("log_source/subscription.json")
    log_source(event, None)
    mapping.drain()
    first = counts(db)
    log_source(event, None)  # CloudWatch Logs (or Lambda's async retry) delivers the same batch again
    mapping.drain()
    assert first == (4, 0)
    assert counts(db) == first


def test_control_message_publishes_nothing(log_source):
    assert log_source(load_event("log_source/control_message.json"), None)["published"] == 0


def test_a_retried_final_window_invoke_publishes_its_alert_once(local_stack, alert_mapping):
    alert = load_handler(FUNCTIONS["error_alert"])
    final = {
        "Records": [],
        "window": {"start": "2026-11-22T09:15:00Z", "end": "2026-11-22T09:16:00Z"},
        "state": {"counts": {"api": 7}},
        "shardId": "shardId-000000000000",
        "eventSourceARN": "arn:aws:kinesis:us-east-1:123456789012:stream/errors",
        "isFinalInvokeForWindow": True,
        "isWindowTerminatedEarly": False,
    }
    assert alert(final, None) == {"state": {}, "batchItemFailures": []}
    alert(final, None)  # Lambda retrying the same final invocation
    assert [a["count"] for a in local_stack.read_alerts()] == [7]
