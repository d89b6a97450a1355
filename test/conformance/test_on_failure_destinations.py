"""On-failure destinations: the invocation record, to SQS, SNS and S3 (moto's, for real).

Source: Lambda developer guide, "Retain discarded batch records for a Kinesis Data Streams event source"
(kinesis-on-failure-destination.html): the example invocation record and, for S3, the whole invocation
payload with the metadata, in an object named aws/lambda/<ESM-UUID>/<shardID>/YYYY/MM/DD/
YYYY-MM-DDTHH.MM.SS-<Random UUID>. Lambda API reference, OnFailure (API_OnFailure.html): SNS topic, SQS
queue or S3 bucket for Kinesis.

Not confirmed from the page text available here: the type of the S3 document's ``payload`` (the example
shows a quoted placeholder, so the emulator writes the event as a JSON string), and what
responseContext holds when the function returned a partial failure rather than an error (the emulator
leaves functionError out then).
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime

import pytest

from test.conformance.conftest import Recorder

pytestmark = pytest.mark.integration
SHARD = "shardId-000000000000"


def _fail(batch, event):
    raise RuntimeError("down")


def _iso(value: str) -> datetime:
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", value), value
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@pytest.fixture
def queue(aws):
    sqs = aws("sqs")
    name = f"failures-{uuid.uuid4().hex[:8]}"
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    yield arn, url
    sqs.delete_queue(QueueUrl=url)


def _receive(sqs, url):
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
    return [json.loads(m["Body"]) for m in messages]


def test_the_invocation_record_has_the_documented_keys_and_values(stream, mapping, aws, queue):
    """On-failure page (example invocation record): requestContext {requestId, functionArn, condition,
    approximateInvokeCount}, responseContext {statusCode, executedVersion, functionError}, version,
    timestamp, KinesisBatchInfo {shardId, startSequenceNumber, endSequenceNumber,
    approximateArrivalOfFirstRecord, approximateArrivalOfLastRecord, batchSize, streamArn}; it holds
    metadata, not the records."""
    arn, url = queue
    seqs = stream.put(["secret-1", "secret-2"])
    esm = mapping(stream, Recorder(_fail), max_retries=1, bisect=False, destination=arn)
    esm.drain()
    (record,) = _receive(aws("sqs"), url)
    assert set(record) == {"requestContext", "responseContext", "version", "timestamp", "KinesisBatchInfo"}
    assert set(record["requestContext"]) == {"requestId", "functionArn", "condition", "approximateInvokeCount"}
    account = esm.stream_arn.split(":")[4]
    assert record["requestContext"]["functionArn"] == f"arn:aws:lambda:us-east-1:{account}:function:fn"
    assert record["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 2
    uuid.UUID(record["requestContext"]["requestId"])
    assert record["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"}
    assert record["version"] == "1.0"
    _iso(record["timestamp"])
    info = record["KinesisBatchInfo"]
    assert set(info) == {
        "shardId",
        "startSequenceNumber",
        "endSequenceNumber",
        "approximateArrivalOfFirstRecord",
        "approximateArrivalOfLastRecord",
        "batchSize",
        "streamArn",
    }
    assert (info["shardId"], info["startSequenceNumber"], info["endSequenceNumber"]) == (SHARD, seqs[0], seqs[1])
    assert info["batchSize"] == 2 and info["streamArn"] == esm.stream_arn
    assert _iso(info["approximateArrivalOfFirstRecord"]) <= _iso(info["approximateArrivalOfLastRecord"])
    assert "secret" not in json.dumps(record)


def test_an_sns_destination_receives_the_record(stream, mapping, aws, queue):
    """On-failure page / OnFailure: an SNS topic may be the destination (read back through a subscribed queue)."""
    queue_arn, url = queue
    sns = aws("sns")
    topic = sns.create_topic(Name=f"failures-{uuid.uuid4().hex[:8]}")["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"})
    stream.put(["a"])
    mapping(stream, Recorder(_fail), max_retries=0, destination=topic).drain()
    (record,) = _receive(aws("sqs"), url)
    assert record["KinesisBatchInfo"]["batchSize"] == 1
    assert record["requestContext"]["condition"] == "RetryAttemptsExhausted"
    sns.delete_topic(TopicArn=topic)


def test_an_s3_destination_gets_the_record_and_the_whole_payload_under_the_documented_key(stream, mapping, aws):
    """On-failure page: for S3 destinations Lambda sends the entire invocation record along with the
    metadata, in an object named aws/lambda/<ESM-UUID>/<shardID>/YYYY/MM/DD/YYYY-MM-DDTHH.MM.SS-<Random UUID>."""
    s3 = aws("s3")
    bucket = f"failures-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    stream.put(["a", "b"])
    esm = mapping(stream, Recorder(_fail), max_retries=0, bisect=False, destination=f"arn:aws:s3:::{bucket}")
    esm.drain()
    (obj,) = s3.list_objects_v2(Bucket=bucket)["Contents"]
    pattern = rf"aws/lambda/{esm.uuid}/{SHARD}/(\d{{4}})/(\d\d)/(\d\d)/(\d{{4}})-(\d\d)-(\d\d)T\d\d\.\d\d\.\d\d-(.+)"
    match = re.fullmatch(pattern, obj["Key"])
    assert match, obj["Key"]
    year, month, day, year2, month2, day2, random = match.groups()
    assert (year, month, day) == (year2, month2, day2)
    uuid.UUID(random)
    document = json.loads(s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read())
    assert document["KinesisBatchInfo"]["batchSize"] == 2
    payload = json.loads(document["payload"])
    assert [r["kinesis"]["data"] for r in payload["Records"]] == ["YQ==", "Yg=="]  # base64 of a, b


def test_the_on_failure_callback_gets_the_same_record(stream, mapping, aws, queue):
    """The emulator's own hook (not an AWS feature): on_failure receives each invocation record too,
    alongside the destination."""
    arn, url = queue
    stream.put(["a"])
    seen = []
    esm = mapping(stream, Recorder(_fail), max_retries=0, destination=arn)
    esm.on_failure = seen.append
    esm.drain()
    (sent,) = _receive(aws("sqs"), url)
    assert seen == [sent]


def test_without_a_destination_the_records_are_discarded_and_the_shard_moves_on(stream, mapping):
    """On-failure page: if the error handling measures fail, Lambda discards the records and continues
    processing batches from the stream."""
    stream.put(["bad"])
    handler = Recorder(lambda b, e: (_ for _ in ()).throw(RuntimeError("x")) if b == ["bad"] else None)
    esm = mapping(stream, handler, max_retries=0)
    esm.drain()
    stream.put(["good"])
    esm.drain()
    assert handler.batches == [["bad"], ["good"]]
    assert esm.totals["DroppedEventCount"] == 1 and esm.totals["OnFailureDestinationDeliveredEventCount"] == 0


def test_arrival_times_in_the_record_are_the_records_own(stream, mapping):
    """On-failure page: approximateArrivalOfFirstRecord/LastRecord are the batch's arrival times."""
    stream.put(["a"])
    seen = []
    esm = mapping(stream, Recorder(_fail), max_retries=0)
    esm.on_failure = seen.append
    esm.drain()
    first = _iso(seen[0]["KinesisBatchInfo"]["approximateArrivalOfFirstRecord"])
    assert abs((datetime.now(UTC) - first).total_seconds()) < 60
