"""redrive's decisions: read an on-failure record, say which stream records it names and whether they are still
there, cut them into batches the consumer accepts, and judge the consumer's answer (pure).

When a Kinesis event source mapping gives up on a batch it sends an invocation record to its on-failure
destination. For an SQS queue or SNS topic the record holds only where the batch was (Lambda developer guide,
"Retain discarded batch records for a Kinesis Data Streams event source"):

    {"requestContext": {"requestId", "functionArn", "condition", "approximateInvokeCount"},
     "responseContext": {"statusCode", "executedVersion", "functionError"},
     "version": "1.0", "timestamp",
     "KinesisBatchInfo": {"shardId", "startSequenceNumber", "endSequenceNumber",
                          "approximateArrivalOfFirstRecord", "approximateArrivalOfLastRecord",
                          "batchSize", "streamArn"}}

so the records must be read back from the stream before its retention trims them. An S3 destination also
stores the invocation's event; such a record carries it under ``payload`` and needs no read.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from shared.exceptions import Rejected

__all__ = [
    "DEFAULT_MAX_MESSAGES",
    "MAX_PAYLOAD_BYTES",
    "FailedBatch",
    "NotAFailureRecord",
    "Outcome",
    "Request",
    "Summary",
    "chunks",
    "gone",
    "judge_response",
    "parse_record",
    "parse_request",
    "take",
    "timing",
]

# Lambda's limit on a synchronous invocation's request payload is 6 MB; stay a little under it.
MAX_PAYLOAD_BYTES = 6_000_000
DEFAULT_MAX_MESSAGES = 100
MAX_MESSAGES = 1000  # a run reports each message; 1000 reports stay well under the 6 MB response limit
DEFAULT_VISIBILITY_S = 300

_LAMBDA_ARN = re.compile(
    r"arn:(?P<partition>aws[a-z-]*):lambda:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):function:"
    r"(?P<name>[A-Za-z0-9_-]{1,64})(?::(?P<qualifier>[A-Za-z0-9_$-]{1,128}))?"
).fullmatch
_STREAM_ARN = re.compile(
    r"arn:(?P<partition>aws[a-z-]*):kinesis:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):stream/"
    r"(?P<name>[A-Za-z0-9_.-]{1,128})"
).fullmatch
_SEQUENCE = re.compile(r"0|[1-9][0-9]{0,128}").fullmatch
_SHARD = re.compile(r"[A-Za-z0-9_.-]{1,128}").fullmatch
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]").fullmatch


class NotAFailureRecord(Exception):
    """A queue message that is not a Kinesis on-failure record; the message says what is wrong with it."""


@dataclass(frozen=True, slots=True)
class FailedBatch:
    """One on-failure record: the batch the mapping gave up on, and where it is in the stream."""

    request_id: str
    function_arn: str
    function_name: str
    condition: str
    invoke_count: int
    function_error: str | None
    timestamp: datetime
    shard_id: str
    start: str
    end: str
    first_arrival: datetime
    last_arrival: datetime
    batch_size: int
    stream_arn: str
    stream_name: str
    region: str
    payload: list[dict[str, Any]] | None = None  # the event's Records, when the destination stored them (S3)

    @property
    def range(self) -> str:
        return f"{self.stream_name} {self.shard_id} {self.start}..{self.end}"


def _field(obj: Mapping[str, Any], name: str, kind: type | tuple[type, ...], where: str) -> Any:
    if name not in obj:
        raise NotAFailureRecord(f"{where}.{name} is missing")
    value = obj[name]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise NotAFailureRecord(f"{where}.{name} must be {names}, got {type(value).__name__}")
    return value


def _time(obj: Mapping[str, Any], name: str, where: str) -> datetime:
    text = _field(obj, name, str, where)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as e:
        raise NotAFailureRecord(f"{where}.{name} is not an ISO 8601 timestamp: {text[:40]!r}") from e
    if parsed.tzinfo is None:
        raise NotAFailureRecord(f"{where}.{name} has no time zone: {text[:40]!r}")
    return parsed


def _sequence(obj: Mapping[str, Any], name: str) -> str:
    value: str = _field(obj, name, str, "KinesisBatchInfo")
    if not _SEQUENCE(value):
        raise NotAFailureRecord(f"KinesisBatchInfo.{name} is not a sequence number: {value[:40]!r}")
    return value


def _payload(value: Any) -> list[dict[str, Any]] | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as e:
            raise NotAFailureRecord(f"payload is not JSON: {e}") from e
    records = value.get("Records") if isinstance(value, Mapping) else None
    if not isinstance(records, list) or not all(isinstance(r, Mapping) and "kinesis" in r for r in records):
        raise NotAFailureRecord("payload must be the Lambda Kinesis event the batch was invoked with")
    return [dict(r) for r in records]


def parse_record(body: str | bytes | Mapping[str, Any]) -> FailedBatch:
    """A queue message's body (or an S3 object's text) -> the FailedBatch it names, or NotAFailureRecord.

    An SNS notification delivered to SQS without raw delivery is unwrapped first. Fields beyond the documented
    ones are ignored; every documented one must be there with its type, except that ``responseContext``'s
    ``executedVersion`` and ``functionError`` may be null (Lambda sends ``"functionError": null`` when the
    function answered but the batch still failed).
    """
    if isinstance(body, str | bytes):
        try:
            record = json.loads(body)
        except ValueError as e:
            raise NotAFailureRecord(f"not JSON: {e}") from e
    else:
        record = body
    if isinstance(record, Mapping) and record.get("Type") == "Notification" and isinstance(record.get("Message"), str):
        return parse_record(record["Message"])
    if not isinstance(record, Mapping):
        raise NotAFailureRecord(f"must be a JSON object, got {type(record).__name__}")
    if "KinesisBatchInfo" not in record:
        other = [k for k in record if isinstance(k, str) and k.endswith("BatchInfo")]
        if other:
            raise NotAFailureRecord(f"a record of another event source ({other[0]}), not of a Kinesis stream")
        if "requestPayload" in record:
            raise NotAFailureRecord("an asynchronous invocation record (requestPayload), not a stream batch")
    version = _field(record, "version", str, "record")
    if version != "1.0":
        raise NotAFailureRecord(f"record.version must be 1.0, got {version[:16]!r}")
    request = _field(record, "requestContext", Mapping, "record")
    response = _field(record, "responseContext", Mapping, "record")
    info = _field(record, "KinesisBatchInfo", Mapping, "record")
    function_arn = _field(request, "functionArn", str, "requestContext")
    arn = _LAMBDA_ARN(function_arn)
    if arn is None:
        raise NotAFailureRecord(f"requestContext.functionArn is not a Lambda function ARN: {function_arn[:120]!r}")
    _field(response, "statusCode", int, "responseContext")
    for name in ("executedVersion", "functionError"):
        if response.get(name) is not None and not isinstance(response[name], str):
            raise NotAFailureRecord(f"responseContext.{name} must be a string or null")
    stream_arn = _field(info, "streamArn", str, "KinesisBatchInfo")
    stream = _STREAM_ARN(stream_arn)
    if stream is None:
        raise NotAFailureRecord(f"KinesisBatchInfo.streamArn is not a Kinesis stream ARN: {stream_arn[:120]!r}")
    shard_id = _field(info, "shardId", str, "KinesisBatchInfo")
    if not _SHARD(shard_id):
        raise NotAFailureRecord(f"KinesisBatchInfo.shardId is not a shard id: {shard_id[:40]!r}")
    start, end = _sequence(info, "startSequenceNumber"), _sequence(info, "endSequenceNumber")
    if int(start) > int(end):
        raise NotAFailureRecord(f"KinesisBatchInfo: startSequenceNumber {start} is after endSequenceNumber {end}")
    batch_size = _field(info, "batchSize", int, "KinesisBatchInfo")
    if not 1 <= batch_size <= 10_000:
        raise NotAFailureRecord(f"KinesisBatchInfo.batchSize must be 1 to 10000, got {batch_size}")
    invoke_count = _field(request, "approximateInvokeCount", int, "requestContext")
    return FailedBatch(
        request_id=_field(request, "requestId", str, "requestContext"),
        function_arn=function_arn,
        function_name=arn["name"],
        condition=_field(request, "condition", str, "requestContext"),
        invoke_count=invoke_count,
        function_error=response.get("functionError"),
        timestamp=_time(record, "timestamp", "record"),
        shard_id=shard_id,
        start=start,
        end=end,
        first_arrival=_time(info, "approximateArrivalOfFirstRecord", "KinesisBatchInfo"),
        last_arrival=_time(info, "approximateArrivalOfLastRecord", "KinesisBatchInfo"),
        batch_size=batch_size,
        stream_arn=stream_arn,
        stream_name=stream["name"],
        region=stream["region"],
        payload=_payload(record.get("payload")),
    )


# --------------------------------------------------------------------------- the request


@dataclass(frozen=True, slots=True)
class Request:
    """Redrive the on-failure records of ``queue_url``, or of the objects of ``s3_bucket`` under ``s3_prefix``
    (at most ``max_messages`` of them), or the ``records`` given inline (copied from a queue, a topic's
    subscriber or an S3 object); ``dry_run`` only reports."""

    queue_url: str | None = None
    records: tuple[Any, ...] | None = None
    s3_bucket: str | None = None  # an S3 destination: its objects under s3_prefix, each one on-failure record
    s3_prefix: str = ""
    dry_run: bool = False
    max_messages: int = DEFAULT_MAX_MESSAGES
    batch_size: int | None = None  # at most this many records an invocation (otherwise: the failed batch's size)
    visibility_timeout_s: int = DEFAULT_VISIBILITY_S
    allow_partial: bool = False  # when the stream trimmed the start of a range, redrive the rest and delete


def _int(event: Mapping[str, Any], name: str, default: int | None, lo: int, hi: int) -> int | None:
    value = event.get(name, default)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise Rejected(400, f"{name} must be an integer from {lo} to {hi}, got {str(value)[:32]}")
    return value


def parse_request(event: Any) -> Request:
    """``{"queue_url": URL} | {"s3_bucket": NAME, "s3_prefix": P} | {"records": [record, ...]}``, with
    optional ``dry_run``, ``max_messages``, ``batch_size``, ``visibility_timeout_s`` and ``allow_partial``
    -> a checked Request."""
    if not isinstance(event, Mapping):
        raise Rejected(400, "the event must be a JSON object")
    unknown = set(event) - {
        "queue_url",
        "records",
        "dry_run",
        "max_messages",
        "batch_size",
        "visibility_timeout_s",
        "allow_partial",
        "s3_bucket",
        "s3_prefix",
    }
    if unknown:
        raise Rejected(400, f"unknown field(s): {', '.join(sorted(map(str, unknown)))}")
    queue, records, bucket = event.get("queue_url"), event.get("records"), event.get("s3_bucket")
    if sum(x is not None for x in (queue, records, bucket)) != 1:
        raise Rejected(
            400,
            'give one of "queue_url" (the on-failure queue), "s3_bucket" (an S3 destination) '
            'or "records" (on-failure records)',
        )
    if bucket is not None and (not isinstance(bucket, str) or not _BUCKET(bucket)):
        raise Rejected(400, f"s3_bucket must be a bucket name, got {str(bucket)[:80]!r}")
    prefix = event.get("s3_prefix", "")
    if not isinstance(prefix, str) or len(prefix) > 1024:
        raise Rejected(400, "s3_prefix must be a string of at most 1024 characters")
    if prefix and bucket is None:
        raise Rejected(400, "s3_prefix goes with s3_bucket")
    if queue is not None and (not isinstance(queue, str) or not queue.startswith(("https://", "http://"))):
        raise Rejected(400, f"queue_url must be the queue's URL, got {str(queue)[:80]!r}")
    if records is not None and (not isinstance(records, list) or not records):
        raise Rejected(400, "records must be a non-empty list of on-failure records")
    flags = {name: event.get(name, False) for name in ("dry_run", "allow_partial")}
    for name, value in flags.items():
        if not isinstance(value, bool):
            raise Rejected(400, f"{name} must be true or false, got {type(value).__name__}")
    return Request(
        queue_url=queue,
        records=tuple(records) if records is not None else None,
        s3_bucket=bucket,
        s3_prefix=prefix,
        dry_run=flags["dry_run"],
        allow_partial=flags["allow_partial"],
        max_messages=_int(event, "max_messages", DEFAULT_MAX_MESSAGES, 1, MAX_MESSAGES) or DEFAULT_MAX_MESSAGES,
        batch_size=_int(event, "batch_size", None, 1, 10_000),
        visibility_timeout_s=_int(event, "visibility_timeout_s", DEFAULT_VISIBILITY_S, 1, 43_200)
        or DEFAULT_VISIBILITY_S,
    )


# --------------------------------------------------------------------------- reading the range back


_Record = TypeVar("_Record", bound=Mapping[str, Any])


def take(batch: FailedBatch, records: Sequence[_Record]) -> tuple[list[_Record], bool]:
    """The records of one GetRecords answer that belong to the batch, and whether the batch's end was reached
    (a record at or past endSequenceNumber). Records before startSequenceNumber are not the batch's either."""
    start, end = int(batch.start), int(batch.end)
    mine: list[_Record] = []
    done = False
    for record in records:
        seq = int(record["SequenceNumber"])
        if seq > end:
            done = True
            break
        if seq >= start:
            mine.append(record)
        if seq == end:
            done = True
            break
    return mine, done


