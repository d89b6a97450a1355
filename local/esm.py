"""An event source mapping emulator: polls every shard of a stream and calls a handler like Lambda does.

Semantics followed (AWS Lambda, Kinesis event source): batches of at most ``batch_size`` records,
gathered for up to ``window_s``; the checkpoint moves only past records the function handled; with
ReportBatchItemFailures the batch resumes at the lowest failed sequence number; on a function error the
batch is bisected (when enabled; a split does not use up a retry) and retried; after ``max_retries``
failed retries the records are skipped and an on-failure record (metadata, not the data) goes to the
destination.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from local.lambda_events import kinesis_record

__all__ = ["Checkpoints", "EventSourceMapping", "LambdaContext", "MappingConfig"]

Handler = Callable[[dict[str, Any], Any], Any]


@dataclass
class MappingConfig:
    batch_size: int = 100
    window_s: float = 0.0
    max_retries: int = 3
    bisect: bool = True
    report_item_failures: bool = True
    retry_delay_s: float = 0.0
    tumbling_window_s: int = 0  # 0: no tumbling windows


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

    def get(self, shard_id: str) -> str | None:
        return self._data.get(shard_id)

    def set(self, shard_id: str, sequence_number: str) -> None:
        self._data[shard_id] = sequence_number
        if self.path is not None:
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(self._data))
            tmp.replace(self.path)


@dataclass
class _Pending:
    records: list[dict[str, Any]]
    attempts: int = 0


@dataclass
class EventSourceMapping:
    kinesis: Any
    stream_name: str
    function_name: str
    handler: Handler
    config: MappingConfig = field(default_factory=MappingConfig)
    checkpoints: Checkpoints = field(default_factory=Checkpoints)
    on_failure: Callable[[dict[str, Any]], None] | None = None
    region: str = "us-east-1"
    invocations: int = 0
    windows: dict[str, dict[str, Any]] = field(default_factory=dict)  # shard -> {"start": s, "state": {}}

    def __post_init__(self) -> None:
        description = self.kinesis.describe_stream_summary(StreamName=self.stream_name)
        self.stream_arn: str = description["StreamDescriptionSummary"]["StreamARN"]

    # ------------------------------------------------------------------ reading

    def _shards(self) -> list[str]:
        shards = self.kinesis.list_shards(StreamName=self.stream_name)["Shards"]
        return [s["ShardId"] for s in shards]

    def _fetch(self, shard_id: str) -> list[dict[str, Any]]:
        after = self.checkpoints.get(shard_id)
        args: dict[str, Any] = {"StreamName": self.stream_name, "ShardId": shard_id}
        if after:
            args.update(ShardIteratorType="AFTER_SEQUENCE_NUMBER", StartingSequenceNumber=after)
        else:
            args["ShardIteratorType"] = "TRIM_HORIZON"
        iterator = self.kinesis.get_shard_iterator(**args)["ShardIterator"]
        records: list[dict[str, Any]] = []
        deadline = time.monotonic() + self.config.window_s
        while iterator and len(records) < self.config.batch_size:
            response = self.kinesis.get_records(ShardIterator=iterator, Limit=self.config.batch_size - len(records))
            records += response["Records"]
            iterator = response.get("NextShardIterator")
            if not response["Records"]:
                if time.monotonic() >= deadline:
                    break
                time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))
        return records

    def _event(self, shard_id: str, records: list[dict[str, Any]]) -> dict[str, Any]:
        def one(r: dict[str, Any]) -> dict[str, Any]:
            arrival = r.get("ApproximateArrivalTimestamp")
            return kinesis_record(
                data=r["Data"],
                partition_key=r["PartitionKey"],
                sequence_number=r["SequenceNumber"],
                shard_id=shard_id,
                stream_arn=self.stream_arn,
                region=self.region,
                arrival=arrival.timestamp() if arrival else time.time(),
                function_name=self.function_name,
            )

        event: dict[str, Any] = {"Records": [one(r) for r in records]}
        window = self.windows.get(shard_id)
        if self.config.tumbling_window_s and window is not None:
            event.update(self._window_fields(shard_id, window, final=False))
        return event

    def _window_fields(self, shard_id: str, window: dict[str, Any], *, final: bool) -> dict[str, Any]:
        def iso(ts: float) -> str:
            return datetime.fromtimestamp(ts, tz=UTC).isoformat().replace("+00:00", "Z")

        start = window["start"]
        return {
            "window": {"start": iso(start), "end": iso(start + self.config.tumbling_window_s)},
            "state": window["state"],
            "shardId": shard_id,
            "eventSourceARN": self.stream_arn,
            "isFinalInvokeForWindow": final,
            "isWindowTerminatedEarly": False,
        }

    def _window_start(self, record: dict[str, Any]) -> float:
        arrival = record.get("ApproximateArrivalTimestamp")
        ts = arrival.timestamp() if arrival else time.time()
        size = self.config.tumbling_window_s
        return float(int(ts // size) * size)

    def close_window(self, shard_id: str) -> None:
        """The final invocation of the shard's open window, then forget its state."""
        window = self.windows.pop(shard_id, None)
        if window is None:
            return
        self.invocations += 1
        event = {"Records": [], **self._window_fields(shard_id, window, final=True)}
        self.handler(event, LambdaContext(self.function_name))

    def close_windows(self, now: float | None = None) -> None:
        """Close every window whose end has passed (all of them when ``now`` is None)."""
        for shard_id, window in list(self.windows.items()):
            if now is None or window["start"] + self.config.tumbling_window_s <= now:
                self.close_window(shard_id)

    def _deliver_windowed(self, shard_id: str, records: list[dict[str, Any]]) -> None:
        groups: dict[float, list[dict[str, Any]]] = {}
        for record in records:
            groups.setdefault(self._window_start(record), []).append(record)
        for start in sorted(groups):
            open_window = self.windows.get(shard_id)
            if open_window is not None and open_window["start"] != start:
                self.close_window(shard_id)
            self.windows.setdefault(shard_id, {"start": start, "state": {}})
            self.deliver(shard_id, groups[start])

    # ------------------------------------------------------------------ delivering

    def _failed_index(self, records: list[dict[str, Any]], response: Any) -> int | None:
        """Index of the first record to retry, or None when the batch succeeded."""
        if not self.config.report_item_failures or not isinstance(response, dict):
            return None
        failures = response.get("batchItemFailures") or []
        if not failures:
            return None
        sequence = [r["SequenceNumber"] for r in records]
        ids = [f.get("itemIdentifier") if isinstance(f, dict) else None for f in failures]
        if any(i not in sequence for i in ids):
            return 0  # an unknown or empty identifier fails the whole batch, as on Lambda
        return min(sequence.index(i) for i in ids)

    def deliver(self, shard_id: str, records: list[dict[str, Any]]) -> None:
        queue = [_Pending(records)]
        while queue:
            pending = queue[0]
            self.invocations += 1
            errored = False
            try:
                response = self.handler(self._event(shard_id, pending.records), LambdaContext(self.function_name))
                failed = self._failed_index(pending.records, response)
            except Exception:  # any function error: Lambda retries the batch
                errored, failed = True, 0
            if failed is None:
                self.checkpoints.set(shard_id, pending.records[-1]["SequenceNumber"])
                if shard_id in self.windows and isinstance(response, dict):
                    self.windows[shard_id]["state"] = response.get("state") or {}
                queue.pop(0)
                continue
            if failed > 0:
                self.checkpoints.set(shard_id, pending.records[failed - 1]["SequenceNumber"])
            remainder = pending.records[failed:]
            if errored and self.config.bisect and len(remainder) > 1:
                # Splitting is not a retry: each half gets its own tries, so only the poison runs out of them.
                half = len(remainder) // 2
                queue[0:1] = [_Pending(remainder[:half]), _Pending(remainder[half:])]
                continue
            pending.attempts += 1
            if pending.attempts > self.config.max_retries:
                self._give_up(shard_id, remainder)
                self.checkpoints.set(shard_id, remainder[-1]["SequenceNumber"])
                queue.pop(0)
                continue
            if self.config.retry_delay_s:
                time.sleep(self.config.retry_delay_s)
            queue[0] = _Pending(remainder, pending.attempts)

    def _give_up(self, shard_id: str, records: list[dict[str, Any]]) -> None:
        if self.on_failure is None:
            return
        self.on_failure(
            {
                "requestContext": {"condition": "RetryAttemptsExhausted", "functionArn": self.function_name},
                "KinesisBatchInfo": {
                    "shardId": shard_id,
                    "startSequenceNumber": records[0]["SequenceNumber"],
                    "endSequenceNumber": records[-1]["SequenceNumber"],
                    "batchSize": len(records),
                    "streamArn": self.stream_arn,
                },
            }
        )

    def seek_to_end(self) -> None:
        """Start after everything already in the stream (Lambda's LATEST starting position)."""
        for shard_id in self._shards():
            while records := self._fetch(shard_id):
                self.checkpoints.set(shard_id, records[-1]["SequenceNumber"])

    def poll_once(self) -> int:
        """Fetch and deliver one batch per shard; return how many records were delivered."""
        total = 0
        for shard_id in self._shards():
            records = self._fetch(shard_id)
            if records:
                if self.config.tumbling_window_s:
                    self._deliver_windowed(shard_id, records)
                else:
                    self.deliver(shard_id, records)
                total += len(records)
        if self.config.tumbling_window_s:
            self.close_windows(now=time.time())
        return total

    def drain(self, *, idle_polls: int = 2, timeout_s: float = 120.0, close_windows: bool = True) -> int:
        """Poll until ``idle_polls`` polls in a row find nothing; return the records delivered.

        With tumbling windows, ``close_windows`` then ends the open windows as if their time had passed.
        """
        total, idle = 0, 0
        deadline = time.monotonic() + timeout_s
        while idle < idle_polls and time.monotonic() < deadline:
            n = self.poll_once()
            total += n
            idle = 0 if n else idle + 1
        if close_windows and self.config.tumbling_window_s:
            self.close_windows()
        return total
