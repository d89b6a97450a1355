"""The event source mapping emulator follows Lambda's Kinesis semantics, against moto's real endpoint."""

from __future__ import annotations

import uuid

import pytest

from local.esm import Checkpoints, EventSourceMapping, MappingConfig

pytestmark = pytest.mark.integration


@pytest.fixture
def stream(local_stack):
    name = f"esm-{uuid.uuid4().hex[:8]}"
    client = local_stack.kinesis()
    client.create_stream(StreamName=name, ShardCount=1)
    client.get_waiter("stream_exists").wait(StreamName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 50})
    yield name
    client.delete_stream(StreamName=name)


def _put(local_stack, stream, items):
    client = local_stack.kinesis()
    return [client.put_record(StreamName=stream, PartitionKey="pk", Data=i.encode())["SequenceNumber"] for i in items]


class Recorder:
    """A handler that records what it saw and fails as told."""

    def __init__(self, fail=lambda batch: None):
        self.batches = []
        self.fail = fail

    def __call__(self, event, context):
        import base64

        batch = [base64.b64decode(r["kinesis"]["data"]).decode() for r in event["Records"]]
        self.batches.append(batch)
        return self.fail(batch, event) if self.fail.__code__.co_argcount == 2 else self.fail(batch)


def _mapping(local_stack, stream, handler, **config):
    return EventSourceMapping(local_stack.kinesis(), stream, "fn", handler, MappingConfig(**config))


def test_event_has_lambdas_kinesis_shape(local_stack, stream):
    seen = []
    _put(local_stack, stream, ["a"])
    _mapping(local_stack, stream, lambda e, c: seen.append(e)).drain()
    (record,) = seen[0]["Records"]
    assert set(record) >= {"eventID", "eventSourceARN", "eventSource", "eventName", "awsRegion", "kinesis"}
    assert set(record["kinesis"]) == {
        "data",
        "partitionKey",
        "sequenceNumber",
        "approximateArrivalTimestamp",
        "kinesisSchemaVersion",
    }
    assert record["eventSource"] == "aws:kinesis" and record["eventName"] == "aws:kinesis:record"
    assert record["eventID"] == f"shardId-000000000000:{record['kinesis']['sequenceNumber']}"
    assert record["eventSourceARN"].endswith(f":stream/{stream}")


def test_batches_are_at_most_batch_size(local_stack, stream):
    _put(local_stack, stream, [str(i) for i in range(25)])
    handler = Recorder()
    _mapping(local_stack, stream, handler, batch_size=10).drain()
    assert [len(b) for b in handler.batches] == [10, 10, 5]
    assert [x for b in handler.batches for x in b] == [str(i) for i in range(25)]


def test_item_failure_resumes_at_the_lowest_failed_sequence_number(local_stack, stream):
    seqs = _put(local_stack, stream, [str(i) for i in range(6)])
    calls = {"n": 0}

    def fail(batch, event):
        calls["n"] += 1
        if calls["n"] == 1:  # first delivery: report records 4 and 2 failed
            return {"batchItemFailures": [{"itemIdentifier": seqs[4]}, {"itemIdentifier": seqs[2]}]}
        return {"batchItemFailures": []}

    handler = Recorder(fail)
    _mapping(local_stack, stream, handler, bisect=False).drain()
    assert handler.batches == [["0", "1", "2", "3", "4", "5"], ["2", "3", "4", "5"]]


