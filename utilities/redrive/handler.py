"""redrive Lambda handler: read on-failure records, fetch their records back from the stream, invoke the consumer.

``run`` is the whole procedure, with its clients and the way to reach the consumer passed in: this handler
invokes the consumer through Lambda (``lambda:InvokeFunction``, RequestResponse); ``python -m local redrive``
calls its handler in-process against the local stack.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from shared import aws, config, observability
from shared.exceptions import Rejected
from shared.lambda_events import kinesis_record
from utilities.redrive import transform

CONFIG = config.load()
observability.setup_logging(CONFIG.log_level)
LOG = observability.get_logger(__name__)

# (the failed batch, a Lambda Kinesis event) -> (the consumer's response payload, its function error or None)
Deliver = Callable[[transform.FailedBatch, dict[str, Any]], tuple[Any, str | None]]
STOP_WITH_MS_LEFT = 120_000  # room for one more message's invocations (the consumer's own timeout is 120 s)
MAX_EMPTY_READS = 100  # GetRecords may answer empty while behind the tip; give up on a shard after this many


def _client_error_code(error: Exception) -> str | None:
    response = getattr(error, "response", None)
    return response.get("Error", {}).get("Code") if isinstance(response, dict) else None


@dataclass
class Fetched:
    records: list[dict[str, Any]] = field(default_factory=list)  # GetRecords' records, within the batch's range
    problem: str | None = None  # the range is (partly) gone, or could not be read
    trimmed: bool = False  # the problem is that the stream trimmed the range's start (``records`` hold the rest)
    complete: bool = False  # the batch's last record was read


def fetch(kinesis: Any, batch: transform.FailedBatch) -> Fetched:
    """Read the batch's records back: AT_SEQUENCE_NUMBER its first, through its last, across GetRecords calls."""
    out = Fetched()
    where = {"StreamName": batch.stream_name, "ShardId": batch.shard_id}
    try:
        iterator = kinesis.get_shard_iterator(
            **where, ShardIteratorType="AT_SEQUENCE_NUMBER", StartingSequenceNumber=batch.start
        )["ShardIterator"]
    except Exception as e:
        code = _client_error_code(e)
        if code in ("ResourceNotFoundException", "InvalidArgumentException"):
            out.problem = f"{batch.range} cannot be read from the stream any more ({code}: {e})"
            return out
        raise
    first: str | None = None
    last: str | None = None
    empty, tip = 0, False
    while True:
        try:
            response = kinesis.get_records(ShardIterator=iterator, Limit=10_000)
        except Exception as e:
            if _client_error_code(e) != "ExpiredIteratorException":
                raise
            # Iterators last five minutes; carry on from the last record read.
            position = (
                {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "StartingSequenceNumber": last}
                if last
                else {"ShardIteratorType": "AT_SEQUENCE_NUMBER", "StartingSequenceNumber": batch.start}
            )
            iterator = kinesis.get_shard_iterator(**where, **position)["ShardIterator"]
            continue
        got = response.get("Records", [])
        if got:
            empty = 0
            if first is None:
                first = got[0]["SequenceNumber"]  # past the batch's first record: the stream trimmed the rest
            mine, out.complete = transform.take(batch, got)
            out.records += mine
            last = got[-1]["SequenceNumber"]
            if out.complete:
                break
        else:
            empty += 1
            if response.get("MillisBehindLatest", 0) == 0 or empty >= MAX_EMPTY_READS:
                tip = True
                break
        iterator = response.get("NextShardIterator")
        if not iterator:  # a closed shard, read to its end
            tip = True
            break
    out.problem = transform.gone(batch, first, reached_tip=tip)
    out.trimmed = out.problem is not None
    if out.problem is None and not out.complete:
        out.problem = f"{batch.range}: read to the end of the shard without finding record {batch.end}"
    return out


