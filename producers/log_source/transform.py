"""log_source's decisions: decode a subscription delivery, read each log line's level, keep WARNING and up (pure).

The level of a line is read from its header by the named rules of ``levels`` (timestamp-first text such as
log4j, logback, Python logging, Rails, nginx, httpd, OpenStack, Android logcat, glog, syslog, logfmt, and
JSON from pino, bunyan, winston, ECS, OpenTelemetry, journald, Lambda). A log event that continues the one
above it (an indented line, ``at ...``, ``Caused by:``, ``Traceback ...``, ``... N more``, or the exception
line that follows a header) is appended to that event's ``stack``; a continuation with no level-bearing event
above it in the delivery has no level of its own and is ignored. ``event_id`` is a UUID derived from the log
group and the log event id, so a redelivered subscription batch produces the same ids and the sink ignores
the repeats.

One log event can never fail the delivery: whatever goes wrong reading it (JSON nested too deeply, a
malformed log event) skips that event with a reason. An extra field the schema refuses (a NUL or a lone
surrogate in a key or value, NaN or Infinity, nesting too deep) is dropped and counted, the event kept.
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

from producers.log_source import levels
from shared import events
from shared.exceptions import InvalidEvent, PipelineError

__all__ = ["MIN_LEVEL", "NAMESPACE", "BadDelivery", "Delivery", "Outcome", "convert", "parse_request", "to_events"]

# Fixed namespace for uuid5: the same CloudWatch Logs event id always gives the same event_id.
NAMESPACE = uuid.UUID("6f3a1c9e-4a57-4b8e-9d0c-2f1e7b5a8c31")
RANK = levels.RANK
MIN_LEVEL = "WARNING"
# A log event that continues the entry above it: indented, a Java frame or cause, a Python traceback.
_CONTINUATION = re.compile(
    r"[ \t]|at |Caused by:|Suppressed:|Traceback \(|\.\.\. \d+ (?:more|common frames omitted)"
    r"|During handling of the above exception|The above exception was the direct cause"
).match
# The exception line right under a header or inside a trace: "java.lang.IllegalStateException: boom",
# "KeyError: 'customer_id'", the base classes ("java.lang.Exception", Python's "Exception: boom", .NET's
# "System.Exception"), and a qualified class of any name ("psycopg2.errors.UniqueViolation: ...",
# "django.core.exceptions.ImproperlyConfigured"); a qualified name needs a small letter in its last part,
# so Monolog's "app.ERROR:" stays a header.
_EXCEPTION_LINE = re.compile(
    r"(?:[A-Za-z_$][\w$]*+\.)++[A-Z](?=[\w$]*[a-z])[\w$]*+(?::|$)"
    r"|[A-Z]?\w*(?:Error|Exception|Warning|Throwable)(?::|$)|KeyboardInterrupt$|SystemExit\b|StopIteration\b"
).match
_PROBE_TIME = "2026-01-01T00:00:00+00:00"
# What the schema refuses in a message (PostgreSQL text cannot hold a NUL, UTF-8 no lone surrogate): replaced by
# U+FFFD in the message of an error report, rather than losing the report.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


class BadDelivery(PipelineError):
    """The subscription payload itself cannot be read (not base64, not gzip, not the documented JSON).

    Not a Rejected: CloudWatch Logs invokes asynchronously and reads no answer, so the invocation fails
    instead, and Lambda's retries and on-failure destination keep the delivery."""