def gone(batch: FailedBatch, first_read: str | None, *, reached_tip: bool) -> str | None:
    """Why the batch's records are (partly) no longer in the stream, naming the range, or None when they are.

    Reading AT_SEQUENCE_NUMBER startSequenceNumber, the first record must be the batch's first: a later one means
    the stream has trimmed what came before it (retention), nothing at all means it trimmed the whole range.
    """
    if first_read is None:
        if reached_tip:
            return f"records {batch.start} to {batch.end} of {batch.shard_id} are gone from the stream (trimmed)"
        return None
    first = int(first_read)
    if first <= int(batch.start):
        return None
    if first > int(batch.end):
        return f"records {batch.start} to {batch.end} of {batch.shard_id} are gone from the stream (trimmed)"
    return (
        f"records {batch.start} up to {first_read} (not included) of {batch.shard_id} are gone from the stream "
        f"(trimmed); {first_read} to {batch.end} are still there"
    )


def timing(batch: FailedBatch, *, now: float, retention_hours: int | None) -> dict[str, Any]:
    """How old the batch's records are and how long the stream keeps them still (negative: past retention)."""
    age = now - batch.first_arrival.timestamp()
    out: dict[str, Any] = {"age_s": round(age, 1)}
    if retention_hours is not None:
        left = retention_hours * 3600 - age
        out.update(expires_in_s=round(left, 1), within_retention=left > 0)
    return out