def lambda_records(batch: transform.FailedBatch, records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """GetRecords' records as the records of the Lambda Kinesis event the consumer was invoked with."""
    return [
        kinesis_record(
            data=r["Data"],
            partition_key=r["PartitionKey"],
            sequence_number=r["SequenceNumber"],
            shard_id=batch.shard_id,
            stream_arn=batch.stream_arn,
            region=batch.region,
            arrival=r["ApproximateArrivalTimestamp"].timestamp() if r.get("ApproximateArrivalTimestamp") else 0.0,
            function_name=batch.function_name,
        )
        for r in records
    ]


@dataclass
class Redrive:
    """One run: its clients, the way to reach consumers, and what it did so far."""

    kinesis: Any
    deliver: Deliver
    sqs: Any = None
    s3: Any = None
    now: Callable[[], float] = time.time
    progress: Callable[[str], None] | None = None
    out_of_time: Callable[[], bool] = lambda: False
    summary: transform.Summary = field(default_factory=transform.Summary)
    _retention: dict[str, int | None] = field(default_factory=dict)

    def _say(self, message: str) -> None:
        (self.progress or (lambda m: LOG.info(m)))(message)

    def retention_hours(self, stream: str) -> int | None:
        if stream not in self._retention:
            try:
                summary = self.kinesis.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]
                self._retention[stream] = int(summary["RetentionPeriodHours"])
            except Exception as e:
                if _client_error_code(e) is None:
                    raise
                self._retention[stream] = None
        return self._retention[stream]

    def one(self, body: Any, request: transform.Request, label: str) -> bool:
        """Redrive one on-failure record; True when all its records reached the consumer and it succeeded."""
        summary = self.summary
        report: dict[str, Any] = {"message": label}
        summary.messages.append(report)
        try:
            batch = transform.parse_record(body)
        except transform.NotAFailureRecord as e:
            summary.not_failure_records += 1
            report.update(status="kept: not an on-failure record", reason=str(e))
            return False
        report.update(
            function=batch.function_name,
            condition=batch.condition,
            stream=batch.stream_name,
            shard=batch.shard_id,
            range=[batch.start, batch.end],
            batch_size=batch.batch_size,
            **transform.timing(batch, now=self.now(), retention_hours=self.retention_hours(batch.stream_name)),
        )
        partial = False
        if batch.payload is not None:
            events = batch.payload
        else:
            fetched = fetch(self.kinesis, batch)
            summary.records_fetched += len(fetched.records)
            report["records"] = len(fetched.records)
            if fetched.problem is not None:
                summary.expired += 1
                report["reason"] = fetched.problem
                if not (request.allow_partial and fetched.trimmed and fetched.records):
                    report["status"] = "kept: records gone from the stream"
                    return False
                partial = True  # what is gone stays gone: deliver what is left, then the message can go
            events = lambda_records(batch, fetched.records)
        report["records"] = len(events)
        if request.dry_run:
            report["status"] = "would redrive what is left" if partial else "would redrive"
            return False
        size = min(batch.batch_size, request.batch_size or batch.batch_size)
        for chunk in transform.chunks(events, max_records=size):
            payload, error = self.deliver(batch, {"Records": chunk})
            outcome = transform.judge_response(payload, error)
            if not outcome.ok:
                summary.failed += 1
                report.update(status="kept: the consumer did not succeed", reason=outcome.reason)
                return False
            summary.delivered(len(chunk), outcome)
        report["status"] = "redriven what was left" if partial else "redriven"
        return True

    def _after(self, index: int, report: dict[str, Any]) -> None:
        self._say(
            f"message {index}: {report.get('stream', '?')} {report.get('shard', '?')} "
            f"{'..'.join(report.get('range', ['?']))}: {report['status']}"
            + (f" ({report['records']} records)" if "records" in report else "")
            + (f": {report['reason']}" if "reason" in report else "")
        )

    def run(self, request: transform.Request) -> dict[str, Any]:
        self.summary.dry_run = request.dry_run
        complete = True
        if request.records is not None:
            for index, body in enumerate(request.records, start=1):
                self.summary.messages_read += 1
                if self.one(body, request, f"records[{index - 1}]"):
                    self.summary.redriven += 1
                else:
                    self.summary.kept += 1
                self._after(index, self.summary.messages[-1])
        elif request.s3_bucket is not None:
            complete = self._bucket(request)
        else:
            complete = self._queue(request)
        return {"complete": complete, **self.summary.report()}

    def _bucket(self, request: transform.Request) -> bool:
        """Each object under the prefix is one on-failure record; it is deleted once redriven, like a message."""
        bucket = request.s3_bucket
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=request.s3_prefix)
        for page in pages:
            for item in page.get("Contents", []):
                if self.summary.messages_read >= request.max_messages or self.out_of_time():
                    return False
                key = item["Key"]
                body = self.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
                self.summary.messages_read += 1
                if self.one(body, request, f"s3://{bucket}/{key}"):
                    self.s3.delete_object(Bucket=bucket, Key=key)
                    self.summary.redriven += 1
                else:
                    self.summary.kept += 1
                self._after(self.summary.messages_read, self.summary.messages[-1])
        return True

    def _queue(self, request: transform.Request) -> bool:
        url = request.queue_url
        seen: set[str] = set()
        kept: list[str] = []
        complete = True
        try:
            while self.summary.messages_read < request.max_messages:
                if self.out_of_time():
                    complete = False
                    break
                messages = self.sqs.receive_message(
                    QueueUrl=url,
                    MaxNumberOfMessages=min(10, request.max_messages - self.summary.messages_read),
                    VisibilityTimeout=request.visibility_timeout_s,
                    WaitTimeSeconds=0,
                ).get("Messages", [])
                fresh = [m for m in messages if m["MessageId"] not in seen]
                if not fresh:
                    break
                for message in fresh:
                    seen.add(message["MessageId"])
                    self.summary.messages_read += 1
                    if self.one(message["Body"], request, message["MessageId"]):
                        self.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
                        self.summary.redriven += 1
                    else:
                        kept.append(message["ReceiptHandle"])
                        self.summary.kept += 1
                    self._after(self.summary.messages_read, self.summary.messages[-1])
            else:
                complete = False  # max_messages reached: more may be waiting
        finally:
            # What stays in the queue is visible again at once, for the next run (a dry run's included).
            for handle in kept:
                self.sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=handle, VisibilityTimeout=0)
        return complete


