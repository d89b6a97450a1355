"""FilterCriteria on Kinesis records.

Source: Lambda developer guide, "Control which events Lambda sends to your function"
(invocation-eventfiltering.html): the filter rule syntax (exact value, null, empty, prefix, suffix,
equals-ignore-case, anything-but, numeric ranges, exists / does not exist), OR between the values of a
key and between filters, AND between keys; for Kinesis the ``data`` key is matched as JSON and a record
whose data is not valid JSON matches no data filter; filtered-out records are not delivered; at most 5
filters per mapping (the page's quotas). Metrics: "Event source mapping metrics" (FilteredOutEventCount).
"""

from __future__ import annotations

import base64
import json

import pytest

from local.esm import matches, parse_filters

pytestmark = pytest.mark.integration


def _record(data, key="pk"):
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return {
        "kinesisSchemaVersion": "1.0",
        "partitionKey": key,
        "sequenceNumber": "1",
        "data": base64.b64encode(raw).decode(),
        "approximateArrivalTimestamp": 1.0,
    }


@pytest.mark.parametrize(
    ("pattern", "data", "expected"),
    [
        ({"data": {"level": ["ERROR"]}}, {"level": "ERROR"}, True),
        ({"data": {"level": ["ERROR"]}}, {"level": "WARNING"}, False),
        ({"data": {"level": ["ERROR", "CRITICAL"]}}, {"level": "CRITICAL"}, True),
        ({"data": {"n": [5]}}, {"n": 5}, True),
        ({"data": {"n": [5]}}, {"n": "5"}, False),
        ({"data": {"v": [None]}}, {"v": None}, True),
        ({"data": {"v": [None]}}, {}, False),
        ({"data": {"v": [""]}}, {"v": ""}, True),
        ({"data": {"source": [{"prefix": "checkout"}]}}, {"source": "checkout-api"}, True),
        ({"data": {"source": [{"prefix": "checkout"}]}}, {"source": "api-checkout"}, False),
        ({"data": {"file": [{"suffix": ".png"}]}}, {"file": "a.png"}, True),
        ({"data": {"level": [{"equals-ignore-case": "error"}]}}, {"level": "ErRoR"}, True),
        ({"data": {"level": [{"anything-but": ["DEBUG", "INFO"]}]}}, {"level": "ERROR"}, True),
        ({"data": {"level": [{"anything-but": ["DEBUG", "INFO"]}]}}, {"level": "INFO"}, False),
        ({"data": {"level": [{"anything-but": "DEBUG"}]}}, {"level": "DEBUG"}, False),
        ({"data": {"source": [{"anything-but": {"prefix": "test"}}]}}, {"source": "test-1"}, False),
        ({"data": {"p": [{"numeric": [">", 0, "<=", 5]}]}}, {"p": 5}, True),
        ({"data": {"p": [{"numeric": [">", 0, "<=", 5]}]}}, {"p": 0}, False),
        ({"data": {"p": [{"numeric": ["=", 3]}]}}, {"p": 3.0}, True),
        ({"data": {"p": [{"numeric": ["<", 10]}]}}, {"p": "3"}, False),
        ({"data": {"stack": [{"exists": True}]}}, {"stack": "x"}, True),
        ({"data": {"stack": [{"exists": True}]}}, {}, False),
        ({"data": {"stack": [{"exists": False}]}}, {}, True),
        ({"data": {"ctx": {"region": ["eu"]}}}, {"ctx": {"region": "eu"}}, True),
        ({"data": {"ctx": {"region": ["eu"]}}}, {"ctx": "eu"}, False),
        ({"data": {"tags": ["a"]}}, {"tags": ["b", "a"]}, True),
        ({"data": {"level": ["ERROR"], "source": ["api"]}}, {"level": "ERROR", "source": "web"}, False),
        ({"partitionKey": ["pk"]}, b"not json", True),
        ({"data": {"level": ["ERROR"]}}, b"not json", False),
        ({"data": {"level": [{"exists": False}]}}, b"not json", False),
    ],
)
def test_filter_rule_syntax(pattern, data, expected):
    """Event filtering ("Filter rule syntax"): each comparison operator, AND across keys, OR within a
    key's list, nested objects, arrays matching any element; a metadata filter matches whatever the data;
    a data filter never matches data that is not JSON."""
    assert matches([pattern], _record(data)) is expected


def test_several_filters_are_ored():
    """Event filtering: a record is sent when it matches any of the filters."""
    filters = parse_filters(['{"data": {"level": ["ERROR"]}}', '{"data": {"level": ["CRITICAL"]}}'])
    assert [matches(filters, _record({"level": lv})) for lv in ("ERROR", "CRITICAL", "INFO")] == [True, True, False]


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        (['{"data": {"a": [1]}}'] * 6, "at most 5 filters"),
        (["{not json"], "is not JSON"),
        (['{"data": {"a": "ERROR"}}'], "must be a non-empty list or an object"),
        (['{"data": {"a": [{"regex": "x"}]}}'], "unknown or mixed rule"),
        (['{"data": {"a": [{"numeric": ["~", 1]}]}}'], "numeric takes"),
    ],
)
def test_bad_filters_are_refused_naming_the_problem(filters, message):
    """Event filtering: at most 5 filters; each a valid JSON pattern with known rules."""
    with pytest.raises(ValueError, match=message):
        parse_filters(filters)


def test_filtered_out_records_are_not_delivered_but_checkpointed_and_counted(stream, mapping):
    """Event filtering: Lambda sends only the matching records; the others are dropped for this mapping
    (their place in the shard is passed) and counted as FilteredOutEventCount."""
    seqs = stream.put(
        [json.dumps({"level": lv, "i": i}) for i, lv in enumerate(["ERROR", "INFO", "ERROR", "DEBUG"])] + ["plain text"]
    )
    seen = []
    esm = mapping(
        stream,
        lambda e, c: seen.extend(json.loads(base64.b64decode(r["kinesis"]["data"]))["i"] for r in e["Records"]),
        filters=['{"data": {"level": ["ERROR"]}}'],
    )
    esm.drain()
    assert seen == [0, 2]
    assert esm.checkpoints.get("shardId-000000000000") == seqs[-1]
    assert esm.totals["FilteredOutEventCount"] == 3 and esm.totals["PolledEventCount"] == 5
    assert esm.totals["InvokedEventCount"] == 2


def test_a_batch_filtered_out_entirely_invokes_nothing(stream, mapping):
    """Event filtering: when no record of a batch matches, the function is not invoked."""
    stream.put([json.dumps({"level": "INFO"})] * 3)
    calls = []
    esm = mapping(stream, lambda e, c: calls.append(e), filters=[{"data": {"level": ["ERROR"]}}])
    esm.drain()
    assert calls == [] and esm.invocations == 0
    assert esm.checkpoints.get("shardId-000000000000") is not None
