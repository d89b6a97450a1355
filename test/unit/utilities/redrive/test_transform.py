"""redrive's decisions: on-failure records read strictly, ranges, expiry, batches the consumer accepts, its answer."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime

import pytest

from shared.exceptions import Rejected
from shared.lambda_events import kinesis_record
from test.support import load_event
from utilities.redrive import transform

RECORD = load_event("redrive/on_failure_record.json")


def _record(**changes):
    """The fixture record with dotted paths changed (a value of ... deletes the key)."""
    record = copy.deepcopy(RECORD)
    for path, value in changes.items():
        *parents, last = path.split("__")
        target = record
        for key in parents:
            target = target[key]
        if value is ...:
            del target[last]
        else:
            target[last] = value
    return record


def _batch(start="100", end="200", size=50, **kw):
    info = {"KinesisBatchInfo__startSequenceNumber": start, "KinesisBatchInfo__endSequenceNumber": end}
    return transform.parse_record(_record(**info, KinesisBatchInfo__batchSize=size, **kw))


# --------------------------------------------------------------------------- reading the record


def test_the_documented_record_is_read_field_by_field():
    batch = transform.parse_record(json.dumps(RECORD))
    assert batch.function_name == "event-pipeline-qa-error_sink"
    assert batch.function_arn == RECORD["requestContext"]["functionArn"]
    assert (batch.condition, batch.invoke_count, batch.function_error) == ("RetryAttemptsExhausted", 11, "Unhandled")
    assert batch.shard_id == "shardId-000000000001"
    assert batch.start == "49658111222333444555666777888999000111222333444555660018"
    assert batch.end == "49658111222333444555666777888999000111222333444555660994"
    assert batch.batch_size == 100
    assert (batch.stream_name, batch.region) == ("event-pipeline-qa-errors", "eu-west-1")
    assert batch.first_arrival == datetime(2026, 11, 22, 9, 15, 3, 112000, tzinfo=UTC)
    assert batch.payload is None
    assert batch.range == f"event-pipeline-qa-errors shardId-000000000001 {batch.start}..{batch.end}"


def test_a_qualified_function_a_null_function_error_and_an_sns_envelope_are_read():
    record = _record(
        requestContext__functionArn="arn:aws:lambda:eu-west-1:210987654321:function:sink:live",
        responseContext__functionError=None,
    )
    envelope = {"Type": "Notification", "TopicArn": "arn:aws:sns:eu-west-1:1:t", "Message": json.dumps(record)}
    batch = transform.parse_record(json.dumps(envelope))
    assert batch.function_name == "sink"
    assert batch.function_arn.endswith(":sink:live")  # invoked with its qualifier, as the mapping did
    assert batch.function_error is None


def test_an_s3_record_carries_the_events_records():
    records = [
        kinesis_record(
            data=b"x",
            partition_key="k",
            sequence_number="1",
            shard_id="s",
            stream_arn="arn:s",
            region="r",
            arrival=0.0,
            function_name="f",
        )
    ]
    batch = transform.parse_record(_record(payload=json.dumps({"Records": records})))
    assert batch.payload == records
    with pytest.raises(transform.NotAFailureRecord, match="payload must be the Lambda Kinesis event"):
        transform.parse_record(_record(payload={"body": "x"}))


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("hello", "not JSON"),
        ("[1]", "must be a JSON object"),
        (json.dumps({"requestPayload": {}, "version": "1.0"}), "an asynchronous invocation record"),
        (json.dumps({"DDBStreamBatchInfo": {}, "version": "1.0"}), "another event source (DDBStreamBatchInfo)"),
        (_record(version="2.0"), "record.version must be 1.0"),
        (_record(KinesisBatchInfo=...), "record.KinesisBatchInfo is missing"),
        (_record(requestContext__functionArn="error_sink"), "not a Lambda function ARN"),
        (_record(requestContext__approximateInvokeCount="3"), "approximateInvokeCount must be int"),
        (_record(responseContext__statusCode=...), "responseContext.statusCode is missing"),
        (_record(KinesisBatchInfo__streamArn="arn:aws:sqs:eu-west-1:210987654321:q"), "not a Kinesis stream ARN"),
        (_record(KinesisBatchInfo__startSequenceNumber="12ab"), "startSequenceNumber is not a sequence number"),
        (_record(KinesisBatchInfo__startSequenceNumber="9" * 60), "is after endSequenceNumber"),
        (_record(KinesisBatchInfo__batchSize=True), "batchSize must be int"),
        (_record(KinesisBatchInfo__batchSize=0), "batchSize must be 1 to 10000"),
        (_record(KinesisBatchInfo__approximateArrivalOfFirstRecord="yesterday"), "not an ISO 8601 timestamp"),
        (_record(timestamp="2026-11-22T09:21:44"), "has no time zone"),
        (_record(KinesisBatchInfo__shardId="shard 1"), "not a shard id"),
    ],
)
def test_anything_else_is_refused_naming_what_is_wrong(body, reason):
    with pytest.raises(transform.NotAFailureRecord) as err:
        transform.parse_record(body)
    assert reason in str(err.value)


# --------------------------------------------------------------------------- the request


def test_requests_name_a_queue_or_records():
    request = transform.parse_request({"queue_url": "https://sqs.eu-west-1.amazonaws.com/1/q", "dry_run": True})
    assert request.queue_url.endswith("/q") and request.dry_run and request.max_messages == 100
    inline = transform.parse_request({"records": [RECORD], "batch_size": 10})
    assert inline.records == (RECORD,) and inline.batch_size == 10


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        ({}, 'give one of "queue_url"'),
        ({"queue_url": "https://q", "records": [RECORD]}, 'give one of "queue_url"'),
        ({"s3_bucket": "B A D"}, "s3_bucket must be a bucket name"),
        ({"records": [RECORD], "s3_prefix": "x/"}, "s3_prefix goes with s3_bucket"),
        ({"queue_url": "q"}, "queue_url must be the queue's URL"),
        ({"records": []}, "records must be a non-empty list"),
        ({"records": [RECORD], "dry_run": 1}, "dry_run must be true or false"),
        ({"records": [RECORD], "allow_partial": "yes"}, "allow_partial must be true or false"),
        ({"records": [RECORD], "max_messages": 0}, "max_messages must be an integer from 1"),
        ({"records": [RECORD], "batch_size": 10_001}, "batch_size must be an integer from 1 to 10000"),
        ({"records": [RECORD], "force": True}, "unknown field(s): force"),
        ("redrive", "must be a JSON object"),
    ],
)
def test_bad_requests_are_refused(event, reason):
    with pytest.raises(Rejected) as err:
        transform.parse_request(event)
    assert reason in str(err.value)


# --------------------------------------------------------------------------- the range


def _got(*seqs):
    return [{"SequenceNumber": str(s)} for s in seqs]


def test_take_keeps_the_range_and_says_when_its_end_was_read():
    batch = _batch("100", "200")
    assert transform.take(batch, _got(100, 150)) == (_got(100, 150), False)
    assert transform.take(batch, _got(150, 200, 250)) == (_got(150, 200), True)
    assert transform.take(batch, _got(199, 201)) == (_got(199), True)  # the end itself may be missing: stop past it
    assert transform.take(batch, _got(99, 100)) == (_got(100), False)
    # Numbers are compared as numbers, not text: 56-digit Kinesis numbers of different lengths.
    wide = _batch("9", "10")
    assert transform.take(wide, _got(9, 10)) == (_got(9, 10), True)


def test_gone_names_what_the_stream_trimmed():
    batch = _batch("100", "200")
    assert transform.gone(batch, "100", reached_tip=False) is None
    assert transform.gone(batch, None, reached_tip=False) is None
    whole = transform.gone(batch, None, reached_tip=True)
    assert "records 100 to 200" in whole and "gone from the stream" in whole
    assert "records 100 to 200" in transform.gone(batch, "300", reached_tip=False)
    partly = transform.gone(batch, "150", reached_tip=False)
    assert "records 100 up to 150 (not included)" in partly and "150 to 200 are still there" in partly


def test_timing_reports_age_and_retention_left():
    batch = _batch()
    now = batch.first_arrival.timestamp() + 3600
    assert transform.timing(batch, now=now, retention_hours=24) == {
        "age_s": 3600.0,
        "expires_in_s": 23 * 3600.0,
        "within_retention": True,
    }
    late = transform.timing(batch, now=now + 24 * 3600, retention_hours=24)
    assert late["within_retention"] is False and late["expires_in_s"] < 0
    assert transform.timing(batch, now=now, retention_hours=None) == {"age_s": 3600.0}


# --------------------------------------------------------------------------- invocations


def _records(n, size=10):
    return [
        kinesis_record(
            data=b"x" * size,
            partition_key="k",
            sequence_number=str(1000 + i),
            shard_id="s",
            stream_arn="arn:s",
            region="r",
            arrival=0.0,
            function_name="f",
        )
        for i in range(n)
    ]


def test_chunks_respect_the_batch_size_and_the_payload_limit():
    records = _records(25)
    assert [len(c) for c in transform.chunks(records, max_records=10)] == [10, 10, 5]
    assert [r for c in transform.chunks(records, max_records=10) for r in c] == records
    one = len(json.dumps(records[0], separators=(",", ":")))
    limit = len('{"Records":[]}') + 3 * one + 2  # exactly three records and their two commas
    cut = transform.chunks(records, max_records=100, max_bytes=limit)
    assert [len(c) for c in cut] == [3, 3, 3, 3, 3, 3, 3, 3, 1]
    for chunk in cut:
        assert len(json.dumps({"Records": chunk}, separators=(",", ":"))) <= limit
    assert transform.chunks([], max_records=10) == []
    with pytest.raises(ValueError, match="alone is over"):
        transform.chunks(records, max_records=10, max_bytes=one)


def test_big_records_are_cut_under_lambdas_6_mb():
    records = _records(12, size=700_000)  # base64 makes each about 0.93 MB of JSON
    cut = transform.chunks(records, max_records=100)
    assert len(cut) > 1
    assert all(len(json.dumps({"Records": c}, separators=(",", ":"))) <= transform.MAX_PAYLOAD_BYTES for c in cut)


def test_the_consumers_answer_is_judged_as_the_mapping_would():
    assert transform.judge_response({"batchItemFailures": []}, None) == transform.Outcome(True)
    assert transform.judge_response(None, None).ok
    failed = transform.judge_response({"batchItemFailures": [{"itemIdentifier": "42"}]}, None)
    assert not failed.ok and "1 failed record(s), the first 42" in failed.reason
    error = transform.judge_response({"errorMessage": "cannot connect to PostgreSQL"}, "Unhandled")
    assert not error.ok and "(Unhandled): cannot connect to PostgreSQL" in error.reason
    counted = transform.judge_response(
        {"batchItemFailures": [], "rowsWritten": 7, "duplicatesSkipped": 2, "deadLetters": 1}, None
    )
    assert (counted.rows_written, counted.duplicates, counted.dead_letters) == (7, 2, 1)


def test_the_summary_says_unknown_when_a_consumer_does_not_count():
    summary = transform.Summary()
    summary.delivered(3, transform.Outcome(True, rows_written=3, duplicates=0, dead_letters=0))
    assert summary.report()["rows_written"] == 3
    summary.delivered(2, transform.Outcome(True))
    report = summary.report()
    assert (report["rows_written"], report["duplicates"], report["dead_letters"]) == ("unknown",) * 3
    assert (report["records_delivered"], report["invocations"]) == (5, 2)
    assert "harmless" in report["note"]
