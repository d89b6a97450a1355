"""Publishing to Kinesis: PutRecords in batches, retrying only the entries Kinesis failed, to a deadline.

The records are shared.kinesis's (KPL aggregates, or plain records); shared.aws.publisher builds the one
Publisher a producer uses, with clients whose timeouts fit the time left.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from shared.exceptions import PublishError
from shared.kinesis import AggregatedRecord

__all__ = ["CALL_TIMEOUTS_S", "DEADLINE_EXCEEDED", "PublishResult", "Publisher", "call_timeout"]

MAX_PUT_ENTRIES = 500
MAX_PUT_BYTES = 5 * 1024 * 1024
_RETRYABLE_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "LimitExceededException",
        "InternalFailure",
        "InternalServerError",
        "ServiceUnavailable",
        "KMSThrottlingException",
    }
)
# How long one PutRecords call may take (connect plus read), in steps: a call gets the largest step that fits
# in the time left, so it ends, answered or timed out, before the deadline. Steps, not any value, so a
# process builds at most this many clients (see shared.aws.publisher).
CALL_TIMEOUTS_S = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# The code a record carries in PublishResult.failed when no call for it could start before the deadline.
DEADLINE_EXCEEDED = "DeadlineExceeded"


@dataclass(slots=True)
class PublishResult:
    """Which input records Kinesis took, and which it had not taken when the deadline passed."""

    succeeded: list[int] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)  # input index -> last error code
    put_calls: int = 0
    attempts: int = 0


def _batches(records: Sequence[AggregatedRecord], todo: list[int]) -> Iterator[list[int]]:
    batch: list[int] = []
    size = 0
    for i in todo:
        rec = records[i]
        n = len(rec.data) + len(rec.partition_key.encode("utf-8"))
        if batch and (len(batch) == MAX_PUT_ENTRIES or size + n > MAX_PUT_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(i)
        size += n
    if batch:
        yield batch


def call_timeout(time_left_s: float, cap_s: float) -> float | None:
    """The step of CALL_TIMEOUTS_S a call may take with ``time_left_s`` before the deadline (at most ``cap_s``,
    at least the smallest step), or None when not even the smallest step fits."""
    limit = min(time_left_s, max(cap_s, CALL_TIMEOUTS_S[0]))
    fitting = [t for t in CALL_TIMEOUTS_S if t <= limit]
    return fitting[-1] if fitting else None


class Publisher:
    """Puts records with PutRecords, retrying only the entries Kinesis failed, with full jitter, to a deadline.

    The deadline is a deadline: no call starts unless the smallest call timeout fits in the time left, and with
    ``client_for`` (a function from a call timeout in seconds to a client whose connect and read timeouts add up
    to at most that, with botocore's own retries off) each call is bounded by the time left. One call may take
    at most half the deadline, so a connection that never answers leaves time for another try. Without
    ``client_for``, ``client`` serves every call and bounds it by its own timeouts.
    """

    def __init__(
        self,
        client: Any,
        stream_name: str,
        *,
        deadline_s: float = 10.0,
        base_delay_s: float = 0.05,
        max_delay_s: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = random.random,
        client_for: Callable[[float], Any] | None = None,
    ) -> None:
        self._client = client
        self._client_for = client_for
        self._stream = stream_name
        self._deadline_s = deadline_s
        self._base = base_delay_s
        self._max = max_delay_s
        self._clock = clock
        self._sleep = sleep
        self._jitter = jitter

    def publish(self, records: Sequence[AggregatedRecord], *, deadline_s: float | None = None) -> PublishResult:
        """Put ``records``; give up on what is left when the deadline passes (the configured one, or
        ``deadline_s`` when that is sooner, e.g. the time the Lambda invocation has left)."""
        from botocore.exceptions import BotoCoreError, ClientError

        result = PublishResult()
        budget = self._deadline_s if deadline_s is None else min(self._deadline_s, deadline_s)
        deadline = self._clock() + budget
        cap = budget / 2
        todo = list(range(len(records)))
        attempt = 0
        while todo:
            retry: list[int] = []
            out_of_time = False
            for batch in _batches(records, todo):
                timeout = None if out_of_time else call_timeout(deadline - self._clock(), cap)
                if timeout is None:  # this call could not end before the deadline: do not start it
                    out_of_time = True
                    for i in batch:
                        result.failed.setdefault(i, DEADLINE_EXCEEDED)
                    continue
                client = self._client if self._client_for is None else self._client_for(timeout)
                entries = [{"Data": records[i].data, "PartitionKey": records[i].partition_key} for i in batch]
                result.put_calls += 1
                try:
                    response = client.put_records(StreamName=self._stream, Records=entries)
                except ClientError as e:
                    code = e.response.get("Error", {}).get("Code", "ClientError")
                    if code not in _RETRYABLE_CODES:
                        raise PublishError(f"PutRecords to {self._stream} failed: {code}: {e}") from e
                    retry += batch
                    for i in batch:
                        result.failed[i] = code
                    continue
                except BotoCoreError as e:  # connection reset, timeout: the whole call may be retried
                    retry += batch
                    for i in batch:
                        result.failed[i] = type(e).__name__
                    continue
                for i, entry in zip(batch, response["Records"], strict=True):
                    code = entry.get("ErrorCode")
                    if code:
                        retry.append(i)
                        result.failed[i] = code
                    else:
                        result.succeeded.append(i)
                        result.failed.pop(i, None)
            result.attempts = attempt + 1
            todo = retry
            if not todo or out_of_time:
                break
            delay = self._jitter() * min(self._max, self._base * 2**attempt)
            if self._clock() + delay + CALL_TIMEOUTS_S[0] > deadline:
                break
            self._sleep(delay)
            attempt += 1
        result.succeeded.sort()
        return result