def invoke(batch: transform.FailedBatch, event: dict[str, Any]) -> tuple[Any, str | None]:
    """Invoke the consumer the record names (its ARN, qualifier included) and wait for its answer."""
    response = LAMBDA.invoke(
        FunctionName=batch.function_arn, InvocationType="RequestResponse", Payload=json.dumps(event).encode()
    )
    raw = response["Payload"].read()
    try:
        payload = json.loads(raw) if raw else None
    except ValueError:
        payload = raw.decode("utf-8", "replace")
    return payload, response.get("FunctionError")


# Each built on its first use: a run reads a queue or a bucket, not both.
SQS = aws.lazy_client("sqs", CONFIG)
S3 = aws.lazy_client("s3", CONFIG)
KINESIS = aws.lazy_client("kinesis", CONFIG)
# One attempt (botocore would invoke the consumer again behind our back), and time for its whole batch.
LAMBDA = aws.lazy_client("lambda", CONFIG, call_timeout_s=900.0)


def handler(event: Any, context: Any) -> dict[str, Any]:
    try:
        request = transform.parse_request(event)
    except Rejected as e:
        return e.response()

    def out_of_time() -> bool:
        return context is not None and context.get_remaining_time_in_millis() < STOP_WITH_MS_LEFT

    result = Redrive(kinesis=KINESIS, deliver=invoke, sqs=SQS, s3=S3, out_of_time=out_of_time).run(request)
    LOG.warning("redrive done", extra={k: v for k, v in result.items() if k != "messages"})
    return {"statusCode": 200, **result}
