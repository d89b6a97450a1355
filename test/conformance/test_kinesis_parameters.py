"""Batching, starting positions, parallelization and the settings' ranges.

Sources: Lambda developer guide, "Using Lambda with Kinesis" (with-kinesis.html) and "Lambda parameters
for Amazon Kinesis Data Streams event source mappings" (services-kinesis-parameters.html); Lambda API
reference, CreateEventSourceMapping (API_CreateEventSourceMapping.html).
"""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime

import pytest

from local.esm import PAYLOAD_LIMIT, MappingConfig
from test.conformance.conftest import Recorder

pytestmark = pytest.mark.integration


def test_batch_size_caps_the_records_of_one_invocation(stream, mapping):
    """Kinesis parameters: BatchSize is the maximum number of records in each batch sent to the function."""
    stream.put([str(i) for i in range(25)])
    handler = Recorder()
    mapping(stream, handler, batch_size=10).drain()
    assert [len(b) for b in handler.batches] == [10, 10, 5]
    assert [x for b in handler.batches for x in b] == [str(i) for i in range(25)]


def test_batching_window_gathers_records_until_it_expires(stream, mapping):
    """Using Lambda with Kinesis ("Polling and batching streams"): Lambda invokes when the batching
    window expires, the batch size is reached or the payload reaches 6 MB."""
    stream.put(["first"])
    handler = Recorder()
    esm = mapping(stream, handler, batch_size=10, window_s=3)
    later = threading.Timer(0.4, lambda: stream.put(["second"]))
    later.start()
    esm.poll_once()
    later.join()
    assert handler.batches == [["first", "second"]]


def test_a_full_batch_does_not_wait_for_the_window(stream, mapping):
    """Using Lambda with Kinesis: reaching BatchSize invokes at once, before the window expires."""
    stream.put(["a", "b"])
    handler = Recorder()
    started = time.monotonic()
    mapping(stream, handler, batch_size=2, window_s=30).poll_once()
    assert handler.batches == [["a", "b"]] and time.monotonic() - started < 10


def test_payload_of_6_mb_ends_a_batch_before_batch_size(stream, mapping):
    """Using Lambda with Kinesis ("Polling and batching streams"): a batch is also sent when its payload
    reaches 6 MB, Lambda's synchronous invocation payload quota. Each 1 MB record is about 1.33 MB of
    base64 in the event, so at most 4 fit."""
    stream.put([bytes([65 + i]) * 1_000_000 for i in range(6)])
    sizes = []
    mapping(stream, lambda e, c: sizes.append((len(e["Records"]), len(json.dumps(e)))), batch_size=100).drain()
    assert [n for n, _ in sizes] == [4, 2]
    assert all(size <= PAYLOAD_LIMIT for _, size in sizes)


def test_trim_horizon_starts_at_the_oldest_record(stream, mapping):
    """Kinesis parameters: StartingPosition TRIM_HORIZON processes all records in the stream."""
    stream.put(["old"])
    handler = Recorder()
    mapping(stream, handler, starting_position="TRIM_HORIZON").drain()
    assert handler.batches == [["old"]]


def test_latest_starts_with_records_added_after_the_mapping(stream, mapping):
    """Kinesis parameters: StartingPosition LATEST processes only new records."""
    stream.put(["before"])
    handler = Recorder()
    esm = mapping(stream, handler, starting_position="LATEST")
    stream.put(["after"])
    esm.drain()
    assert handler.batches == [["after"]]


def test_at_timestamp_starts_at_the_first_record_at_or_after_the_timestamp(stream, mapping):
    """Kinesis parameters: AT_TIMESTAMP starts from StartingPositionTimestamp (Unix seconds)."""
    stream.put(["before"])
    time.sleep(1.1)
    cut = time.time()
    time.sleep(0.1)
    stream.put(["after"])
    handler = Recorder()
    mapping(stream, handler, starting_position="AT_TIMESTAMP", starting_timestamp=cut).drain()
    assert handler.batches == [["after"]]
    arrival = handler.events[0]["Records"][0]["kinesis"]["approximateArrivalTimestamp"]
    assert datetime.fromtimestamp(arrival, UTC) >= datetime.fromtimestamp(cut - 0.5, UTC)


