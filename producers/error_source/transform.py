"""error_source's decisions: read the request, validate events, pack records, shape the response (pure)."""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from shared import events, kinesis
from shared.exceptions import InvalidEvent, Rejected

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_EVENTS",
    "Batch",
    "Request",
    "content_id",
    "error_response",
    "is_http",
    "parse_request",
    "prepare",
    "publish_deadline",
    "respond",
    "unavailable",
]

MAX_BODY_BYTES = 1024 * 1024
MAX_EVENTS = 500
RETRY_AFTER_S = 2
# Time kept back from the invocation's remaining time for answering after publishing (metrics, the reply).
RESPONSE_MARGIN_S = 0.5
# The namespace of content-derived event ids (uuid5 of "event-pipeline/error-event/v1/content-id" under the
# URL namespace). Fixed for good: changing it would give a resent event a new id.
CONTENT_ID_NAMESPACE = uuid.UUID("366f66d6-f4c6-5092-882e-016fba2b3618")
_PLACEHOLDER_ID = "00000000-0000-0000-0000-000000000000"
_canonical = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode


@dataclass(frozen=True, slots=True)
class Request:
    """What the caller sent: the raw event objects, and whether it came over HTTP (for the reply shape)."""

    items: list[Any]
    http: bool


@dataclass(slots=True)
class Batch:
    valid: list[events.ErrorEvent] = field(default_factory=list)
    positions: list[int] = field(default_factory=list)  # each valid event's index in the request
    rejected: list[dict[str, Any]] = field(default_factory=list)
    records: list[kinesis.AggregatedRecord] = field(default_factory=list)


def is_http(event: Any) -> bool:
    """An HTTP API (payload 2.0) or function URL event, as opposed to a direct invoke."""
    context = event.get("requestContext") if isinstance(event, Mapping) else None
    return isinstance(context, Mapping) and isinstance(context.get("http"), Mapping)


def _items(payload: Any) -> list[Any]:
    if isinstance(payload, Mapping) and set(payload) == {"events"}:
        payload = payload["events"]
        if not isinstance(payload, list):
            raise Rejected(400, "events must be a JSON array")
    items = payload if isinstance(payload, list) else [payload]
    if not items:
        raise Rejected(400, "no events in the request")
    if len(items) > MAX_EVENTS:
        raise Rejected(413, f"{len(items)} events in one request, over the limit of {MAX_EVENTS}")
    return items


def parse_request(event: Any) -> Request:
    """Accept an HTTP API (payload 2.0) / function URL POST, or a direct invoke ``{"events": [...]}``."""
    if not isinstance(event, Mapping):
        raise Rejected(400, "the invocation event must be a JSON object")
    if not is_http(event):
        if "events" not in event:
            raise Rejected(400, 'a direct invoke must carry {"events": [...]}')
        return Request(_items({"events": event["events"]}), http=False)
    method = event["requestContext"]["http"].get("method", "")
    if method != "POST":
        raise Rejected(405, f"method {method} not allowed; use POST")
    body = event.get("body") or ""
    try:
        raw = base64.b64decode(body, validate=True) if event.get("isBase64Encoded") else body.encode("utf-8")
    except (binascii.Error, ValueError, UnicodeEncodeError) as e:
        raise Rejected(400, f"body is not valid base64 or UTF-8: {e}") from e
    if len(raw) > MAX_BODY_BYTES:
        raise Rejected(413, f"body is {len(raw)} bytes, over the limit of {MAX_BODY_BYTES}")
    if not raw.strip():
        raise Rejected(400, "body is empty")
    try:
        payload = events.decode(raw)
    except InvalidEvent as e:
        raise Rejected(400, f"body is {e}") from e
    return Request(_items(payload), http=True)


def content_id(event: events.ErrorEvent) -> str:
    """The id of an event sent without one: a UUID (version 5) of what it says, so the same event sent twice
    (a client resending a body whose answer it never got) has the same id, and the consumer keeps one row.

    It covers source, level, message, occurred_at (as a UTC instant), context (keys sorted) and stack; not
    received_at, which differs between the two sends. Two reports alike in all of these are one report.
    """
    key = [
        event.source,
        event.level,
        event.message,
        event.occurred_at.astimezone(UTC).isoformat(),
        event.context,
        event.stack,
    ]
    return str(uuid.uuid5(CONTENT_ID_NAMESPACE, _canonical(key)))


def prepare(request: Request, *, received_at: datetime) -> Batch:
    """Validate every event (assigning received_at, and a content-derived id where the sender gave none) and
    pack the valid ones into KPL aggregates."""
    batch = Batch()
    encoded: list[tuple[str, bytes]] = []
    total = 0
    for index, item in enumerate(request.items):
        given = isinstance(item, Mapping) and "event_id" in item
        try:
            event = events.parse(item, received_at=received_at, event_id=None if given else _PLACEHOLDER_ID)
        except InvalidEvent as e:
            batch.rejected.append({"index": index, "reason": str(e)})
            continue
        if not given:
            event = dataclasses.replace(event, event_id=content_id(event))
        data = events.encode(event)
        total += len(data)
        batch.valid.append(event)
        batch.positions.append(index)
        encoded.append((event.event_id, data))
    if total > MAX_BODY_BYTES:
        raise Rejected(413, f"events are {total} bytes encoded, over the limit of {MAX_BODY_BYTES}")
    batch.records = kinesis.aggregate(encoded)
    return batch


def publish_deadline(configured_s: float, remaining_ms: int | None) -> float:
    """Seconds publishing may take: the configured deadline, or less when the Lambda invocation has less time
    left than that plus the margin for answering (``remaining_ms`` None: no invocation context to ask)."""
    if remaining_ms is None:
        return configured_s
    return max(0.0, min(configured_s, remaining_ms / 1000.0 - RESPONSE_MARGIN_S))


def unavailable(batch: Batch, failed_records: Sequence[int]) -> set[int]:
    """Positions (in ``batch.valid``) of the events inside records Kinesis did not take."""
    return {i for r in failed_records for i in batch.records[r].indexes}


def respond(request: Request, batch: Batch, failed_records: Sequence[int] = ()) -> dict[str, Any]:
    """202 with accepted ids; 400 when nothing was valid; 503 + Retry-After when Kinesis did not take some."""
    failed_events = unavailable(batch, failed_records)
    accepted = [e.event_id for i, e in enumerate(batch.valid) if i not in failed_events]
    body: dict[str, Any] = {"accepted": accepted, "rejected": batch.rejected}
    headers = {"content-type": "application/json"}
    if failed_events:
        status = 503
        body["unavailable"] = [
            {"index": batch.positions[i], "event_id": batch.valid[i].event_id} for i in sorted(failed_events)
        ]
        body["message"] = (
            "the stream did not take every event in time; resend the unavailable events (with their event_id, "
            "or exactly as sent)"
        )
        headers["retry-after"] = str(RETRY_AFTER_S)
    elif not batch.valid:
        status = 400
        body["message"] = "no valid events"
    else:
        status = 202
    return _reply(request.http, status, body, headers)


def error_response(http: bool, error: Rejected) -> dict[str, Any]:
    """A refused request's answer: ``{"message": reason}`` with its status, over HTTP or to a direct invoke."""
    return _reply(http, error.status, {"message": error.reason}, {"content-type": "application/json"})


def _reply(http: bool, status: int, body: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
    if http:
        return {"statusCode": status, "headers": headers, "body": json.dumps(body)}
    return {"statusCode": status, **body}
