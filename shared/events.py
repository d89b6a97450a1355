"""The error event, schema version 1: parsing, validation and the wire codec (pure, no I/O).

Validation refuses anything a PostgreSQL ``text``, ``jsonb`` or ``timestamptz`` column would refuse (NUL
characters, lone surrogates, NaN and Infinity, zone offsets with fractional seconds or of 16 hours or more),
and timestamps whose UTC value falls outside years 1 to 9999, which could be stored but not read back, so a
row that passes here cannot fail at insert time or when read.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.exceptions import InvalidEvent

__all__ = [
    "FIELDS",
    "LEVELS",
    "MAX_CONTEXT_BYTES",
    "MAX_MESSAGE_BYTES",
    "MAX_SOURCE_CHARS",
    "MAX_STACK_BYTES",
    "SCHEMA_VERSION",
    "STORED_COLUMNS",
    "ErrorEvent",
    "Stored",
    "decode",
    "encode",
    "parse",
    "stored",
]

SCHEMA_VERSION = 1
LEVELS = frozenset({"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"})
MAX_SOURCE_CHARS = 128
MAX_MESSAGE_BYTES = 32 * 1024
MAX_CONTEXT_BYTES = 16 * 1024
MAX_STACK_BYTES = 64 * 1024
FIELDS = frozenset(
    {
        "event_id",
        "source",
        "level",
        "message",
        "occurred_at",
        "received_at",
        "context",
        "stack",
        "schema_version",
    }
)
_REQUIRED = ("source", "level", "message", "occurred_at")
_REQUIRED_SET = frozenset(_REQUIRED)


@dataclass(frozen=True, slots=True)
class ErrorEvent:
    """A valid error event, normalised: lower-case UUID, upper-case level, aware datetimes."""

    event_id: str
    source: str
    level: str
    message: str
    occurred_at: datetime
    received_at: datetime
    context: dict[str, Any]
    stack: str | None = None
    # The context as compact JSON, made once while validating; derived, so not part of equality.
    context_json: str | None = field(default=None, compare=False, repr=False)

    def to_wire(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "event_id": self.event_id,
            "source": self.source,
            "level": self.level,
            "message": self.message,
            "occurred_at": self.occurred_at.isoformat(),
            "received_at": self.received_at.isoformat(),
            "context": self.context,
        }
        if self.stack is not None:
            out["stack"] = self.stack
        return out


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON for PostgreSQL")


# json.loads(text, parse_constant=...) builds a decoder on every call; building it once is a third faster.
_DECODER = json.JSONDecoder(parse_constant=_reject_constant)
# One encoder for the context, the size the limit counts and the text the consumer stores.
_encode_context = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode
_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}").fullmatch


def decode(data: bytes | str) -> Any:
    """Strict JSON: UTF-8 only, no NaN/Infinity. Raises InvalidEvent with the reason."""
    try:
        text = data.decode("utf-8") if isinstance(data, bytes | bytearray) else data
        if text.startswith("\ufeff"):  # what json.loads says, word for word
            raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
        return _DECODER.decode(text)
    except UnicodeDecodeError as e:
        raise InvalidEvent(f"not UTF-8: {e.reason} at byte {e.start}") from e
    except RecursionError as e:
        raise InvalidEvent("JSON nested too deeply") from e
    except ValueError as e:
        raise InvalidEvent(f"not JSON: {e}") from e


def encode(event: ErrorEvent) -> bytes:
    """The wire form published to Kinesis: compact UTF-8 JSON."""
    return json.dumps(event.to_wire(), separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _text(value: object, field: str) -> str:
    if not isinstance(value, str):
        raise InvalidEvent(f"{field} must be a string, got {type(value).__name__}")
    if "\x00" in value:
        raise InvalidEvent(f"{field} contains a NUL character, which PostgreSQL text cannot store")
    return value


def _utf8_size(value: str, field: str) -> int:
    try:
        return len(value.encode("utf-8"))
    except UnicodeEncodeError as e:
        raise InvalidEvent(f"{field} contains a lone surrogate, which is not valid UTF-8") from e


# PostgreSQL takes zone offsets up to 15:59:59, in whole seconds; a timestamp must also have a UTC value a
# Python datetime can hold (years 1 to 9999), or reading the row back fails.
_MAX_OFFSET = timedelta(hours=16)
_ZERO = timedelta(0)


def _timestamp(value: object, field: str) -> datetime:
    text = _text(value, field)
    if len(text) < 16 or len(text) > 40:
        raise InvalidEvent(f"{field} must be an RFC 3339 timestamp with a zone, got {text[:40]!r}")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as e:
        raise InvalidEvent(f"{field} must be an RFC 3339 timestamp with a zone, got {text!r}") from e
    offset = parsed.utcoffset()
    if offset is None:
        raise InvalidEvent(f"{field} must carry a time zone (Z or +hh:mm), got {text!r}")
    if offset.microseconds:
        raise InvalidEvent(f"{field} has a zone offset with fractional seconds, which PostgreSQL refuses: {text!r}")
    if abs(offset) >= _MAX_OFFSET:
        raise InvalidEvent(f"{field} has a zone offset of 16 hours or more, which PostgreSQL refuses: {text!r}")
    if (parsed.year == 1 and offset > _ZERO) or (parsed.year == 9999 and offset < _ZERO):
        try:
            parsed.astimezone(UTC)
        except OverflowError:
            raise InvalidEvent(f"{field} falls outside the years 1 to 9999 in UTC: {text!r}") from None
    return parsed


def _check_json(value: object, path: str, depth: int = 0) -> None:
    """Walk a context value: strings and keys must be storable in jsonb."""
    if depth > 64:
        raise InvalidEvent(f"{path} nested deeper than 64 levels")
    if isinstance(value, str):
        if "\x00" in value:
            raise InvalidEvent(f"{path} contains a NUL character, which jsonb cannot store")
    elif isinstance(value, dict):
        for key, item in value.items():
            if "\x00" in key:
                raise InvalidEvent(f"{path} has a key with a NUL character, which jsonb cannot store")
            _check_json(item, f"{path}.{key}", depth + 1)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_json(item, f"{path}[{index}]", depth + 1)
    elif isinstance(value, float) and value != value:  # NaN from a non-JSON caller
        raise InvalidEvent(f"{path} is NaN, which jsonb cannot store")


def _storable(value: object, depth: int = 0) -> bool:
    """_check_json's verdict, value for value in the same order, without building a path for each one.

    Leaves (strings, numbers) are checked in the loop rather than by a call each: a value inside a container
    at ``depth`` sits at ``depth + 1``, which _check_json refuses past 64.
    """
    if depth > 64:
        return False
    if isinstance(value, str):
        return "\x00" not in value
    if isinstance(value, dict):
        for key, item in value.items():
            if "\x00" in key or not _leaf_or_storable(item, depth):
                return False
    elif isinstance(value, list):
        for item in value:
            if not _leaf_or_storable(item, depth):
                return False
    elif isinstance(value, float) and value != value:
        return False
    return True


def _leaf_or_storable(item: object, depth: int) -> bool:
    if isinstance(item, dict | list):
        return _storable(item, depth + 1)
    if depth >= 64:
        return False
    if isinstance(item, str):
        return "\x00" not in item
    return not (isinstance(item, float) and item != item)


def _context(value: object) -> tuple[dict[str, Any], str]:
    """The context and its compact JSON text (what the size limit counts, and what the consumer stores)."""
    if not isinstance(value, dict):
        raise InvalidEvent(f"context must be a JSON object, got {type(value).__name__}")
    if not value:
        return value, "{}"
    if not _storable(value):
        _check_json(value, "context")  # names the path of the first problem
    try:
        text = _encode_context(value)
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError as e:
        raise InvalidEvent("context contains a lone surrogate, which is not valid UTF-8") from e
    except ValueError as e:
        raise InvalidEvent(f"context is not storable as JSON: {e}") from e
    if size > MAX_CONTEXT_BYTES:
        raise InvalidEvent(f"context is {size} bytes as JSON, over the limit of {MAX_CONTEXT_BYTES}")
    return value, text


def parse(
    obj: object,
    *,
    received_at: datetime | None = None,
    event_id: str | None = None,
) -> ErrorEvent:
    """Validate one decoded event. ``received_at``/``event_id`` fill in what the producer assigns.

    With ``received_at`` given (the producer), it overrides the sender's value; without it (the
    consumer), the event must carry one. Raises InvalidEvent naming the first problem found.
    """
    if type(obj) is not dict and not isinstance(obj, Mapping):  # the ABC check is slow; JSON gives a dict
        raise InvalidEvent(f"an event must be a JSON object, got {type(obj).__name__}")
    if not FIELDS.issuperset(obj):  # the common case asks without building a set
        unknown = obj.keys() - FIELDS
        raise InvalidEvent(f"unknown field(s): {', '.join(sorted(map(str, unknown))[:5])}")
    if not obj.keys() >= _REQUIRED_SET:
        missing = [name for name in _REQUIRED if name not in obj]
        raise InvalidEvent(f"missing field(s): {', '.join(missing)}")
    version = obj.get("schema_version", SCHEMA_VERSION)
    if version != SCHEMA_VERSION or isinstance(version, bool):
        raise InvalidEvent(f"schema_version must be {SCHEMA_VERSION}, got {version!r}")

    raw_id = obj.get("event_id", event_id)
    if raw_id is None:
        raise InvalidEvent("missing field(s): event_id")
    if not isinstance(raw_id, str):
        raise InvalidEvent(f"event_id must be a UUID string, got {type(raw_id).__name__}")
    if _CANONICAL_UUID(raw_id):
        ident = raw_id  # already what str(uuid.UUID(raw_id)) would give
    else:
        try:
            ident = str(uuid.UUID(raw_id))
        except ValueError as e:
            raise InvalidEvent(f"event_id must be a UUID, got {raw_id[:64]!r}") from e

    source = _text(obj["source"], "source")
    if not 1 <= len(source) <= MAX_SOURCE_CHARS:
        raise InvalidEvent(f"source must be 1 to {MAX_SOURCE_CHARS} characters, got {len(source)}")
    _utf8_size(source, "source")

    level = _text(obj["level"], "level").upper()
    if level not in LEVELS:
        raise InvalidEvent(f"level must be one of {', '.join(sorted(LEVELS))}, got {obj['level'][:32]!r}")

    message = _text(obj["message"], "message")
    size = _utf8_size(message, "message")
    if size == 0 or size > MAX_MESSAGE_BYTES:
        raise InvalidEvent(f"message must be 1 to {MAX_MESSAGE_BYTES} bytes, got {size}")

    stack = obj.get("stack")
    if stack is not None:
        stack = _text(stack, "stack")
        size = _utf8_size(stack, "stack")
        if size > MAX_STACK_BYTES:
            raise InvalidEvent(f"stack must be at most {MAX_STACK_BYTES} bytes, got {size}")

    occurred = _timestamp(obj["occurred_at"], "occurred_at")
    if received_at is None:
        if "received_at" not in obj:
            raise InvalidEvent("missing field(s): received_at")
        received = _timestamp(obj["received_at"], "received_at")
    else:
        received = received_at.astimezone(UTC)

    context, context_json = _context(obj.get("context", {}))
    return ErrorEvent(
        event_id=ident,
        source=source,
        level=level,
        message=message,
        occurred_at=occurred,
        received_at=received,
        context=context,
        stack=stack,
        context_json=context_json,
    )


# --------------------------------------------------------------------------- the stored form

Stored = tuple[str, str, str, str, str, str, str, str | None]
STORED_COLUMNS = ("event_id", "source", "level", "message", "occurred_at", "received_at", "context", "stack")


def stored(event: ErrorEvent) -> Stored:
    """The event as a database row holds it, column for column (STORED_COLUMNS): text, timestamps in ISO 8601
    with their offset, the context as compact JSON, the stack or None."""
    return (
        event.event_id,
        event.source,
        event.level,
        event.message,
        event.occurred_at.isoformat(),
        event.received_at.isoformat(),
        event.context_json if event.context_json is not None else _encode_context(event.context),
        event.stack,
    )
