"""redrive against the real local stack: a database outage makes the mapping give up on batches, their on-failure
records land in a moto SQS queue, the database comes back, and redrive brings every record back exactly once."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime

import pytest

from local.stack import invoke_locally
from test.support import connect, counts, error_event, kinesis_event, wire
from utilities.redrive import transform

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def tool(local_stack):
    from utilities.redrive import handler

    return handler


@pytest.fixture
def queue(local_stack):
    sqs = local_stack.client("sqs")
    url = sqs.create_queue(QueueName=f"redrive-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    yield url
    sqs.delete_queue(QueueUrl=url)


def _iso(ts: float | None = None) -> str:
    moment = datetime.fromtimestamp(time.time() if ts is None else ts, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def documented_record(info: dict, *, arrival: float | None = None) -> dict:
    """The documented on-failure record for what the emulator gave up on (it passes the batch's shard, range,
    size and stream ARN; Lambda adds the request and response context and the arrival times)."""
    batch = info["KinesisBatchInfo"]
    function = info["requestContext"]["functionArn"]
    if not function.startswith("arn:"):
        function = f"arn:aws:lambda:us-east-1:123456789012:function:{function}"
    return {
        "requestContext": {
            "requestId": str(uuid.uuid4()),
            "functionArn": function,
            "condition": info["requestContext"].get("condition", "RetryAttemptsExhausted"),
            "approximateInvokeCount": 1,
        },
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "version": "1.0",
        "timestamp": _iso(),
        "KinesisBatchInfo": {
            "shardId": batch["shardId"],
            "startSequenceNumber": batch["startSequenceNumber"],
            "endSequenceNumber": batch["endSequenceNumber"],
            "approximateArrivalOfFirstRecord": _iso(arrival),
            "approximateArrivalOfLastRecord": _iso(arrival),
            "batchSize": batch["batchSize"],
            "streamArn": batch["streamArn"],
        },
    }


def _wire_on_failure(mapping, sqs, url):
    """The mapping's on_failure callback sends the documented record to the queue, as Lambda's destination does."""
    mapping.on_failure = lambda info: sqs.send_message(QueueUrl=url, MessageBody=json.dumps(documented_record(info)))


def _deliver(batch, event):
    # A short function timeout: with the database down, the consumer stops waiting for it within seconds.
    return invoke_locally(batch.function_name, event, timeout_s=2.5)


def _depth(sqs, url) -> int:
    attributes = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


def _run(tool, local_stack, url, **event):
    request = transform.parse_request({"queue_url": url, **event})
    lines: list[str] = []
    redrive = tool.Redrive(kinesis=local_stack.kinesis(), sqs=local_stack.client("sqs"), deliver=_deliver)
    redrive.progress = lines.append
    return redrive.run(request), lines


def _event_ids(db) -> list[str]:
    with db.cursor() as cur:
        cur.execute("SELECT event_id::text FROM errors ORDER BY event_id")
        return [r[0] for r in cur.fetchall()]


def test_a_database_outage_then_redrive_brings_every_record_back_once(
    local_stack, produce, mapping, db, queue, tool, request
):
    sqs = local_stack.client("sqs")
    mapping.config.max_retries = 0  # a small retry budget: the mapping gives up during the outage
    mapping.timeout_s = 2.5  # a short function timeout: the consumer stops waiting for the database soon
    _wire_on_failure(mapping, sqs, queue)
    sent = [error_event(5000 + i, source=f"svc-{i % 7}") for i in range(120)]
    for start in range(0, len(sent), 30):  # four producer calls: several Kinesis records over both shards
        assert produce({"events": sent[start : start + 30]}, None)["statusCode"] == 202

    postgres = local_stack.postgres
    postgres.stop(mode="immediate")
    try:
        delivered = mapping.drain()
        # While the database is still down, redrive keeps every message: the consumer fails.
        down, _ = _run(tool, local_stack, queue)
    finally:
        postgres.start()
    assert delivered > 0
    messages = _depth(sqs, queue)
    assert messages >= 2, "the outage should have produced several on-failure records"
    assert (down["messages_read"], down["redriven"], down["kept"], down["failed"]) == (messages, 0, messages, messages)
    assert all("cannot connect to PostgreSQL" in m["reason"] for m in down["messages"])
    db = connect(local_stack.database_url)  # the fixture's connection died with the server
    request.addfinalizer(db.close)
    assert counts(db) == (0, 0)

    # A dry run says what it would do, per message, and changes nothing.
    dry, _ = _run(tool, local_stack, queue, dry_run=True)
    assert (dry["dry_run"], dry["messages_read"], dry["redriven"], dry["invocations"]) == (True, messages, 0, 0)
    for report in dry["messages"]:
        assert report["status"] == "would redrive"
        assert report["function"] == "error_sink" and report["stream"] == "errors"
        assert report["shard"].startswith("shardId-") and len(report["range"]) == 2
        assert report["records"] >= 1 and report["within_retention"] is True and report["age_s"] < 600
    assert dry["records_fetched"] == delivered
    assert counts(db) == (0, 0) and _depth(sqs, queue) == messages

    # The database is back: redrive brings every record back, exactly once, and empties the queue.
    done, lines = _run(tool, local_stack, queue)
    assert (done["messages_read"], done["redriven"], done["kept"]) == (messages, messages, 0)
    assert done["records_fetched"] == done["records_delivered"] == delivered
    # error_sink answers with its accounting: every record fetched back became a row, none was there already.
    assert (done["rows_written"], done["duplicates"], done["dead_letters"]) == (len(sent), 0, 0)
    assert len(lines) == messages and all(": redriven (" in line for line in lines)
    assert _event_ids(db) == sorted(e["event_id"] for e in sent)
    assert counts(db) == (len(sent), 0)
    assert _depth(sqs, queue) == 0

    again, _ = _run(tool, local_stack, queue)
    assert again["messages_read"] == 0
    assert counts(db) == (len(sent), 0)


class _DeleteFails:
    """The real SQS client, except that delete_message fails: the run is interrupted after delivering a message's
    records and before deleting it (a Lambda timeout or a crash would stop it at the same point)."""

    def __init__(self, sqs):
        self._sqs = sqs

    def __getattr__(self, name):
        return getattr(self._sqs, name)

    def delete_message(self, **kwargs):
        raise RuntimeError("interrupted before the delete")


def test_an_interrupted_run_redelivers_without_a_duplicate_row(local_stack, db, queue, tool):
    kinesis, sqs = local_stack.kinesis(), local_stack.client("sqs")
    summary = kinesis.describe_stream_summary(StreamName="errors")["StreamDescriptionSummary"]
    events = [error_event(7000 + i) for i in range(5)]
    seqs = [
        kinesis.put_record(StreamName="errors", PartitionKey="same", Data=wire(e))["SequenceNumber"] for e in events
    ]
    shard = kinesis.put_record(StreamName="errors", PartitionKey="same", Data=b"{broken")
    info = {
        "requestContext": {"functionArn": "error_sink"},
        "KinesisBatchInfo": {
            "shardId": shard["ShardId"],
            "startSequenceNumber": seqs[0],
            "endSequenceNumber": shard["SequenceNumber"],
            "batchSize": 6,
            "streamArn": summary["StreamARN"],
        },
    }
    sqs.send_message(QueueUrl=queue, MessageBody=json.dumps(documented_record(info)))

    request = transform.parse_request({"queue_url": queue, "visibility_timeout_s": 1, "batch_size": 4})
    interrupted = tool.Redrive(kinesis=kinesis, sqs=_DeleteFails(sqs), deliver=_deliver)
    with pytest.raises(RuntimeError, match="interrupted"):
        interrupted.run(request)
    assert counts(db) == (5, 1)  # delivered (in two invocations of at most 4 records), but not deleted
    assert interrupted.summary.invocations == 2

    time.sleep(1.2)  # the message's visibility timeout passes
    resumed, _ = _run(tool, local_stack, queue)
    assert (resumed["messages_read"], resumed["redriven"], resumed["records_delivered"]) == (1, 1, 6)
    assert counts(db) == (5, 1)  # the second delivery wrote no duplicate row and no second dead letter
    assert _event_ids(db) == sorted(e["event_id"] for e in events)
    assert _depth(sqs, queue) == 0


class _Trimmed:
    """The real Kinesis client of the moto server, with a shard trimmed up to a sequence number.

    moto never trims a stream by retention, so this wrapper hides the records before ``horizon`` the way a
    trimmed shard no longer returns them: reading AT_SEQUENCE_NUMBER a trimmed number starts at the first record
    still there. Everything else goes to moto."""

    def __init__(self, kinesis, shard_id, horizon):
        self._kinesis, self._shard, self._horizon = kinesis, shard_id, int(horizon)
        self._iterators: set[str] = set()

    def __getattr__(self, name):
        return getattr(self._kinesis, name)

    def get_shard_iterator(self, **kwargs):
        response = self._kinesis.get_shard_iterator(**kwargs)
        if kwargs["ShardId"] == self._shard:
            self._iterators.add(response["ShardIterator"])
        return response

    def get_records(self, **kwargs):
        response = self._kinesis.get_records(**kwargs)
        if kwargs["ShardIterator"] in self._iterators:
            response["Records"] = [r for r in response["Records"] if int(r["SequenceNumber"]) >= self._horizon]
            if response.get("NextShardIterator"):
                self._iterators.add(response["NextShardIterator"])
        return response


def test_records_gone_from_the_stream_are_refused_naming_the_range_and_the_message_stays(local_stack, db, queue, tool):
    kinesis, sqs = local_stack.kinesis(), local_stack.client("sqs")
    arn = kinesis.describe_stream_summary(StreamName="errors")["StreamDescriptionSummary"]["StreamARN"]
    put = [
        kinesis.put_record(StreamName="errors", PartitionKey="trim", Data=wire(error_event(8000 + i))) for i in range(4)
    ]
    shard, seqs = put[0]["ShardId"], [p["SequenceNumber"] for p in put]
    old = time.time() - 30 * 3600  # arrived 30 hours ago, past the local stream's 24 hours
    for start, end in ((seqs[0], seqs[1]), (seqs[0], seqs[3])):
        info = {
            "requestContext": {"functionArn": "error_sink"},
            "KinesisBatchInfo": {
                "shardId": shard,
                "startSequenceNumber": start,
                "endSequenceNumber": end,
                "batchSize": 4,
                "streamArn": arn,
            },
        }
        sqs.send_message(QueueUrl=queue, MessageBody=json.dumps(documented_record(info, arrival=old)))
    sqs.send_message(QueueUrl=queue, MessageBody="not an on-failure record")

    trimmed = _Trimmed(kinesis, shard, horizon=seqs[2])  # the shard now starts at the third record
    request = transform.parse_request({"queue_url": queue})
    result = tool.Redrive(kinesis=trimmed, sqs=sqs, deliver=_deliver).run(request)

    assert (result["messages_read"], result["redriven"], result["kept"]) == (3, 0, 3)
    assert (result["expired"], result["not_failure_records"], result["invocations"]) == (2, 1, 0)
    by_range = {tuple(m["range"]): m for m in result["messages"] if "range" in m}
    whole = by_range[(seqs[0], seqs[1])]
    assert whole["status"] == "kept: records gone from the stream"
    assert f"records {seqs[0]} to {seqs[1]} of {shard} are gone" in whole["reason"]
    part = by_range[(seqs[0], seqs[3])]
    assert f"records {seqs[0]} up to {seqs[2]} (not included)" in part["reason"]
    assert f"{seqs[2]} to {seqs[3]} are still there" in part["reason"]
    assert whole["within_retention"] is False and whole["expires_in_s"] < 0
    (odd,) = [m for m in result["messages"] if "range" not in m]
    assert odd["status"] == "kept: not an on-failure record" and "not JSON" in odd["reason"]
    assert counts(db) == (0, 0)
    assert _depth(sqs, queue) == 3  # every message kept, and visible again for the next run

    # The operator accepts the loss: what is left of the partly trimmed range is redriven and its message goes.
    partial = transform.parse_request({"queue_url": queue, "allow_partial": True})
    result = tool.Redrive(kinesis=trimmed, sqs=sqs, deliver=_deliver).run(partial)
    assert (result["messages_read"], result["redriven"], result["kept"], result["expired"]) == (3, 1, 2, 2)
    (done,) = [m for m in result["messages"] if m.get("range") == [seqs[0], seqs[3]]]
    assert done["status"] == "redriven what was left" and done["records"] == 2
    with db.cursor() as cur:
        cur.execute("SELECT sequence_number FROM errors ORDER BY sequence_number::numeric")
        assert [r[0] for r in cur.fetchall()] == [seqs[2], seqs[3]]
    assert _depth(sqs, queue) == 2


def _payload_record(event):
    info = {
        "requestContext": {"functionArn": "error_sink"},
        "KinesisBatchInfo": {
            "shardId": "shardId-000000000000",
            "startSequenceNumber": event["Records"][0]["kinesis"]["sequenceNumber"],
            "endSequenceNumber": event["Records"][-1]["kinesis"]["sequenceNumber"],
            "batchSize": len(event["Records"]),
            "streamArn": event["Records"][0]["eventSourceARN"],
        },
    }
    return {**documented_record(info), "payload": json.dumps(event)}


def test_inline_records_from_an_s3_destination_are_delivered_from_their_payload(local_stack, db, tool):
    event = kinesis_event([("a", wire(error_event(9001))), ("b", wire(error_event(9002)))])
    request = transform.parse_request({"records": [_payload_record(event)]})
    result = tool.Redrive(kinesis=local_stack.kinesis(), deliver=_deliver).run(request)
    assert (result["redriven"], result["records_fetched"], result["records_delivered"]) == (1, 0, 2)
    assert counts(db) == (2, 0)


def test_an_s3_destinations_objects_are_redriven_and_deleted_once_delivered(local_stack, db, tool):
    s3 = local_stack.client("s3")
    bucket = f"on-failure-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    first = kinesis_event([("a", wire(error_event(9101))), ("b", wire(error_event(9102)))], first_seq=100)
    second = kinesis_event([("c", wire(error_event(9103)))], first_seq=200)
    s3.put_object(Bucket=bucket, Key="error_sink/1.json", Body=json.dumps(_payload_record(first)).encode())
    s3.put_object(Bucket=bucket, Key="error_sink/2.json", Body=json.dumps(_payload_record(second)).encode())
    s3.put_object(Bucket=bucket, Key="error_sink/3.json", Body=b"{}")
    s3.put_object(Bucket=bucket, Key="other/1.json", Body=json.dumps(_payload_record(second)).encode())

    dry = transform.parse_request({"s3_bucket": bucket, "s3_prefix": "error_sink/", "dry_run": True})
    seen = tool.Redrive(kinesis=local_stack.kinesis(), s3=s3, deliver=_deliver).run(dry)
    assert (seen["messages_read"], seen["redriven"], seen["invocations"]) == (3, 0, 0)
    assert counts(db) == (0, 0)

    request = transform.parse_request({"s3_bucket": bucket, "s3_prefix": "error_sink/"})
    result = tool.Redrive(kinesis=local_stack.kinesis(), s3=s3, deliver=_deliver).run(request)
    assert (result["messages_read"], result["redriven"], result["kept"], result["not_failure_records"]) == (3, 2, 1, 1)
    assert counts(db) == (3, 0)
    left = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", []))
    assert left == ["error_sink/3.json", "other/1.json"]  # the odd object stays; the other prefix was not read
    for key in left:
        s3.delete_object(Bucket=bucket, Key=key)
    s3.delete_bucket(Bucket=bucket)


class _Unsteady:
    """moto's Kinesis client, answering the first two GetRecords calls as real Kinesis can and moto never does:
    an iterator that expired (they last five minutes), then an empty page while still behind the tip."""

    def __init__(self, kinesis):
        self._kinesis, self.calls = kinesis, 0

    def __getattr__(self, name):
        return getattr(self._kinesis, name)

    def get_records(self, **kwargs):
        from botocore.exceptions import ClientError

        self.calls += 1
        if self.calls == 1:
            raise ClientError({"Error": {"Code": "ExpiredIteratorException", "Message": "expired"}}, "GetRecords")
        if self.calls == 2:
            return {"Records": [], "MillisBehindLatest": 5000, "NextShardIterator": kwargs["ShardIterator"]}
        return self._kinesis.get_records(**{**kwargs, "Limit": 1})  # one record a page: many calls


def test_an_expired_iterator_and_empty_pages_do_not_lose_records(local_stack, db, tool):
    kinesis = local_stack.kinesis()
    arn = kinesis.describe_stream_summary(StreamName="errors")["StreamDescriptionSummary"]["StreamARN"]
    put = [
        kinesis.put_record(StreamName="errors", PartitionKey="iter", Data=wire(error_event(8500 + i))) for i in range(3)
    ]
    info = {
        "requestContext": {"functionArn": "error_sink"},
        "KinesisBatchInfo": {
            "shardId": put[0]["ShardId"],
            "startSequenceNumber": put[0]["SequenceNumber"],
            "endSequenceNumber": put[-1]["SequenceNumber"],
            "batchSize": 3,
            "streamArn": arn,
        },
    }
    unsteady = _Unsteady(kinesis)
    request = transform.parse_request({"records": [documented_record(info)]})
    result = tool.Redrive(kinesis=unsteady, deliver=_deliver).run(request)
    assert (result["redriven"], result["records_fetched"], result["records_delivered"]) == (1, 3, 3)
    assert unsteady.calls >= 5
    assert counts(db) == (3, 0)