def test_function_error_bisects_then_sends_the_poison_to_the_destination(local_stack, stream):
    seqs = _put(local_stack, stream, [str(i) for i in range(8)])
    failures = []

    def fail(batch):
        if "5" in batch:
            raise RuntimeError("poison")

    handler = Recorder(fail)
    esm = _mapping(local_stack, stream, handler, max_retries=2)
    esm.on_failure = failures.append
    esm.drain()
    delivered = [b for b in handler.batches if "5" not in b]
    assert sorted(x for b in delivered for x in b) == ["0", "1", "2", "3", "4", "6", "7"]
    assert max(len(b) for b in handler.batches if "5" in b and len(b) > 1) == 8
    (failure,) = failures
    assert failure["KinesisBatchInfo"]["startSequenceNumber"] == seqs[5]
    assert failure["KinesisBatchInfo"]["batchSize"] == 1
    assert failure["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert esm.checkpoints.get("shardId-000000000000") == seqs[7]


def test_checkpoint_survives_a_restart_and_nothing_is_redelivered(local_stack, stream, tmp_path):
    _put(local_stack, stream, ["a", "b"])
    first = Recorder()
    esm = _mapping(local_stack, stream, first)
    esm.checkpoints = Checkpoints(tmp_path / "cp.json")
    esm.drain()
    _put(local_stack, stream, ["c"])
    second = Recorder()
    esm2 = _mapping(local_stack, stream, second)
    esm2.checkpoints = Checkpoints(tmp_path / "cp.json")
    esm2.drain()
    assert first.batches == [["a", "b"]]
    assert second.batches == [["c"]]


def test_failed_batch_is_not_checkpointed(local_stack, stream):
    _put(local_stack, stream, ["a", "b"])

    def fail(batch):
        raise RuntimeError("database down")

    esm = _mapping(local_stack, stream, Recorder(fail), max_retries=0, bisect=False)
    esm.poll_once()  # retries exhausted at once: skipped, and only then checkpointed
    assert esm.checkpoints.get("shardId-000000000000") is not None
    esm2 = _mapping(local_stack, stream, Recorder(fail), max_retries=5, bisect=False, retry_delay_s=0)
    calls = []
    esm2.handler = lambda e, c: calls.append(1) or (_ for _ in ()).throw(RuntimeError("still down"))
    esm2.deliver("shardId-000000000000", [{"SequenceNumber": "1", "PartitionKey": "k", "Data": b"x"}])
    assert len(calls) == 6  # first try + 5 retries
    assert esm2.checkpoints.get("shardId-000000000000") == "1"  # skipped only after the last retry


def test_tumbling_window_passes_state_and_ends_with_a_final_invoke(local_stack, stream):
    _put(local_stack, stream, [str(i) for i in range(5)])
    calls = []

    def handler(event, context):
        calls.append(event)
        state = dict(event["state"])
        state["n"] = state.get("n", 0) + len(event["Records"])
        return {"state": state, "batchItemFailures": []}

    esm = _mapping(local_stack, stream, handler, batch_size=2, tumbling_window_s=900)
    esm.drain()
    assert [len(c["Records"]) for c in calls] == [2, 2, 1, 0]
    assert [c["state"].get("n", 0) for c in calls] == [0, 2, 4, 5]
    assert [c["isFinalInvokeForWindow"] for c in calls] == [False, False, False, True]
    assert len({c["window"]["start"] for c in calls}) == 1
    assert calls[-1]["shardId"] == "shardId-000000000000" and calls[-1]["window"]["end"] > calls[-1]["window"]["start"]


def test_the_local_stack_puts_on_failure_records_in_its_queue(local_stack, db):
    from local.stack import failure_queue

    esm = local_stack.mapping("error_sink", window_s=0.0, max_retries=0, bisect=False)
    esm.seek_to_end()
    local_stack.read_failures("error_sink")  # whatever earlier tests left
    esm.handler = lambda event, context: (_ for _ in ()).throw(RuntimeError("database down"))
    local_stack.kinesis().put_record(StreamName="errors", PartitionKey="k", Data=b"{}")
    esm.drain()
    (record,) = local_stack.read_failures("error_sink")
    assert record["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert record["KinesisBatchInfo"]["batchSize"] == 1
    assert esm.config.destination.endswith(":" + failure_queue("error_sink", "errors"))


def test_up_runs_on_kinesis_mock_and_announces_the_failure_queues(local_stack, state_dir):
    import os
    import shutil
    import signal
    import subprocess
    import sys
    import time

    from local.postgres import free_port
    from local.stack import ROOT

    if shutil.which("node") is None:
        pytest.skip("kinesis-mock needs Node.js, which is not on PATH")
    port, kinesis_port = free_port(), free_port()
    env = {**os.environ, "DATABASE_URL": local_stack.database_url}
    env.pop("AWS_ENDPOINT_URL", None)
    command = [sys.executable, "-m", "local", "--state-dir", str(state_dir), "--port", str(port)]
    log = state_dir / "up.log"
    with log.open("w") as out:
        up = subprocess.Popen(
            [*command, "up", "--kinesis", "kinesis-mock", "--kinesis-port", str(kinesis_port)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 90
        while "polling for" not in log.read_text() and up.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        output = log.read_text()
        assert "polling for" in output, output
        assert f"Kinesis endpoint (kinesis-mock) on http://127.0.0.1:{kinesis_port}" in output
        assert "on-failure records of error_sink <- errors go to SQS queue 'error_sink-errors-failures'" in output
        assert f"export AWS_ENDPOINT_URL_KINESIS=http://127.0.0.1:{kinesis_port}" in output
        # The producer, invoked against this stack, writes to kinesis-mock's stream, and the mapping reads it.
        event = str(ROOT / "test" / "events" / "error_source" / "http_post.json")
        reply = subprocess.run(
            [*command, "invoke", "error_source", event], cwd=ROOT, env=env, capture_output=True, text=True, check=False
        )
        assert reply.returncode == 0 and '"statusCode": 202' in reply.stdout, reply.stdout + reply.stderr
        while "error_sink: delivered" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert "error_sink: delivered" in log.read_text()
    finally:
        up.send_signal(signal.SIGINT)
        up.wait(30)


def test_lanes_of_a_handler_not_safe_for_threads_are_invoked_one_at_a_time(local_stack, stream):
    # Lambda gives each concurrent batch its own execution environment; in one process the local
    # functions share their module's connection, so by default the lanes take turns.
    import threading
    import time

    client = local_stack.kinesis()
    for n in range(16):
        client.put_record(StreamName=stream, PartitionKey=f"key-{n % 8}", Data=str(n).encode())
    state = {"in_flight": 0, "peak": 0, "records": 0}
    lock = threading.Lock()

    def handler(event, context):
        with lock:
            state["in_flight"] += 1
            state["peak"] = max(state["peak"], state["in_flight"])
            state["records"] += len(event["Records"])
        time.sleep(0.05)
        with lock:
            state["in_flight"] -= 1

    esm = _mapping(local_stack, stream, handler, batch_size=2, parallelization=4)
    esm.drain()
    assert state["peak"] == 1 and state["records"] == 16
    assert esm.invocations >= 8  # several lanes, each its own batches
