"""Event source mapping metrics, written as CloudWatch embedded-metric-format (EMF) lines.

Source: Lambda developer guide, "Types of metrics for Lambda functions" (monitoring-metrics-types.html),
"Event source mapping metrics": PolledEventCount, FilteredOutEventCount, InvokedEventCount,
FailedInvokeEventCount, DroppedEventCount, OnFailureDestinationDeliveredEventCount; and IteratorAge (the
age of the last record in the batch when Lambda received it, milliseconds) for stream sources.
"""

from __future__ import annotations

import json

import pytest

from test.conformance.conftest import Recorder

pytestmark = pytest.mark.integration
NAMES = {
    "PolledEventCount",
    "FilteredOutEventCount",
    "InvokedEventCount",
    "FailedInvokeEventCount",
    "DroppedEventCount",
    "OnFailureDestinationDeliveredEventCount",
}


def _lines(esm):
    return [json.loads(line) for line in esm.metrics_out.getvalue().splitlines()]


def test_counts_follow_each_record_through_the_mapping(stream, mapping, aws):
    """Event source mapping metrics: records polled, filtered out, invoked (each invocation counts
    its records, retries included), in failed invocations, dropped, delivered to the destination."""
    sqs = aws("sqs")
    url = sqs.create_queue(QueueName="metrics-failures")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    stream.put([json.dumps({"k": k}) for k in ("keep", "skip", "poison", "keep")])

    def respond(batch, event):
        if any("poison" in b for b in batch):
            raise RuntimeError("poison")

    esm = mapping(
        stream,
        Recorder(respond),
        max_retries=1,
        bisect=False,
        batch_size=10,
        destination=arn,
        filters=['{"data": {"k": [{"anything-but": "skip"}]}}'],
    )
    esm.drain()
    assert dict(esm.totals) == {
        "PolledEventCount": 4,
        "FilteredOutEventCount": 1,
        "InvokedEventCount": 6,  # 3 records, invoked twice
        "FailedInvokeEventCount": 6,
        "DroppedEventCount": 3,
        "OnFailureDestinationDeliveredEventCount": 3,
    }
    sqs.delete_queue(QueueUrl=url)


def test_each_line_is_emf_with_iterator_age_per_invocation(stream, mapping):
    """Event source mapping metrics as EMF: every line declares its metrics; each invocation reports
    IteratorAge in milliseconds."""
    stream.put(["a", "b"])
    esm = mapping(stream, Recorder(), batch_size=1)
    esm.drain()
    lines = _lines(esm)
    declared = set()
    for line in lines:
        (directive,) = line["_aws"]["CloudWatchMetrics"]
        for metric in directive["Metrics"]:
            assert metric["Name"] in line
            declared.add(metric["Name"])
        assert line["EventSourceMappingUUID"] == esm.uuid
    invocations = [line for line in lines if "InvokedEventCount" in line]
    assert len(invocations) == 2
    for line in invocations:
        assert 0 <= line["IteratorAge"] < 60_000
        units = {m["Name"]: m["Unit"] for m in line["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
        assert units["IteratorAge"] == "Milliseconds"
    assert declared <= NAMES | {"IteratorAge"}


def test_iterator_age_grows_with_the_records_age(stream, mapping, clock):
    """IteratorAge: the age of the last record in the batch when it was invoked."""
    stream.put(["a"])
    clock.offset = 30
    esm = mapping(stream, Recorder())
    esm.drain()
    (line,) = [x for x in _lines(esm) if "IteratorAge" in x]
    assert 29_000 <= line["IteratorAge"] < 60_000