def test_parallelization_runs_up_to_n_batches_of_a_shard_at_once_keeping_key_order(stream, mapping):
    """Using Lambda with Kinesis ("Configuring parallelization factor"): up to ParallelizationFactor
    (1-10) batches of one shard are processed concurrently, and in-order processing is kept at the
    partition-key level."""
    keys = [f"key-{k}" for k in range(8)]
    for n in range(6):
        for k in keys:
            stream.kinesis.put_record(StreamName=stream.name, PartitionKey=k, Data=f"{k}:{n}".encode())
    lock = threading.Lock()
    active_keys: set[str] = set()
    state = {"in_flight": 0, "peak": 0, "overlap": False}
    seen: dict[str, list[int]] = {}

    def handler(event, context):
        import base64

        batch_keys = {r["kinesis"]["partitionKey"] for r in event["Records"]}
        with lock:
            state["overlap"] |= bool(active_keys & batch_keys)
            active_keys.update(batch_keys)
            state["in_flight"] += 1
            state["peak"] = max(state["peak"], state["in_flight"])
            for r in event["Records"]:
                key, n = base64.b64decode(r["kinesis"]["data"]).decode().split(":")
                seen.setdefault(key, []).append(int(n))
        time.sleep(0.1)
        with lock:
            state["in_flight"] -= 1
            active_keys.difference_update(batch_keys)

    mapping(stream, handler, batch_size=4, parallelization=4).drain()
    assert 1 < state["peak"] <= 4
    assert not state["overlap"]  # one key never in two batches at once
    assert seen == {k: list(range(6)) for k in keys}  # every record once, in order per key


def test_parallelization_one_invokes_one_batch_of_a_shard_at_a_time(stream, mapping):
    """Using Lambda with Kinesis: by default Lambda processes one batch at a time from each shard."""
    stream.put([str(i) for i in range(12)], key=None)
    state = {"in_flight": 0, "peak": 0}
    lock = threading.Lock()

    def handler(event, context):
        with lock:
            state["in_flight"] += 1
            state["peak"] = max(state["peak"], state["in_flight"])
        time.sleep(0.02)
        with lock:
            state["in_flight"] -= 1

    mapping(stream, handler, batch_size=3).drain()
    assert state["peak"] == 1


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ({"batch_size": 0}, "batch_size must be 1..10000"),
        ({"batch_size": 10_001}, "batch_size must be 1..10000"),
        ({"window_s": 301}, "window_s must be 0..300"),
        ({"max_retries": -2}, "max_retries must be -1..10000"),
        ({"max_retries": 10_001}, "max_retries must be -1..10000"),
        ({"max_record_age_s": 59}, "max_record_age_s must be -1 or 60..604800"),
        ({"max_record_age_s": 604_801}, "max_record_age_s must be -1 or 60..604800"),
        ({"parallelization": 11}, "parallelization must be 1..10"),
        ({"parallelization": 0}, "parallelization must be 1..10"),
        ({"tumbling_window_s": 901}, "tumbling_window_s must be 0..900"),
        ({"starting_position": "NOW"}, "starting_position must be one of"),
        ({"starting_position": "AT_TIMESTAMP"}, "starting_timestamp is required with AT_TIMESTAMP"),
        ({"destination": "arn:aws:lambda:us-east-1:1:function:f"}, "destination must be an SQS queue"),
        ({"filters": ['{"data": {"a": [1]}}'] * 6}, "at most 5 filters"),
    ],
)
def test_settings_outside_the_documented_ranges_are_refused(setting, message):
    """CreateEventSourceMapping: BatchSize 1-10000 for Kinesis, MaximumBatchingWindowInSeconds 0-300,
    MaximumRetryAttempts -1-10000, MaximumRecordAgeInSeconds -1 or 60-604800, ParallelizationFactor
    1-10, TumblingWindowInSeconds 0-900, StartingPosition one of three, at most 5 filters (Lambda's
    quota on filters per event source mapping)."""
    with pytest.raises(ValueError, match=message):
        MappingConfig(**setting).validate()


