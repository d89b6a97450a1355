"""The consumer's fast path from wire bytes to a stored row: ``read_stored(data)`` is
``events.stored(events.parse(events.decode(data)))``, the same columns or the same InvalidEvent, about four
times faster (msgspec decodes and type-checks in C).

shared.events holds the schema and has the last word: whatever this path is not sure of, it hands to
``events.parse(events.decode(data))``. The schema is what every function shares; this is the consumers'
optimisation of reading it, so it lives apart (producers never load it, nor msgspec).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal

# The schema's own checks, used here as they are so both paths give the same verdict and reason.
from shared.events import (
    _CANONICAL_UUID,
    LEVELS,
    MAX_CONTEXT_BYTES,
    MAX_MESSAGE_BYTES,
    MAX_SOURCE_CHARS,
    MAX_STACK_BYTES,
    Stored,
    _storable,
    _timestamp,
    decode,
    parse,
    stored,
)
from shared.exceptions import InvalidEvent

__all__ = ["load_reader", "read_stored"]


@functools.cache
def _reader() -> tuple[Callable[[bytes], Any], Callable[[Any], bytes]]:
    """msgspec's JSON decoder for the wire form, typed, and its encoder; imported on first use so producers,
    which never read the stored form, do not pay for the import at cold start (consumers call load_reader())."""
    import msgspec

    class Wire(msgspec.Struct, forbid_unknown_fields=True, gc=False):
        """What msgspec checks in C: the field names (unknown ones refused, missing required ones refused),
        each field's JSON type (a bool is not an int, null is not a string), and schema_version 1."""

        event_id: str
        source: str
        level: str
        message: str
        occurred_at: str
        received_at: str
        context: dict[str, Any] = {}  # msgspec copies a mutable default for every instance
        stack: str | None = None
        schema_version: Literal[1] = 1

    return msgspec.json.Decoder(Wire).decode, msgspec.json.encode


def load_reader() -> None:
    """Import what read_stored() needs now rather than on the first record (a consumer's handler calls this)."""
    _reader()


# A context whose msgspec text is at most this long is at most MAX_CONTEXT_BYTES as the stdlib writes it: the
# two differ only in how floats are spelt, by at most a quarter of a number's length (1e16 against 1e+16).
_FAST_CONTEXT_BYTES = MAX_CONTEXT_BYTES // 2
# A context with at most this many containers (its own braces included) cannot nest past _check_json's limit.
_FAST_CONTAINERS = 64
# A timestamp already in the form isoformat() gives back (what producers write): date and time in range as far
# as a pattern can tell, six fraction digits unless all zero, an offset other than -00:00 and under 16 hours,
# a year other than 1 and 9999 (where the offset may carry the UTC value out of range: _timestamp decides).
# fromisoformat still has the last word on the date (the 31st of a short month, the 29th of February).
_ISOFORMAT_TEXT = re.compile(
    r"(?!0001|9999)[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
    r"(?:\.(?!000000)[0-9]{6})?(?:\+(?:0[0-9]|1[0-5]):[0-5][0-9]|-(?!00:00)(?:0[0-9]|1[0-5]):[0-5][0-9])"
).fullmatch
_fromisoformat = datetime.fromisoformat


def read_stored(data: bytes) -> Stored:
    """``stored(parse(decode(data)))`` for a consumer (no producer defaults): the same columns, or the same
    InvalidEvent, about four times faster. Only the context's text may differ: the same JSON value, but floats
    may be spelt differently (``1e16`` for ``1e+16``).

    msgspec decodes the wire bytes in C, straight into the wire fields with their JSON types checked, refusing
    what shared.events refuses (invalid UTF-8, lone surrogates, NaN, Infinity and numbers beyond a float,
    unknown fields, a bool for an int) and giving the stdlib's values for what it accepts (integers of any size
    included). What is left to check here is cheap; the context is encoded once, in C, for the NUL check, the
    size limit and the text stored; a timestamp already in isoformat()'s form is stored as it came. Whatever
    the fast path is not sure of, it hands to ``parse(decode(data))``, which gives today's verdict and reason:
    poison records pay for both.
    """
    fast_decode, fast_encode = _reader()
    try:
        wire = fast_decode(data)
    except Exception:  # whatever msgspec refuses, the stdlib path judges and names the reason
        return stored(parse(decode(data)))
    ident, source, level, message, stack = wire.event_id, wire.source, wire.level, wire.message, wire.stack
    occurred, received = wire.occurred_at, wire.received_at
    if (
        not _CANONICAL_UUID(ident)
        or not 0 < len(source) <= MAX_SOURCE_CHARS
        or "\x00" in source
        or not message
        or "\x00" in message
        or (len(message) > MAX_MESSAGE_BYTES // 4 and len(message.encode("utf-8")) > MAX_MESSAGE_BYTES)
        or (
            stack is not None
            and (
                "\x00" in stack or (len(stack) > MAX_STACK_BYTES // 4 and len(stack.encode("utf-8")) > MAX_STACK_BYTES)
            )
        )
    ):
        return stored(parse(decode(data)))
    if level not in LEVELS:
        level = level.upper()
        if level not in LEVELS:
            return stored(parse(decode(data)))
    try:
        if _ISOFORMAT_TEXT(occurred):
            _fromisoformat(occurred)
        else:
            occurred = _timestamp(occurred, "occurred_at").isoformat()
        if _ISOFORMAT_TEXT(received):
            _fromisoformat(received)
        else:
            received = _timestamp(received, "received_at").isoformat()
    except (InvalidEvent, ValueError):  # from _timestamp, or a date fromisoformat refuses
        return stored(parse(decode(data)))
    context = wire.context
    if context:
        text = fast_encode(context)
        if (
            len(text) > _FAST_CONTEXT_BYTES
            or b"\\u0000" in text  # a NUL in a key or a string (or a false alarm, an escaped backslash before u0000)
            or (text.count(b"{") + text.count(b"[") > _FAST_CONTAINERS and not _storable(context))
        ):
            return stored(parse(decode(data)))
        context_json = text.decode("utf-8")
    else:
        context_json = "{}"
    return (ident, source, level, message, occurred, received, context_json, stack)
