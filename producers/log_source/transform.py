"""log_source's decisions: decode a subscription delivery, parse each log line, keep WARNING and up (pure).

A log line is either JSON (``{"level": "ERROR", "message": ...}``, also ``levelname``/``severity`` and
``msg``) or text, where the level is the first word (``ERROR ...``, ``[ERROR] ...``, or Lambda's
``[ERROR]\\t<time>\\t<request id>\\t<message>``). ``event_id`` is a UUID derived from the log event id,
so a redelivered subscription batch produces the same ids and the sink ignores the repeats.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import json
import re
import uuid
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from shared import events
from shared.exceptions import InvalidEvent

__all__ = ["MIN_LEVEL", "NAMESPACE", "BadDelivery", "Delivery", "decode", "to_events"]

# Fixed namespace for uuid5: the same CloudWatch Logs event id always gives the same event_id.
NAMESPACE = uuid.UUID("6f3a1c9e-4a57-4b8e-9d0c-2f1e7b5a8c31")
RANK = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40, "CRITICAL": 50}
ALIASES = {"WARN": "WARNING", "FATAL": "CRITICAL", "ERR": "ERROR", "CRIT": "CRITICAL", "TRACE": "DEBUG"}
MIN_LEVEL = "WARNING"
_TEXT_LEVEL = re.compile(r"^\s*\[?(?P<level>[A-Za-z]+)\]?[\s:]+(?P<rest>.*)$", re.DOTALL)
_LAMBDA_PREFIX = re.compile(r"^\S+Z\t[0-9a-f-]{36}\t", re.IGNORECASE)
_JSON_LEVEL_KEYS = ("level", "levelname", "severity", "log_level")
_JSON_MESSAGE_KEYS = ("message", "msg", "error")


class BadDelivery(Exception):
    """The subscription payload itself cannot be read (not base64, not gzip, not the documented JSON)."""


@dataclass(frozen=True, slots=True)
class Delivery:
    message_type: str
    log_group: str
    log_stream: str
    log_events: list[dict[str, Any]] = field(default_factory=list)


def decode(event: Any) -> Delivery:
    """``{"awslogs": {"data": base64(gzip(json))}}`` -> Delivery."""
    try:
        data = event["awslogs"]["data"]
        payload = json.loads(gzip.decompress(base64.b64decode(data, validate=True)))
        return Delivery(
            message_type=str(payload["messageType"]),
            log_group=str(payload.get("logGroup", "")),
            log_stream=str(payload.get("logStream", "")),
            log_events=list(payload.get("logEvents") or []),
        )
    except (KeyError, TypeError, ValueError, binascii.Error, OSError, EOFError, zlib.error) as e:
        raise BadDelivery(f"not a CloudWatch Logs subscription event: {type(e).__name__}: {e}") from e


def _level(raw: Any) -> str | None:
    if not isinstance(raw, str):
        return None
    level = raw.strip().upper()
    level = ALIASES.get(level, level)
    return level if level in RANK else None


def _parse_line(line: str) -> tuple[str | None, str, dict[str, Any]]:
    """(level or None, message, extra context) of one log line."""
    stripped = line.strip()
    if stripped.startswith("{"):
        try:
            obj = json.loads(stripped)
        except ValueError:
            obj = None
        if isinstance(obj, dict):
            level = next((_level(obj[k]) for k in _JSON_LEVEL_KEYS if k in obj), None)
            message = next((obj[k] for k in _JSON_MESSAGE_KEYS if isinstance(obj.get(k), str)), stripped)
            used = {*_JSON_LEVEL_KEYS, *_JSON_MESSAGE_KEYS}
            return level, message, {k: v for k, v in obj.items() if k not in used}
    match = _TEXT_LEVEL.match(stripped)
    if match and (level := _level(match.group("level"))):
        return level, _LAMBDA_PREFIX.sub("", match.group("rest")), {}
    return None, stripped, {}


def _fit_context(context: dict[str, Any]) -> dict[str, Any]:
    """Keep the log line's extra fields only while the context stays within the schema's limit."""
    if len(json.dumps(context, default=str)) <= events.MAX_CONTEXT_BYTES // 2:
        return context
    return {k: v for k, v in context.items() if k.startswith("log_")}


def to_events(delivery: Delivery, *, received_at: datetime) -> tuple[list[events.ErrorEvent], list[dict[str, Any]]]:
    """Error events for the log events at MIN_LEVEL and above, and the skipped ones with a reason."""
    if delivery.message_type != "DATA_MESSAGE":
        return [], []  # CONTROL_MESSAGE: CloudWatch Logs checking that the destination is reachable
    out: list[events.ErrorEvent] = []
    skipped: list[dict[str, Any]] = []
    for log_event in delivery.log_events:
        log_id = str(log_event.get("id", ""))
        line = log_event.get("message")
        if not log_id or not isinstance(line, str):
            skipped.append({"id": log_id, "reason": "log event without an id or a message"})
            continue
        level, message, extra = _parse_line(line)
        if level is None or RANK[level] < RANK[MIN_LEVEL]:
            continue  # below the threshold (or no level at all): not an error report
        timestamp = log_event.get("timestamp")
        if not isinstance(timestamp, int) or isinstance(timestamp, bool):
            skipped.append({"id": log_id, "reason": "log event timestamp is not an integer"})
            continue
        context = _fit_context(
            {**extra, "log_group": delivery.log_group, "log_stream": delivery.log_stream, "log_event_id": log_id}
        )
        raw = {
            "event_id": str(uuid.uuid5(NAMESPACE, f"{delivery.log_group}\0{log_id}")),
            "source": (delivery.log_group or "cloudwatch-logs")[-events.MAX_SOURCE_CHARS :],
            "level": level,
            "message": message[: events.MAX_MESSAGE_BYTES // 4] or "(empty log line)",
            "occurred_at": datetime.fromtimestamp(timestamp / 1000, tz=UTC).isoformat(),
            "context": json.loads(json.dumps(context, default=str)),
        }
        try:
            out.append(events.parse(raw, received_at=received_at))
        except InvalidEvent as e:
            skipped.append({"id": log_id, "reason": str(e)})
    return out, skipped