def test_the_documented_extremes_are_accepted():
    """CreateEventSourceMapping: -1 (infinite) for retries and record age, the maximum of each range."""
    MappingConfig(max_retries=-1, max_record_age_s=-1).validate()
    MappingConfig(batch_size=10_000, window_s=300, max_retries=10_000, max_record_age_s=604_800).validate()
    MappingConfig(max_record_age_s=60, parallelization=10, tumbling_window_s=900).validate()


def test_disabling_and_enabling_resumes_from_the_checkpoint(stream, mapping):
    """UpdateEventSourceMapping (Enabled): pause invocation and resume later from the same location."""
    stream.put(["a", "b"])
    handler = Recorder()
    esm = mapping(stream, handler)
    esm.drain()
    esm.disable()
    stream.put(["c"])
    assert esm.poll_once() == 0 and handler.batches == [["a", "b"]]
    esm.enable()
    esm.drain()
    assert handler.batches == [["a", "b"], ["c"]]


def test_disabling_stops_a_retrying_batch_without_checkpointing_it(stream, mapping):
    """UpdateEventSourceMapping (Enabled) and Using Lambda with Kinesis (checkpoint only after success):
    a batch still failing when the mapping is disabled is delivered again after enabling."""
    stream.put(["x"])
    calls = []

    def handler(event, context):
        calls.append(1)
        if len(calls) == 2:
            esm.disable()
        if len(calls) < 3:
            raise RuntimeError("down")

    esm = mapping(stream, handler, max_retries=-1, bisect=False)
    esm.poll_once()
    assert len(calls) == 2 and esm.checkpoints.get("shardId-000000000000") is None
    esm.enable()
    esm.drain()
    assert len(calls) == 3 and esm.checkpoints.get("shardId-000000000000") is not None


def test_event_records_have_lambdas_kinesis_shape(stream, mapping):
    """Using Lambda with Kinesis ("Example event"): each record carries kinesis.{kinesisSchemaVersion,
    partitionKey, sequenceNumber, data (base64), approximateArrivalTimestamp}, eventSource aws:kinesis,
    eventVersion 1.0, eventID shardId:sequenceNumber, eventName aws:kinesis:record, invokeIdentityArn,
    awsRegion and eventSourceARN."""
    (seq,) = stream.put(["a"])
    handler = Recorder()
    mapping(stream, handler).drain()
    (record,) = handler.events[0]["Records"]
    assert set(record) == {
        "kinesis",
        "eventSource",
        "eventVersion",
        "eventID",
        "eventName",
        "invokeIdentityArn",
        "awsRegion",
        "eventSourceARN",
    }
    assert set(record["kinesis"]) == {
        "kinesisSchemaVersion",
        "partitionKey",
        "sequenceNumber",
        "data",
        "approximateArrivalTimestamp",
    }
    assert record["eventID"] == f"shardId-000000000000:{seq}"
    assert record["eventSourceARN"].endswith(f":stream/{stream.name}")


def test_disabling_interrupts_the_wait_between_retries(stream, mapping):
    """UpdateEventSourceMapping (Enabled false): Lambda pauses polling and invocation. A mapping waiting
    out a long backoff (an outage) stops at once, its checkpoint unmoved (what `up` does on Ctrl-C)."""
    stream.put(["x"])

    def fail(event, context):
        raise RuntimeError("database down")

    esm = mapping(stream, fail, max_retries=-1, bisect=False, retry_delay_s=30, retry_delay_max_s=30)
    worker = threading.Thread(target=esm.poll_once)
    worker.start()
    deadline = time.monotonic() + 10
    while esm.invocations == 0 and time.monotonic() < deadline:  # the first try fails, then the 30 s wait
        time.sleep(0.05)
    time.sleep(0.2)
    started = time.monotonic()
    esm.disable()
    worker.join(10)
    assert not worker.is_alive() and time.monotonic() - started < 5
    assert esm.invocations == 1 and esm.checkpoints.get("shardId-000000000000") is None