@dataclass(frozen=True, slots=True)
class Delivery:
    message_type: str
    log_group: str
    log_stream: str
    log_events: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a delivery became: the error events, the skipped log events (id and reason), the extra fields
    left out of the events (refused by the schema, or over the context's size budget)."""

    events: list[events.ErrorEvent]
    skipped: list[dict[str, Any]]
    fields_dropped: int = 0


@dataclass(slots=True)
class _Entry:
    """A level-bearing log event at MIN_LEVEL or above, and the continuation lines that follow it."""

    index: int
    log_id: str
    timestamp: int
    line: levels.Line
    more: list[str] = field(default_factory=list)


def parse_request(event: Any) -> Delivery:
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


def _fit_context(context: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """Keep the log line's extra fields only while the context stays within the schema's limit."""
    if len(json.dumps(context, default=str)) <= events.MAX_CONTEXT_BYTES // 2:
        return context, 0
    kept = {k: v for k, v in context.items() if k.startswith("log_")}
    return kept, len(context) - len(kept)


def _clip(text: str, limit: int) -> tuple[str, int]:
    """``text`` cut to at most ``limit`` UTF-8 bytes on a character boundary, and its size before (0 if uncut)."""
    if len(text) <= limit // 4:
        return text, 0
    data = text.encode("utf-8", "surrogatepass")
    if len(data) <= limit:
        return text, 0
    cut = limit
    while cut and (data[cut] & 0xC0) == 0x80:
        cut -= 1
    return data[:cut].decode("utf-8", "surrogatepass"), len(data)


def _reason(error: BaseException) -> str:
    if isinstance(error, RecursionError):
        return "log line is JSON nested too deeply to read"
    return f"log event could not be read: {type(error).__name__}: {str(error)[:200]}"


def _storable(key: str, value: Any, received_at: datetime) -> bool:
    """Whether the schema takes ``{key: value}`` as a context (asked of shared.events itself)."""
    probe = {
        "event_id": str(NAMESPACE),
        "source": "probe",
        "level": "ERROR",
        "message": "probe",
        "occurred_at": _PROBE_TIME,
        "context": {key: value},
    }
    try:
        events.parse(probe, received_at=received_at)
    except (InvalidEvent, ValueError, RecursionError):
        return False
    return True


def _stack_ok(stack: str) -> bool:
    return "\x00" not in stack and not any("\ud800" <= c <= "\udfff" for c in stack)


def _event(entry: _Entry, delivery: Delivery, received_at: datetime) -> tuple[events.ErrorEvent, int]:
    """The error event of one entry and how many of its extra fields were left out; InvalidEvent if none can be."""
    line = entry.line
    text, trace = line.message, None
    if line.rule != "json" and "\n" in text:
        # One log event of many lines (the agent's multi_line_start_pattern joined a header and its trace):
        # the header's line is the message, the lines below it the stack, as if they had come one by one.
        text, _, trace = text.partition("\n")
        text, trace = text.rstrip(), trace.rstrip() or None
    text, replaced = _UNSTORABLE.subn("\ufffd", text)
    message, message_bytes = _clip(text, events.MAX_MESSAGE_BYTES)
    log_fields: dict[str, Any] = {
        "log_group": delivery.log_group,
        "log_stream": delivery.log_stream,
        "log_event_id": entry.log_id,
    }
    if message_bytes:
        log_fields["log_message_bytes"] = message_bytes
    if replaced:
        log_fields["log_message_replaced"] = replaced
    stack_parts = ([trace] if trace else []) + ([line.stack] if line.stack else []) + entry.more
    stack = "\n".join(stack_parts) if stack_parts else None
    if stack is not None:
        stack, stack_bytes = _clip(stack, events.MAX_STACK_BYTES)
        if stack_bytes:
            log_fields["log_stack_bytes"] = stack_bytes
    context, dropped = _fit_context({**line.extra, **log_fields})
    raw: dict[str, Any] = {
        "event_id": str(uuid.uuid5(NAMESPACE, f"{delivery.log_group}\0{entry.log_id}")),
        "source": (delivery.log_group or "cloudwatch-logs")[-events.MAX_SOURCE_CHARS :],
        "level": line.level,
        "message": message or "(empty log line)",
        "occurred_at": datetime.fromtimestamp(entry.timestamp / 1000, tz=UTC).isoformat(),
        "context": context,
    }
    if stack is not None:
        raw["stack"] = stack
    try:
        return events.parse(raw, received_at=received_at), dropped
    except InvalidEvent as refused:
        bad = [k for k, v in context.items() if not _storable(k, v, received_at)]
        bad_stack = stack is not None and not _stack_ok(stack)
        if not bad and not bad_stack:
            raise  # the message itself is refused: the reason names it
        raw["context"] = {k: v for k, v in context.items() if k not in bad}
        raw["context"]["log_fields_dropped"] = len(bad) + bad_stack
        if bad_stack:
            del raw["stack"]
        try:
            return events.parse(raw, received_at=received_at), dropped + len(bad) + bad_stack
        except InvalidEvent:
            raise refused from None


# A header whose level is right-aligned, so the line starts with blanks: tracing's " WARN app: ..." (Rust, often
# without the time on Lambda), Python's "%(levelname)8s". A frame or a trace line never starts so.
_PADDED_HEADER = re.compile(r"[ \t]++([A-Z]{3,9})[ \t:]").match


def _docker_text(line: str) -> str | None:
    """The text line inside Docker's json-file wrapping (``{"log": "\\tat ...\\n", "stream": ...}``), or None."""
    try:
        obj = json.loads(line)
    except (ValueError, RecursionError):
        return None
    inner = obj.get("log") if isinstance(obj, dict) else None
    return inner.rstrip("\r\n") if isinstance(inner, str) else None


def _is_continuation(line: str) -> bool:
    if not line:
        return True
    padded = _PADDED_HEADER(line)
    if padded is not None and padded.group(1) in levels.LEVEL_WORDS:
        return False
    return _CONTINUATION(line) is not None or _EXCEPTION_LINE(line) is not None


def convert(delivery: Delivery, *, received_at: datetime) -> Outcome:
    """Error events for the log events at MIN_LEVEL and above, the skipped ones with a reason, fields dropped."""
    if delivery.message_type != "DATA_MESSAGE":
        return Outcome([], [])  # CONTROL_MESSAGE: CloudWatch Logs checking that the destination is reachable
    entries: list[_Entry] = []
    skipped: list[tuple[int, dict[str, Any]]] = []
    current: _Entry | None = None  # the entry continuation lines join
    for index, log_event in enumerate(delivery.log_events):
        log_id = ""
        try:
            log_id = str(log_event.get("id", ""))
            line = log_event.get("message")
            if not log_id or not isinstance(line, str):
                skipped.append((index, {"id": log_id, "reason": "log event without an id or a message"}))
                current = None
                continue
            if current is not None and line.startswith('{"log":'):
                # An agent that tails Docker's files unparsed wraps every line of a trace in its own JSON.
                inner = _docker_text(line)
                if inner is not None and _is_continuation(inner):
                    current.more.append(inner.rstrip())
                    continue
            if _is_continuation(line):
                if current is not None:
                    current.more.append(line.rstrip())
                    continue
                if _CONTINUATION(line) is not None:
                    continue  # an indented or "at ..." line with nothing above it: no level of its own
            current = None
            parsed = levels.parse(line)
            if parsed is None or RANK[parsed.level] < RANK[MIN_LEVEL]:
                continue  # below the threshold (or no level at all): not an error report
            timestamp = log_event.get("timestamp")
            if not isinstance(timestamp, int) or isinstance(timestamp, bool):
                skipped.append((index, {"id": log_id, "reason": "log event timestamp is not an integer"}))
                continue
            current = _Entry(index, log_id, timestamp, parsed)
            entries.append(current)
        except Exception as e:  # one log event never fails the delivery
            skipped.append((index, {"id": log_id, "reason": _reason(e)}))
            current = None
    out: list[events.ErrorEvent] = []
    dropped = 0
    for entry in entries:
        try:
            event, left_out = _event(entry, delivery, received_at)
        except InvalidEvent as e:
            skipped.append((entry.index, {"id": entry.log_id, "reason": str(e)}))
            continue
        except Exception as e:
            skipped.append((entry.index, {"id": entry.log_id, "reason": _reason(e)}))
            continue
        out.append(event)
        dropped += left_out
    skipped.sort(key=lambda item: item[0])
    return Outcome(out, [reason for _, reason in skipped], dropped)


def to_events(delivery: Delivery, *, received_at: datetime) -> tuple[list[events.ErrorEvent], list[dict[str, Any]]]:
    """``convert`` without the count of dropped fields: (error events, skipped log events with a reason)."""
    outcome = convert(delivery, received_at=received_at)
    return outcome.events, outcome.skipped
