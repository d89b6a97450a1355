"""error_alert's decisions: fold records into per-source counts, and pick the alerts of a closed window (pure).

The state Lambda carries between the invocations of one tumbling window is ``{"counts": {source: n}}``.
Only ERROR and CRITICAL events count; records that are not valid events are ignored here (error_sink
dead-letters them). Windows are per shard, as Lambda's tumbling windows are.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shared import events, kinesis
from shared.exceptions import InvalidEvent

__all__ = ["COUNTED_LEVELS", "Alert", "accumulate", "alerts"]

COUNTED_LEVELS = frozenset({"ERROR", "CRITICAL"})


@dataclass(frozen=True, slots=True)
class Alert:
    source: str
    count: int
    threshold: int
    window_start: str
    window_end: str
    shard_id: str

    @property
    def dedup_id(self) -> str:
        """The same alert always has the same id: a FIFO topic drops a repeat sent by a retried invoke."""
        key = f"{self.source}\0{self.window_start}\0{self.shard_id}"
        return hashlib.sha256(key.encode()).hexdigest()

    @property
    def subject(self) -> str:
        return f"{self.count} errors from {self.source}"[:100]

    def message(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "count": self.count,
            "threshold": self.threshold,
            "window": {"start": self.window_start, "end": self.window_end},
            "shard_id": self.shard_id,
        }


def _counts(state: Any) -> dict[str, int]:
    counts = state.get("counts") if isinstance(state, Mapping) else None
    if not isinstance(counts, Mapping):
        return {}
    return {str(k): int(v) for k, v in counts.items() if isinstance(v, int) and not isinstance(v, bool)}


def accumulate(state: Any, records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The window's new state after these records."""
    counts = _counts(state)
    for item in kinesis.deaggregate(records):
        if isinstance(item, kinesis.CorruptRecord):
            continue
        try:
            event = events.parse(events.decode(item.data))
        except InvalidEvent:
            continue
        if event.level in COUNTED_LEVELS:
            counts[event.source] = counts.get(event.source, 0) + 1
    return {"counts": counts}


def alerts(state: Any, *, threshold: int, window: Mapping[str, str], shard_id: str) -> list[Alert]:
    """One alert per source whose count in the closed window reached the threshold, busiest first."""
    counts = _counts(state)
    hits = sorted(((n, s) for s, n in counts.items() if n >= threshold), key=lambda t: (-t[0], t[1]))
    return [Alert(s, n, threshold, str(window.get("start", "")), str(window.get("end", "")), shard_id) for n, s in hits]
