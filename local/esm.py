"""An event source mapping emulator: polls every shard of a stream and calls a handler like Lambda does.

Semantics followed (AWS Lambda, Kinesis event source; the conformance suite in test/conformance/ names
the documentation page of each):

- batches of at most ``batch_size`` records and at most 6 MB of invocation payload, gathered for up to
  ``window_s``; with ``parallelization`` N, the records of a shard go to N lanes by partition key, so
  one key's records stay in order and are never in two batches at once; with ``concurrent`` (a handler
  safe to call from threads) up to N batches of one shard are in flight at once;
- the checkpoint moves only past records that are handled (succeeded, filtered out or given up on);
- ``filters`` (FilterCriteria): records no filter matches are not delivered, but checkpointed and counted;
- ReportBatchItemFailures: the batch resumes at the lowest failed sequence number; an empty or null
  list is a success; an empty, null, wrongly keyed or unknown ``itemIdentifier`` fails the whole batch;
- a function error bisects the batch (when ``bisect``; splitting uses no retry, each half has its own);
- ``max_retries`` retries (-1: until the record expires), waiting ``retry_delay_s`` doubled each retry
  (capped at ``retry_delay_max_s``); records older than ``max_record_age_s`` (-1: the stream's
  retention) are not invoked again; then an on-failure record goes to ``destination`` (an SQS queue,
  SNS topic or S3 bucket ARN) and to the ``on_failure`` callback, and the records are skipped;
- tumbling windows (``tumbling_window_s``): state passed between the invocations of a window, a final
  invocation when the window ends, early (``isWindowTerminatedEarly``) when the state passes 1 MB;
- resharding: a child shard is read only once its parents are read to their end;
- ``disable()`` stops at once without moving the checkpoint; ``enable()`` resumes from it;
- metrics as EMF lines: PolledEventCount, FilteredOutEventCount, InvokedEventCount,
  FailedInvokeEventCount, DroppedEventCount, OnFailureDestinationDeliveredEventCount, IteratorAge.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from local.lambda_events import kinesis_record
from shared.observability import metrics_line

__all__ = [
    "PAYLOAD_LIMIT",
    "SHARD_END",
    "STATE_LIMIT",
    "Checkpoints",
    "EventSourceMapping",
    "LambdaContext",
    "MappingConfig",
    "matches",
    "parse_filters",
]

Handler = Callable[[dict[str, Any], Any], Any]

PAYLOAD_LIMIT = 6 * 1024 * 1024  # Lambda's synchronous invocation payload quota
STATE_LIMIT = 1024 * 1024  # a tumbling window's state
SHARD_END = "SHARD_END"  # the checkpoint of a shard read to its end
STARTING_POSITIONS = ("TRIM_HORIZON", "LATEST", "AT_TIMESTAMP")


@dataclass
class MappingConfig:
    """An event source mapping's settings, as CreateEventSourceMapping takes them.

    ``retry_delay_s`` and ``retry_delay_max_s`` are local: Lambda does not document its backoff.
    The defaults of ``max_retries``, ``bisect`` and ``report_item_failures`` are this project's, not the
    API's (-1, false, none).
    """

    batch_size: int = 100  # BatchSize
    window_s: float = 0.0  # MaximumBatchingWindowInSeconds
    max_retries: int = 3  # MaximumRetryAttempts, -1: until the record expires
    bisect: bool = True  # BisectBatchOnFunctionError
    report_item_failures: bool = True  # FunctionResponseTypes = ["ReportBatchItemFailures"]
    retry_delay_s: float = 0.0  # the first retry's wait; doubled at each retry
    tumbling_window_s: int = 0  # TumblingWindowInSeconds, 0: no tumbling windows
    max_record_age_s: int = -1  # MaximumRecordAgeInSeconds, -1: the stream's retention
    parallelization: int = 1  # ParallelizationFactor
    starting_position: str = "TRIM_HORIZON"  # StartingPosition
    starting_timestamp: float | None = None  # StartingPositionTimestamp (AT_TIMESTAMP), Unix seconds
    filters: Sequence[Any] = ()  # FilterCriteria.Filters[].Pattern, JSON strings or dicts, at most 5
    destination: str | None = None  # DestinationConfig.OnFailure.Destination
    retry_delay_max_s: float = 30.0

    def validate(self) -> None:
        """ValueError naming every setting CreateEventSourceMapping would refuse."""
        problems = []
        if not 1 <= self.batch_size <= 10_000:
            problems.append(f"batch_size must be 1..10000, got {self.batch_size}")
        if not 0 <= self.window_s <= 300:
            problems.append(f"window_s must be 0..300, got {self.window_s}")
        if not -1 <= self.max_retries <= 10_000:
            problems.append(f"max_retries must be -1..10000, got {self.max_retries}")
        if self.max_record_age_s != -1 and not 60 <= self.max_record_age_s <= 604_800:
            problems.append(f"max_record_age_s must be -1 or 60..604800, got {self.max_record_age_s}")
        if not 1 <= self.parallelization <= 10:
            problems.append(f"parallelization must be 1..10, got {self.parallelization}")
        if not 0 <= self.tumbling_window_s <= 900:
            problems.append(f"tumbling_window_s must be 0..900, got {self.tumbling_window_s}")
        if self.starting_position not in STARTING_POSITIONS:
            problems.append(f"starting_position must be one of {', '.join(STARTING_POSITIONS)}")
        if (self.starting_position == "AT_TIMESTAMP") != (self.starting_timestamp is not None):
            problems.append("starting_timestamp is required with AT_TIMESTAMP, and only with it")
        if self.destination is not None and self.destination.split(":")[2:3] not in (["sqs"], ["sns"], ["s3"]):
            problems.append(f"destination must be an SQS queue, SNS topic or S3 bucket ARN, got {self.destination!r}")
        try:
            parse_filters(self.filters)
        except ValueError as e:
            problems.append(str(e))
        if problems:
            raise ValueError("; ".join(problems))


# ---------------------------------------------------------------------------------------- filtering


def parse_filters(filters: Sequence[Any]) -> list[dict[str, Any]]:
    """FilterCriteria patterns as dicts; ValueError on more than 5, on non-JSON or an unknown rule."""
    if len(filters) > 5:
        raise ValueError(f"at most 5 filters per mapping, got {len(filters)}")
    out = []
    for n, f in enumerate(filters):
        pattern = f
        if isinstance(f, str):
            try:
                pattern = json.loads(f)
            except ValueError as e:
                raise ValueError(f"filter #{n} is not JSON: {e}") from None
        if not isinstance(pattern, dict) or not pattern:
            raise ValueError(f"filter #{n} must be a non-empty JSON object, got {f!r}")
        _check_pattern(pattern, f"filter #{n}")
        out.append(pattern)
    return out


_RULES = {"prefix", "suffix", "equals-ignore-case", "anything-but", "numeric", "exists"}
_NUMERIC = {"=", "<", "<=", ">", ">="}


def _check_pattern(pattern: dict[str, Any], where: str) -> None:
    for key, value in pattern.items():
        if isinstance(value, dict):
            _check_pattern(value, f"{where}.{key}")
        elif isinstance(value, list) and value:
            for rule in value:
                if isinstance(rule, dict):
                    unknown = set(rule) - _RULES
                    if unknown or len(rule) != 1:
                        raise ValueError(f"{where}.{key}: unknown or mixed rule {rule!r}")
                    if "numeric" in rule:
                        ops = rule["numeric"]
                        if (
                            not isinstance(ops, list)
                            or len(ops) not in (2, 4)
                            or any(o not in _NUMERIC for o in ops[::2])
                        ):
                            raise ValueError(f"{where}.{key}: numeric takes [op, n] or [op, n, op, n], got {ops!r}")
        else:
            raise ValueError(f"{where}.{key}: a filter value must be a non-empty list or an object, got {value!r}")


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _rule_matches(rule: Any, value: Any, present: bool) -> bool:
    if rule is None:  # null matches a key that is there with a null value
        return present and value is None
    if not isinstance(rule, dict):  # an exact value: a string matches a string, a number a number
        return present and value == rule and _is_number(value) == _is_number(rule) and type(value) is not bool
    ((name, arg),) = rule.items()
    if name == "exists":
        return present is bool(arg)
    if not present:
        return False
    if name == "prefix":
        return isinstance(value, str) and value.startswith(arg)
    if name == "suffix":
        return isinstance(value, str) and value.endswith(arg)
    if name == "equals-ignore-case":
        return isinstance(value, str) and value.lower() == str(arg).lower()
    if name == "anything-but":
        if isinstance(arg, dict):
            return not _rule_matches(arg, value, present)
        excluded = arg if isinstance(arg, list) else [arg]
        return value not in excluded
    if name == "numeric":
        if not _is_number(value):
            return False
        for op, bound in zip(arg[::2], arg[1::2], strict=True):
            ok = {
                "=": value == bound,
                "<": value < bound,
                "<=": value <= bound,
                ">": value > bound,
                ">=": value >= bound,
            }
            if not ok[op]:
                return False
        return True
    return False


def _pattern_matches(pattern: dict[str, Any], doc: Any) -> bool:
    if not isinstance(doc, dict):
        return False
    for key, rules in pattern.items():
        present = key in doc
        value = doc.get(key)
        if isinstance(rules, dict):
            if not present or not _pattern_matches(rules, value):
                return False
            continue
        values = value if isinstance(value, list) and present else [value]
        if not any(_rule_matches(rule, v, present) for rule in rules for v in values):
            return False
    return True


def matches(patterns: Sequence[dict[str, Any]], record: dict[str, Any]) -> bool:
    """Whether a Kinesis record (``kinesis`` part of the event record) passes the filters (any of them).

    ``data`` is matched as JSON: a record whose data is not a JSON object matches no filter on ``data``.
    """
    if not patterns:
        return True
    doc = {k: v for k, v in record.items() if k != "data"}
    try:
        data = json.loads(base64.b64decode(record["data"]))
    except (ValueError, UnicodeDecodeError):
        data = None
    if isinstance(data, dict):
        doc["data"] = data
    return any(_pattern_matches(p, doc) for p in patterns)


# ---------------------------------------------------------------------------------------- state


class LambdaContext:
    """The parts of Lambda's context object handlers use."""

    def __init__(self, function_name: str, timeout_s: float = 60.0) -> None:
        self.function_name = function_name
        self.aws_request_id = str(uuid.uuid4())
        self.memory_limit_in_mb = 512
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class Checkpoints:
    """The last handled sequence number per shard; in a JSON file when given one, so a restart resumes."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self._data: dict[str, str] = json.loads(path.read_text()) if path and path.exists() else {}
        self._lock = threading.Lock()

    def get(self, shard_id: str) -> str | None:
        return self._data.get(shard_id)

    def set(self, shard_id: str, sequence_number: str) -> None:
        with self._lock:
            self._data[shard_id] = sequence_number
            if self.path is not None:
                tmp = self.path.with_suffix(".tmp")
                tmp.write_text(json.dumps(self._data))
                tmp.replace(self.path)


class _Progress:
    """Which of a fetched run of records are handled; the checkpoint follows the handled prefix."""

    def __init__(self, checkpoints: Checkpoints, shard_id: str, records: Sequence[dict[str, Any]]) -> None:
        self.checkpoints, self.shard_id = checkpoints, shard_id
        self.order = [r["SequenceNumber"] for r in records]
        self.handled: set[str] = set()
        self.next = 0
        self.lock = threading.Lock()

    def done(self, records: Sequence[dict[str, Any]]) -> None:
        with self.lock:
            self.handled.update(r["SequenceNumber"] for r in records)
            moved = False
            while self.next < len(self.order) and self.order[self.next] in self.handled:
                self.next += 1
                moved = True
            if moved:
                self.checkpoints.set(self.shard_id, self.order[self.next - 1])

    @property
    def complete(self) -> bool:
        return self.next == len(self.order)


@dataclass
class _Pending:
    records: list[dict[str, Any]]
    attempts: int = 0  # invocations of this batch so far


@dataclass
class EventSourceMapping:
    kinesis: Any
    stream_name: str
    function_name: str
    handler: Handler
    config: MappingConfig = field(default_factory=MappingConfig)
    checkpoints: Checkpoints = field(default_factory=Checkpoints)
    on_failure: Callable[[dict[str, Any]], None] | None = None  # called with each on-failure record too
    region: str = "us-east-1"
    clients: Callable[[str], Any] | None = None  # service name -> boto3 client, for the destination
    clock: Callable[[], float] = time.time  # the wall clock: record ages, windows, LATEST
    sleep: Callable[[float], None] | None = None  # the backoff's wait; default: interrupted by disable()
    metrics_out: Any = None  # where EMF lines go (a file); default: sys.stdout at the time of writing
    timeout_s: float = 60.0  # the function's timeout: each invocation's context counts down from it
    # Lambda runs the concurrent batches of ParallelizationFactor in separate execution environments. One
    # process cannot: a handler module's clients and database connection are shared by its threads. So
    # the lanes' batches are invoked one at a time unless the handler is safe to call from threads.
    concurrent: bool = False
    invocations: int = 0
    windows: dict[str, dict[str, Any]] = field(default_factory=dict)  # shard -> {"start": s, "state": {}}

    def __post_init__(self) -> None:
        self.config.validate()
        description = self.kinesis.describe_stream_summary(StreamName=self.stream_name)["StreamDescriptionSummary"]
        self.stream_arn: str = description["StreamARN"]
        self.retention_s: int = int(description.get("RetentionPeriodHours", 24)) * 3600
        self.uuid = str(uuid.uuid4())
        account = self.stream_arn.split(":")[4]
        self.function_arn = f"arn:aws:lambda:{self.region}:{account}:function:{self.function_name}"
        self.totals: Counter[str] = Counter()
        self.enabled = True
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._iterators: dict[str, str | None] = {}
        self._filters = parse_filters(self.config.filters)
        self.created_at = self.clock()
        self._latest: dict[str, str] = {}
        self._clients: dict[str, Any] = {}
        self._deadline: float | None = None  # set by drain(): a retry loop stops there
        if self.config.starting_position == "LATEST":
            for shard in self._shard_list():
                args = {"StreamName": self.stream_name, "ShardId": shard["ShardId"], "ShardIteratorType": "LATEST"}
                self._latest[shard["ShardId"]] = self.kinesis.get_shard_iterator(**args)["ShardIterator"]

    # ------------------------------------------------------------------ control

    def disable(self) -> None:
        """Stop delivering at once (a retry in progress is abandoned, its records not checkpointed)."""
        self.enabled = False
        self._wake.set()

    def _stopping(self) -> bool:
        return not self.enabled or (self._deadline is not None and time.monotonic() > self._deadline)

    def enable(self) -> None:
        """Deliver again, from the checkpoint."""
        self._iterators.clear()
        self._wake.clear()
        self.enabled = True

    # ------------------------------------------------------------------ metrics

    def _metric(self, **counts: float) -> None:
        with self._lock:
            for name, value in counts.items():
                if name != "IteratorAge":
                    self.totals[name] += int(value)
        line = json.loads(metrics_line(f"esm/{self.function_name}", counts, timestamp_ms=int(self.clock() * 1000)))
        for metric in line["_aws"]["CloudWatchMetrics"][0]["Metrics"]:
            if metric["Name"] == "IteratorAge":
                metric["Unit"] = "Milliseconds"
        line["EventSourceMappingUUID"] = self.uuid
        out = self.metrics_out or sys.stdout
        out.write(json.dumps(line, separators=(",", ":")) + "\n")
        out.flush()

    # ------------------------------------------------------------------ reading

    def _shard_list(self) -> list[dict[str, Any]]:
        shards: list[dict[str, Any]] = []
        args: dict[str, Any] = {"StreamName": self.stream_name}
        while True:
            response = self.kinesis.list_shards(**args)
            shards += response["Shards"]
            if not response.get("NextToken"):
                return shards
            args = {"NextToken": response["NextToken"]}

    def _shards(self) -> list[str]:
        """The shards to read now: a child only once every parent still listed is read to its end."""
        shards = self._shard_list()
        listed = {s["ShardId"] for s in shards}
        ready = []
        for s in shards:
            parents = [str(p) for p in (s.get("ParentShardId"), s.get("AdjacentParentShardId")) if p in listed]
            if self.checkpoints.get(s["ShardId"]) != SHARD_END and all(
                self.checkpoints.get(p) == SHARD_END for p in parents
            ):
                ready.append(s["ShardId"])
        return ready

    def _iterator(self, shard_id: str) -> str | None:
        if shard_id in self._iterators:
            return self._iterators[shard_id]
        after = self.checkpoints.get(shard_id)
        args: dict[str, Any] = {"StreamName": self.stream_name, "ShardId": shard_id}
        if after == SHARD_END:
            return None
        if after:
            args.update(ShardIteratorType="AFTER_SEQUENCE_NUMBER", StartingSequenceNumber=after)
        elif shard_id in self._latest:
            return self._latest.pop(shard_id)
        elif self.config.starting_position == "AT_TIMESTAMP":
            args.update(
                ShardIteratorType="AT_TIMESTAMP",
                Timestamp=datetime.fromtimestamp(self.config.starting_timestamp or 0, UTC),
            )
        elif self.config.starting_position == "LATEST" and not self._is_child(shard_id):
            # A shard listed only now, or an expired iterator: what arrived since the mapping was created.
            args.update(ShardIteratorType="AT_TIMESTAMP", Timestamp=datetime.fromtimestamp(self.created_at, UTC))
        else:
            args["ShardIteratorType"] = "TRIM_HORIZON"  # a child shard is read from its start
        return str(self.kinesis.get_shard_iterator(**args)["ShardIterator"])

    def _is_child(self, shard_id: str) -> bool:
        for s in self._shard_list():
            if s["ShardId"] == shard_id:
                return bool(s.get("ParentShardId"))
        return False

    def _get_records(self, shard_id: str, iterator: str, limit: int) -> dict[str, Any]:
        try:
            return dict(self.kinesis.get_records(ShardIterator=iterator, Limit=limit))
        except self.kinesis.exceptions.ExpiredIteratorException:
            self._iterators.pop(shard_id, None)
            return dict(self.kinesis.get_records(ShardIterator=self._iterator(shard_id), Limit=limit))

    def _fetch(self, shard_id: str) -> tuple[list[dict[str, Any]], bool]:
        """Records after the shard's position (up to batch_size per lane, for up to window_s) and whether
        the shard has ended."""
        iterator = self._iterator(shard_id)
        records: list[dict[str, Any]] = []
        want = min(10_000, self.config.batch_size * self._lanes())
        size = 0
        deadline = time.monotonic() + self.config.window_s
        ended = iterator is None
        while iterator and len(records) < want and size < PAYLOAD_LIMIT * self._lanes():
            response = self._get_records(shard_id, iterator, want - len(records))
            records += response["Records"]
            size += sum(len(r["Data"]) * 4 // 3 + 400 for r in response["Records"])
            iterator = response.get("NextShardIterator")
            if iterator is None:
                ended = True
                break
            if not response["Records"]:
                if time.monotonic() >= deadline:
                    break
                time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))
        self._iterators[shard_id] = iterator
        return records, ended

    def _lanes(self) -> int:
        return 1 if self.config.tumbling_window_s else self.config.parallelization

    # ------------------------------------------------------------------ events

    def _event_record(self, shard_id: str, r: dict[str, Any]) -> dict[str, Any]:
        arrival = r.get("ApproximateArrivalTimestamp")
        return kinesis_record(
            data=r["Data"],
            partition_key=r["PartitionKey"],
            sequence_number=r["SequenceNumber"],
            shard_id=shard_id,
            stream_arn=self.stream_arn,
            region=self.region,
            arrival=arrival.timestamp() if arrival else self.clock(),
            function_name=self.function_name,
        )

    def _event(self, shard_id: str, records: list[dict[str, Any]]) -> dict[str, Any]:
        event: dict[str, Any] = {"Records": [self._event_record(shard_id, r) for r in records]}
        window = self.windows.get(shard_id)
        if self.config.tumbling_window_s and window is not None:
            event.update(self._window_fields(shard_id, window, final=False))
        return event

    def _batches(self, shard_id: str, records: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
        """Consecutive batches of at most batch_size records and at most PAYLOAD_LIMIT bytes of event."""
        batches: list[list[dict[str, Any]]] = []
        current: list[dict[str, Any]] = []
        size = len(json.dumps({"Records": []}))
        for r in records:
            one = len(json.dumps(self._event_record(shard_id, r))) + 2
            if current and (len(current) >= self.config.batch_size or size + one > PAYLOAD_LIMIT):
                batches.append(current)
                current, size = [], len(json.dumps({"Records": []}))
            current.append(r)
            size += one
        if current:
            batches.append(current)
        return batches

    # ------------------------------------------------------------------ tumbling windows

    def _window_fields(
        self, shard_id: str, window: dict[str, Any], *, final: bool, early: bool = False
    ) -> dict[str, Any]:
        def iso(ts: float) -> str:
            return datetime.fromtimestamp(ts, tz=UTC).isoformat().replace("+00:00", "Z")

        start = window["start"]
        return {
            "window": {"start": iso(start), "end": iso(start + self.config.tumbling_window_s)},
            "state": window["state"],
            "shardId": shard_id,
            "eventSourceARN": self.stream_arn,
            "isFinalInvokeForWindow": final,
            "isWindowTerminatedEarly": early,
        }

    def _window_start(self, record: dict[str, Any]) -> float:
        arrival = record.get("ApproximateArrivalTimestamp")
        ts = arrival.timestamp() if arrival else self.clock()
        size = self.config.tumbling_window_s
        return float(int(ts // size) * size)

    def close_window(self, shard_id: str, *, early: bool = False) -> None:
        """The final invocation of the shard's open window (retried like a batch), then forget its state."""
        window = self.windows.get(shard_id)
        if window is None:
            return
        event = {"Records": [], **self._window_fields(shard_id, window, final=True, early=early)}
        attempts = 0
        while True:
            self.invocations += 1
            attempts += 1
            try:
                self.handler(event, LambdaContext(self.function_name, self.timeout_s))
                break
            except Exception:  # the function failed its final invocation: retried like any batch
                if 0 <= self.config.max_retries < attempts or self._stopping():
                    break
                self._backoff(attempts)
        self.windows.pop(shard_id, None)

    def close_windows(self, now: float | None = None) -> None:
        """Close every window whose end has passed (all of them when ``now`` is None)."""
        for shard_id, window in list(self.windows.items()):
            if now is None or window["start"] + self.config.tumbling_window_s <= now:
                self.close_window(shard_id)

    def _deliver_windowed(self, shard_id: str, records: list[dict[str, Any]], progress: _Progress) -> None:
        groups: dict[float, list[dict[str, Any]]] = {}
        for record in records:
            groups.setdefault(self._window_start(record), []).append(record)
        for start in sorted(groups):
            open_window = self.windows.get(shard_id)
            if open_window is not None and open_window["start"] != start:
                self.close_window(shard_id)
            for batch in self._batches(shard_id, groups[start]):
                self.windows.setdefault(shard_id, {"start": start, "state": {}})
                if not self._run(shard_id, batch, progress):
                    return

    # ------------------------------------------------------------------ delivering

    def _failed_index(self, records: list[dict[str, Any]], response: Any) -> int | None:
        """Index of the first record to retry, or None when the batch succeeded."""
        if not self.config.report_item_failures or not isinstance(response, dict):
            return None
        failures = response.get("batchItemFailures")
        if failures is None or failures == []:
            return None
        if not isinstance(failures, list):
            return 0
        sequence = [r["SequenceNumber"] for r in records]
        ids = [f.get("itemIdentifier") if isinstance(f, dict) else None for f in failures]
        if any(not isinstance(i, str) or i not in sequence for i in ids):
            return 0  # an empty, null, wrongly keyed or unknown identifier fails the whole batch
        return min(sequence.index(i) for i in ids)

    def _backoff(self, attempts: int) -> None:
        """Wait before retry number ``attempts``: retry_delay_s, doubled each time, capped."""
        delay = min(self.config.retry_delay_max_s, self.config.retry_delay_s * 2 ** (attempts - 1))
        if delay <= 0:
            return
        if self.sleep is not None:
            self.sleep(delay)
        else:
            self._wake.wait(delay)

    def _max_age_s(self) -> int:
        return self.config.max_record_age_s if self.config.max_record_age_s != -1 else self.retention_s

    def _age_s(self, record: dict[str, Any]) -> float:
        arrival = record.get("ApproximateArrivalTimestamp")
        return self.clock() - arrival.timestamp() if arrival else 0.0

    def deliver(self, shard_id: str, records: list[dict[str, Any]]) -> None:
        """Deliver ``records`` of ``shard_id`` as one lane, retrying as configured, checkpointing as it goes."""
        progress = _Progress(self.checkpoints, shard_id, records)
        for batch in self._batches(shard_id, records):
            if not self._run(shard_id, batch, progress):
                return

    def _run(self, shard_id: str, records: list[dict[str, Any]], progress: _Progress) -> bool:
        """Invoke until the batch is handled; False when the mapping was disabled in the middle."""
        queue = [_Pending(records)]
        last: dict[str, Any] = {}
        while queue:
            if self._stopping():
                return False
            pending = queue[0]
            expired = [r for r in pending.records if self._age_s(r) > self._max_age_s()]
            if expired:
                # Records are in arrival order: the expired ones come first.
                pending.records = pending.records[len(expired) :]
                self._give_up(shard_id, expired, "RecordAgeExceeded", pending.attempts, last)
                progress.done(expired)
                if not pending.records:
                    queue.pop(0)
                    continue
            if pending.attempts:
                self._backoff(pending.attempts)
                if self._stopping():
                    return False
            event = self._event(shard_id, pending.records)
            with self._lock:
                self.invocations += 1
            pending.attempts += 1
            newest = pending.records[-1].get("ApproximateArrivalTimestamp")
            age_ms = int((self.clock() - newest.timestamp()) * 1000) if newest else 0
            errored, response = False, None
            try:
                response = self.handler(event, LambdaContext(self.function_name, self.timeout_s))
                failed = self._failed_index(pending.records, response)
            except Exception:  # any function error: Lambda retries the batch
                errored, failed = True, 0
            last = {"errored": errored, "event": event}
            failed_count = 0 if failed is None else len(pending.records) - failed
            self._metric(
                InvokedEventCount=len(pending.records), FailedInvokeEventCount=failed_count, IteratorAge=age_ms
            )
            if failed is None:
                progress.done(pending.records)
                if shard_id in self.windows and isinstance(response, dict):
                    self._keep_state(shard_id, response)
                queue.pop(0)
                continue
            progress.done(pending.records[:failed])
            remainder = pending.records[failed:]
            if errored and self.config.bisect and len(remainder) > 1:
                # Splitting is not a retry: each half gets its own tries, so only the poison runs out of them.
                half = len(remainder) // 2
                queue[0:1] = [_Pending(remainder[:half]), _Pending(remainder[half:])]
                continue
            if 0 <= self.config.max_retries < pending.attempts:
                self._give_up(shard_id, remainder, "RetryAttemptsExhausted", pending.attempts, last)
                progress.done(remainder)
                queue.pop(0)
                continue
            queue[0] = _Pending(remainder, pending.attempts)
        return True

    def _keep_state(self, shard_id: str, response: dict[str, Any]) -> None:
        # A response without "state" leaves the window with an empty state: Lambda passes on what the
        # function returned, and it returned none.
        state = response.get("state") or {}
        self.windows[shard_id]["state"] = state
        if len(json.dumps(state).encode()) > STATE_LIMIT:
            self.close_window(shard_id, early=True)

    # ------------------------------------------------------------------ on failure

    def failure_record(
        self, shard_id: str, records: list[dict[str, Any]], condition: str, attempts: int, last: dict[str, Any]
    ) -> dict[str, Any]:
        """The invocation record Lambda sends to an on-failure destination (metadata, not the data)."""

        def iso(r: dict[str, Any]) -> str:
            arrival = r.get("ApproximateArrivalTimestamp")
            ts = arrival.timestamp() if arrival else self.clock()
            return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")

        response: dict[str, Any] = {"statusCode": 200, "executedVersion": "$LATEST"}
        if last.get("errored"):
            response["functionError"] = "Unhandled"
        now = datetime.fromtimestamp(self.clock(), UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        return {
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "functionArn": self.function_arn,
                "condition": condition,
                "approximateInvokeCount": attempts,
            },
            "responseContext": response,
            "version": "1.0",
            "timestamp": now,
            "KinesisBatchInfo": {
                "shardId": shard_id,
                "startSequenceNumber": records[0]["SequenceNumber"],
                "endSequenceNumber": records[-1]["SequenceNumber"],
                "approximateArrivalOfFirstRecord": iso(records[0]),
                "approximateArrivalOfLastRecord": iso(records[-1]),
                "batchSize": len(records),
                "streamArn": self.stream_arn,
            },
        }

    def _give_up(
        self, shard_id: str, records: list[dict[str, Any]], condition: str, attempts: int, last: dict[str, Any]
    ) -> None:
        record = self.failure_record(shard_id, records, condition, attempts, last)
        delivered = 0
        if self.config.destination:
            payload = last.get("event") or self._event(shard_id, records)
            self._send(self.config.destination, shard_id, record, payload)
            delivered = len(records)
        if self.on_failure is not None:
            self.on_failure(record)
        self._metric(DroppedEventCount=len(records), OnFailureDestinationDeliveredEventCount=delivered)

    def _client(self, service: str) -> Any:
        if service not in self._clients:
            if self.clients is not None:
                self._clients[service] = self.clients(service)
            else:
                import boto3

                self._clients[service] = boto3.client(
                    service,
                    endpoint_url=self.kinesis.meta.endpoint_url,
                    region_name=self.region,
                    aws_access_key_id="test",  # a local endpoint takes any credentials
                    aws_secret_access_key="test",  # noqa: S106  # nosec B106
                )
        return self._clients[service]

    def _send(self, arn: str, shard_id: str, record: dict[str, Any], payload: dict[str, Any]) -> None:
        service, name = arn.split(":")[2], arn.split(":")[-1]
        body = json.dumps(record)
        if service == "sqs":
            sqs = self._client("sqs")
            sqs.send_message(QueueUrl=sqs.get_queue_url(QueueName=name)["QueueUrl"], MessageBody=body)
        elif service == "sns":
            self._client("sns").publish(TopicArn=arn, Message=body)
        else:  # s3: the metadata and the whole invocation payload, one object per failed batch
            now = datetime.fromtimestamp(self.clock(), UTC)
            key = f"aws/lambda/{self.uuid}/{shard_id}/{now:%Y/%m/%d}/{now:%Y-%m-%dT%H.%M.%S}-{uuid.uuid4()}"
            document = {**record, "payload": json.dumps(payload)}
            self._client("s3").put_object(Bucket=name, Key=key, Body=json.dumps(document).encode())

    # ------------------------------------------------------------------ polling

    def seek_to_end(self) -> None:
        """Start after everything already in the stream (as if the mapping began at LATEST now)."""
        for shard_id in self._shards():
            while True:
                records, ended = self._fetch(shard_id)
                if records:
                    self.checkpoints.set(shard_id, records[-1]["SequenceNumber"])
                if not records or ended:
                    break

    def _poll_shard(self, shard_id: str) -> int:
        records, ended = self._fetch(shard_id)
        if records:
            self._metric(PolledEventCount=len(records))
        progress = _Progress(self.checkpoints, shard_id, records)
        event_records = [self._event_record(shard_id, r)["kinesis"] for r in records] if self._filters else []
        wanted = (
            [r for r, e in zip(records, event_records, strict=True) if matches(self._filters, e)]
            if self._filters
            else records
        )
        if len(wanted) < len(records):
            keep = {r["SequenceNumber"] for r in wanted}
            dropped = [r for r in records if r["SequenceNumber"] not in keep]
            progress.done(dropped)
            self._metric(FilteredOutEventCount=len(dropped))
        if self.config.tumbling_window_s:
            self._deliver_windowed(shard_id, wanted, progress)
        elif self.config.parallelization == 1:
            for batch in self._batches(shard_id, wanted):
                if not self._run(shard_id, batch, progress):
                    break
        else:
            self._run_lanes(shard_id, wanted, progress)
        if not progress.complete:  # disabled in the middle: read again from the checkpoint
            self._iterators.pop(shard_id, None)
        elif ended:
            if self.config.tumbling_window_s:
                self.close_window(shard_id)
            self.checkpoints.set(shard_id, SHARD_END)
            self._iterators.pop(shard_id, None)
        return len(records)

    def _run_lanes(self, shard_id: str, records: list[dict[str, Any]], progress: _Progress) -> None:
        lanes: list[list[dict[str, Any]]] = [[] for _ in range(self.config.parallelization)]
        for r in records:
            digest = hashlib.md5(r["PartitionKey"].encode(), usedforsecurity=False).digest()
            lanes[int.from_bytes(digest[:4], "big") % len(lanes)].append(r)

        def lane(rs: list[dict[str, Any]]) -> None:
            for batch in self._batches(shard_id, rs):
                if not self._run(shard_id, batch, progress):
                    return

        with ThreadPoolExecutor(max_workers=len(lanes) if self.concurrent else 1) as pool:
            for f in [pool.submit(lane, rs) for rs in lanes if rs]:
                f.result()

    def poll_once(self) -> int:
        """Fetch and deliver one round of batches per shard; return how many records were read."""
        if not self.enabled:
            return 0
        total = 0
        for shard_id in self._shards():
            total += self._poll_shard(shard_id)
        if self.config.tumbling_window_s:
            self.close_windows(now=self.clock())
        return total

    def drain(self, *, idle_polls: int = 2, timeout_s: float = 120.0, close_windows: bool = True) -> int:
        """Poll until ``idle_polls`` polls in a row find nothing; return the records delivered.

        With tumbling windows, ``close_windows`` then ends the open windows as if their time had passed.
        """
        total, idle = 0, 0
        self._deadline = time.monotonic() + timeout_s
        try:
            while idle < idle_polls and time.monotonic() < self._deadline:
                n = self.poll_once()
                total += n
                idle = 0 if n else idle + 1
        finally:
            self._deadline = None
        if close_windows and self.config.tumbling_window_s:
            self.close_windows()
        return total
