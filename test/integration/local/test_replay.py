"""A new reader replays the stream: `python -m local replay FUNCTION --from trim-horizon|TIME` delivers through
the mapping emulator from that position up to the tip; and the redrive and reprocess commands as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime

import pytest

from local.__main__ import main
from local.stack import ROOT
from test.support import counts, error_event, kinesis_event, wire

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def stream(local_stack):
    name = f"replay-{uuid.uuid4().hex[:8]}"
    client = local_stack.kinesis()
    client.create_stream(StreamName=name, ShardCount=2)
    client.get_waiter("stream_exists").wait(StreamName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 50})
    yield name
    client.delete_stream(StreamName=name)


def _put(local_stack, stream, events):
    entries = [{"PartitionKey": f"k{e['event_id'][-3:]}", "Data": wire(e)} for e in events]
    response = local_stack.kinesis().put_records(StreamName=stream, Records=entries)
    assert response["FailedRecordCount"] == 0
    return {r["ShardId"] for r in response["Records"]}


def _ids(db):
    with db.cursor() as cur:
        cur.execute("SELECT event_id::text FROM errors ORDER BY event_id")
        return [r[0] for r in cur.fetchall()]


def _replay(local_stack, *args):
    return main(["--state-dir", str(local_stack.state_dir), "replay", *args])


def test_replay_from_trim_horizon_then_from_a_timestamp(local_stack, stream, db, capfd):
    early = [error_event(6000 + i) for i in range(12)]
    late = [error_event(6100 + i) for i in range(9)]
    assert len(_put(local_stack, stream, early)) == 2  # both shards hold records
    time.sleep(1.1)
    boundary = datetime.now(UTC)
    time.sleep(1.1)
    _put(local_stack, stream, late)

    assert _replay(local_stack, "error_sink", "--from", "trim-horizon", "--stream", stream) == 0
    assert _ids(db) == sorted(e["event_id"] for e in early + late)
    out = capfd.readouterr().err  # progress goes to stderr
    assert "from the start of every shard (TRIM_HORIZON)" in out
    assert "error_sink: delivered 21 records" in out and "caught up with the tip" in out

    with db.cursor() as cur:
        cur.execute("TRUNCATE errors, dead_letters")
    assert _replay(local_stack, "consumers/error_sink", "--from", boundary.isoformat(), "--stream", stream) == 0
    assert _ids(db) == sorted(e["event_id"] for e in late)  # only what arrived at or after the time
    assert "error_sink: delivered 9 records" in capfd.readouterr().err

    # Replaying again is harmless: the sink is idempotent on event_id.
    assert _replay(local_stack, "error_sink", "--from", "trim-horizon", "--stream", stream) == 0
    assert counts(db) == (21, 0)


@pytest.mark.parametrize(
    ("start", "message"),
    [("yesterday", "--from must be trim-horizon or an ISO 8601 timestamp"), ("2026-11-22T09:00:00", "time zone")],
)
def test_replay_refuses_a_position_it_cannot_read(local_stack, start, message, capsys):
    assert _replay(local_stack, "error_sink", "--from", start) == 2
    err = capsys.readouterr().err
    assert err.startswith("python -m local replay: ") and message in err and err.count("\n") == 1


def _cli(local_stack, *args):
    return subprocess.run(
        [sys.executable, "-m", "local", "--state-dir", str(local_stack.state_dir), *args],
        cwd=ROOT,
        env={**os.environ, **local_stack.env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_redrive_and_reprocess_commands_run_against_the_stack(local_stack, db, sink):
    sqs, kinesis = local_stack.client("sqs"), local_stack.kinesis()
    url = sqs.get_queue_url(QueueName="error_sink-errors-failures")["QueueUrl"]  # the stack creates it
    arn = kinesis.describe_stream_summary(StreamName="errors")["StreamDescriptionSummary"]["StreamARN"]
    put = kinesis.put_record(StreamName="errors", PartitionKey="cli", Data=wire(error_event(6500)))
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    record = {
        "requestContext": {
            "requestId": str(uuid.uuid4()),
            "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:error_sink",
            "condition": "RetryAttemptsExhausted",
            "approximateInvokeCount": 4,
        },
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "version": "1.0",
        "timestamp": now,
        "KinesisBatchInfo": {
            "shardId": put["ShardId"],
            "startSequenceNumber": put["SequenceNumber"],
            "endSequenceNumber": put["SequenceNumber"],
            "approximateArrivalOfFirstRecord": now,
            "approximateArrivalOfLastRecord": now,
            "batchSize": 1,
            "streamArn": arn,
        },
    }
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps(record))

    dry = _cli(local_stack, "redrive", "error_sink", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "would redrive (1 records)" in dry.stderr and counts(db) == (0, 0)
    assert json.loads(dry.stdout)["messages_read"] == 1  # the summary, alone on stdout
    done = _cli(local_stack, "redrive", "error_sink")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "messages read 1, redriven 1, kept 0" in done.stderr
    assert "harmless" in done.stderr
    assert counts(db) == (1, 0)
    assert _cli(local_stack, "redrive", "error_sink").stderr.count("messages read 0") == 1

    sink(kinesis_event([("cli", b"{broken")], first_seq=6600), None)
    assert counts(db) == (1, 1)
    reprocessed = _cli(local_stack, "reprocess", "--dry-run", "--reason", "NOT JSON")
    assert reprocessed.returncode == 0, reprocessed.stderr
    answer = json.loads(reprocessed.stdout)  # the response alone: the function's log lines are on stderr
    assert (answer["dry_run"], answer["examined"], answer["kept"]) == (True, 1, 1)
    assert _cli(local_stack, "reprocess", "--since", "2026-13-01").returncode == 1  # a bad time: refused
    assert counts(db) == (1, 1)
