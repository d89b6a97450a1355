"""error_alert's decisions: fold records into per-source counts, and pick the alerts of a closed window (pure).

The state Lambda carries between the invocations of one tumbling window is ``{"counts": {source: n}}``.
Only ERROR and CRITICAL events count; records that are not valid events are ignored here (error_sink
dead-letters them). Windows are per shard, as Lambda's tumbling windows are.

A source may be any text of 1 to 128 characters; SNS is stricter with what it puts in headers (its Publish API
reference): a Subject must be ASCII, begin with a letter, number or punctuation mark, hold no line breaks or
control characters and be under 100 characters; a MessageGroupId or MessageDeduplicationId is 1 to 128
characters of ASCII letters, digits and punctuation. So those are derived from the source, and the source
itself travels in the message body.
"""

from __future__ import annotations

import hashlib
import json
import string
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shared import events, kinesis
from shared.exceptions import InvalidEvent

__all__ = ["COUNTED_LEVELS", "Alert", "accumulate", "alerts", "is_transient", "publish_request"]

COUNTED_LEVELS = frozenset({"ERROR", "CRITICAL"})
MAX_SUBJECT_CHARS = 99  # "less than 100 characters"
MAX_ID_CHARS = 128
_ID_CHARS = frozenset(string.ascii_letters + string.digits + string.punctuation)  # what SNS takes in an id
_GROUP_PREFIX_CHARS = 100  # readable part of a group id; "~" and 16 hex digits of hash follow
# SNS answers that may succeed if the final window invocation is retried (see is_transient).
_TRANSIENT_CODES = frozenset(
    {
        "Throttled",
        "Throttling",
        "ThrottlingException",
        "KMSThrottling",
        "InternalError",
        "InternalFailure",
        "ServiceUnavailable",
        "RequestTimeout",
    }
)


def _ascii(text: str) -> str:
    """``text`` folded to printable ASCII: accents dropped (é -> e), control characters and line breaks as
    spaces, anything else that has no ASCII form as ``?``."""
    out = []
    for char in unicodedata.normalize("NFKD", text):
        if unicodedata.combining(char):
            continue
        if " " <= char <= "~":
            out.append(char)
        elif char.isspace() or unicodedata.category(char).startswith("C"):
            out.append(" ")
        else:
            out.append("?")
    return "".join(out)


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
        return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()

    @property
    def group_id(self) -> str:
        """The FIFO message group: the source as far as SNS takes it, then 64 bits of a SHA-256 of the real
        source, so two sources that fold to the same text do not share a group (nor a dedup scope)."""
        readable = "".join(c if c in _ID_CHARS else "_" for c in _ascii(self.source))[:_GROUP_PREFIX_CHARS]
        digest = hashlib.sha256(self.source.encode("utf-8", "surrogatepass")).hexdigest()[:16]
        return f"{readable}~{digest}"

    @property
    def subject(self) -> str:
        """ASCII, no control characters, under 100 characters, starting with the count (a digit)."""
        return " ".join(f"{self.count} errors from {_ascii(self.source)}".split())[:MAX_SUBJECT_CHARS].rstrip()

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


def publish_request(alert: Alert, *, topic_arn: str, fifo: bool) -> dict[str, Any]:
    """The SNS Publish arguments of one alert: values SNS takes whatever the source, the source in the body."""
    request: dict[str, Any] = {"TopicArn": topic_arn, "Subject": alert.subject, "Message": json.dumps(alert.message())}
    if fifo:
        request["MessageGroupId"] = alert.group_id
        request["MessageDeduplicationId"] = alert.dedup_id
    return request


def is_transient(code: str, status: int | None) -> bool:
    """Whether a failed Publish may succeed on a retry: throttling, a server-side error, no answer at all
    (``status`` None). A refusal SNS would repeat (a bad parameter, a missing topic, no permission) is not."""
    return status is None or status >= 500 or status == 429 or code in _TRANSIENT_CODES