def chunks(
    records: Sequence[dict[str, Any]], *, max_records: int, max_bytes: int = MAX_PAYLOAD_BYTES
) -> list[list[dict[str, Any]]]:
    """Lambda Kinesis event records, in order, cut into invocations of at most ``max_records`` records and at
    most ``max_bytes`` of event JSON (as json.dumps with compact separators writes it)."""
    envelope = len('{"Records":[]}')
    out: list[list[dict[str, Any]]] = []
    current: list[dict[str, Any]] = []
    size = envelope
    for record in records:
        length = len(json.dumps(record, separators=(",", ":")))
        if length + envelope > max_bytes:
            raise ValueError(f"record {record.get('kinesis', {}).get('sequenceNumber')} alone is over {max_bytes} B")
        added = length + (1 if current else 0)
        if current and (len(current) >= max_records or size + added > max_bytes):
            out.append(current)
            current, size, added = [], envelope, length
        current.append(record)
        size += added
    if current:
        out.append(current)
    return out


# --------------------------------------------------------------------------- the consumer's answer


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one invocation of the consumer did. Counts are None when its response does not carry them."""

    ok: bool
    reason: str | None = None
    rows_written: int | None = None
    duplicates: int | None = None
    dead_letters: int | None = None


def _count(response: Mapping[str, Any], name: str) -> int | None:
    value = response.get(name)
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def judge_response(payload: Any, function_error: str | None) -> Outcome:
    """Success as the event source mapping sees it: no function error, and no batchItemFailures.

    The counts are read when the consumer returns them (``rowsWritten``, ``duplicatesSkipped``,
    ``deadLetters``, its Outcome), and are otherwise unknown.
    """
    if function_error:
        detail = payload.get("errorMessage") if isinstance(payload, Mapping) else None
        return Outcome(False, f"the function failed ({function_error}): {str(detail or payload)[:300]}")
    if not isinstance(payload, Mapping):
        return Outcome(True)
    failures = payload.get("batchItemFailures") or []
    if failures:
        first = failures[0].get("itemIdentifier") if isinstance(failures[0], Mapping) else failures[0]
        return Outcome(False, f"the function reported {len(failures)} failed record(s), the first {first}")
    return Outcome(
        True,
        rows_written=_count(payload, "rowsWritten"),
        duplicates=_count(payload, "duplicatesSkipped"),
        dead_letters=_count(payload, "deadLetters"),
    )


# --------------------------------------------------------------------------- the summary

REPEAT_NOTE = (
    "a message is deleted only after the consumer took all of its records; a run interrupted before that "
    "delivers them again, which is harmless: the sink skips an event_id it already holds"
)


@dataclass
class Summary:
    """What a run did, message by message and in total."""

    dry_run: bool = False
    messages_read: int = 0
    redriven: int = 0
    kept: int = 0
    not_failure_records: int = 0
    expired: int = 0
    failed: int = 0
    records_fetched: int = 0
    records_delivered: int = 0
    invocations: int = 0
    rows_written: int | None = 0
    duplicates: int | None = 0
    dead_letters: int | None = 0
    messages: list[dict[str, Any]] = field(default_factory=list)

    def delivered(self, count: int, outcome: Outcome) -> None:
        self.invocations += 1
        self.records_delivered += count
        for name in ("rows_written", "duplicates", "dead_letters"):
            mine, theirs = getattr(self, name), getattr(outcome, name)
            setattr(self, name, None if mine is None or theirs is None else mine + theirs)

    def report(self) -> dict[str, Any]:
        def known(value: int | None) -> int | str:
            return "unknown" if value is None else value

        return {
            "dry_run": self.dry_run,
            "messages_read": self.messages_read,
            "redriven": self.redriven,
            "kept": self.kept,
            "not_failure_records": self.not_failure_records,
            "expired": self.expired,
            "failed": self.failed,
            "records_fetched": self.records_fetched,
            "records_delivered": self.records_delivered,
            "invocations": self.invocations,
            "rows_written": known(self.rows_written),
            "duplicates": known(self.duplicates),
            "dead_letters": known(self.dead_letters),
            "note": REPEAT_NOTE,
            "messages": self.messages,
        }
