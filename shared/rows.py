"""The consumer's fast path from wire bytes to a stored row: ``read_stored(data)`` is
``events.stored(events.parse(events.decode(data)))``, the same columns or the same InvalidEvent, about four
times faster (msgspec decodes and type-checks in C); ``read_stored_many(chunk)`` is read_stored of each record,
faster again on a chunk of valid events, because it runs each check once over the chunk instead of once a record.

shared.events holds the schema and has the last word: whatever this path is not sure of, it hands to
``events.parse(events.decode(data))``. The schema is what every function shares; this is the consumers'
optimisation of reading it, so it lives apart (producers never load it, nor msgspec).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from datetime import date, datetime
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

__all__ = ["load_reader", "read_stored", "read_stored_many"]


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
# A context with at most this many containers (its own braces included) cannot nest past _check_json's limit,
# and one of at most twice as many bytes cannot hold more (each container is two brackets), so is not counted.
_FAST_CONTAINERS = 64
_UNCOUNTED_BYTES = 2 * _FAST_CONTAINERS
# A timestamp already in the form isoformat() gives back (what producers write): date and time in range as far
# as a pattern can tell, six fraction digits unless all zero, an offset other than -00:00 and under 16 hours,
# a year other than 1 and 9999 (where the offset may carry the UTC value out of range: _timestamp decides).
# fromisoformat still has the last word on the date (the 31st of a short month, the 29th of February).
_ISOFORMAT = (
    r"(?!0001|9999)[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
    r"(?:\.(?!000000)[0-9]{6})?(?:\+(?:0[0-9]|1[0-5]):[0-5][0-9]|-(?!00:00)(?:0[0-9]|1[0-5]):[0-5][0-9])"
)
_ISOFORMAT_TEXT = re.compile(_ISOFORMAT).fullmatch
_ISOFORMAT_TEXTS = re.compile(f"(?:{_ISOFORMAT}\t)*{_ISOFORMAT}").fullmatch  # joined by tabs (_times)
_fromisoformat = datetime.fromisoformat
_date_fromisoformat = date.fromisoformat


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
        occurred = _stored_time(occurred, "occurred_at")
        received = _stored_time(received, "received_at")
    except (InvalidEvent, ValueError):  # from _timestamp, or a date fromisoformat refuses
        return stored(parse(decode(data)))
    context = wire.context
    if context:
        text = fast_encode(context)
        if (
            len(text) > _FAST_CONTEXT_BYTES
            or b"\\u0000" in text  # a NUL in a key or a string (or a false alarm, an escaped backslash before u0000)
            or (
                len(text) > _UNCOUNTED_BYTES
                and text.count(b"{") + text.count(b"[") > _FAST_CONTAINERS
                and not _storable(context)
            )
        ):
            return stored(parse(decode(data)))
        context_json = text.decode("utf-8")
    else:
        context_json = "{}"
    return (ident, source, level, message, occurred, received, context_json, stack)


def read_stored_many(datas: Sequence[bytes]) -> list[Stored | Exception]:
    """``read_stored`` of each record, in order: the row it returns, or the exception it raises (an InvalidEvent
    with its reason; anything else is a reader's failure on that record alone).

    A chunk of valid events, what a consumer reads nearly always, is checked column by column: the event ids
    joined and scanned once, one NUL check over all the sources and messages, each distinct received_at (a
    producer stamps one per request) checked once, and so on, about a third cheaper than a record at a time.
    If any record fails any of these checks, every record of the chunk is read by read_stored alone, so a
    poison record costs its chunk a second reading. Only that fallback is read_stored's by construction: the
    rows of the chunk path are read_stored's only while its column checks accept exactly what read_stored's
    fast path accepts, record for record (test_read_stored holds them to it).
    """
    try:
        fast = _read_chunk(datas) if len(datas) > 1 else None
    except Exception:  # defence in depth: a flaw of the chunk's checks must not cost its records more than time
        fast = None
    return list(fast) if fast is not None else [_read_one(data) for data in datas]


def _read_one(data: bytes) -> Stored | Exception:
    try:
        return read_stored(data)
    except Exception as e:  # the caller tells an InvalidEvent from a reader's own failure
        return e


_UUID_TEXT = b"0123456789abcdef-\t"  # what a chunk's canonical event ids, joined by tabs, are made of
_UUID_LENGTH = 36


def _read_chunk(datas: Sequence[bytes]) -> list[Stored] | None:
    """read_stored's fast path for every record of ``datas`` at once, each check over a whole column; None as
    soon as any record fails one (the caller then reads each alone). Only the rows read_stored's fast path
    would give for every record are returned."""
    fast_decode, fast_encode = _reader()
    try:
        # One record at a time: decoded joined as one array, two halves of broken records could pass for events.
        wires = [fast_decode(data) for data in datas]
    except Exception:
        return None
    n = len(wires)
    # The ids joined by tabs: n - 1 tabs, each at a multiple of 37 less one, make every id 36 characters long;
    # the dashes at the four places of each, and no others; and nothing else than lower-case hex digits.
    ids = [wire.event_id for wire in wires]
    joined = "\t".join(ids)
    step = _UUID_LENGTH + 1
    if (
        len(joined) != step * n - 1
        or not joined.isascii()
        or joined.encode("ascii").translate(None, _UUID_TEXT)
        or joined.count("\t") != n - 1
        or joined[_UUID_LENGTH::step].count("\t") != n - 1
        or joined.count("-") != 4 * n
        or joined[8::step].count("-") != n
        or joined[13::step].count("-") != n
        or joined[18::step].count("-") != n
        or joined[23::step].count("-") != n
    ):
        return None
    sources = [wire.source for wire in wires]
    messages = [wire.message for wire in wires]
    stacks = [wire.stack for wire in wires]
    traces = [stack for stack in stacks if stack is not None]
    source_lengths = list(map(len, sources))
    message_lengths = list(map(len, messages))
    if (
        min(source_lengths) == 0
        or max(source_lengths) > MAX_SOURCE_CHARS
        or min(message_lengths) == 0
        or "\x00" in "".join(sources)
        or "\x00" in "".join(messages)
        or "\x00" in "".join(traces)
        or _oversized(messages, message_lengths, MAX_MESSAGE_BYTES)
        or (traces and _oversized(traces, list(map(len, traces)), MAX_STACK_BYTES))
    ):
        return None
    levels = [level if level in LEVELS else level.upper() for level in (wire.level for wire in wires)]
    if not LEVELS.issuperset(levels):
        return None
    try:
        occurred = _times([wire.occurred_at for wire in wires], "occurred_at")
        received_at = [wire.received_at for wire in wires]
        distinct = {text: _times([text], "received_at")[0] for text in set(received_at)}
        received = [distinct[text] for text in received_at]
    except (InvalidEvent, ValueError):  # from _timestamp, or a date fromisoformat refuses
        return None
    contexts = [wire.context for wire in wires]
    texts = list(map(fast_encode, contexts))  # an empty context is b"{}", as read_stored writes it
    lengths = list(map(len, texts))
    if max(lengths) > _FAST_CONTEXT_BYTES or (
        max(lengths) > _UNCOUNTED_BYTES
        and any(
            text.count(b"{") + text.count(b"[") > _FAST_CONTAINERS and not _storable(context)
            for text, context in zip(texts, contexts, strict=True)
            if len(text) > _UNCOUNTED_BYTES
        )
    ):
        return None
    # Compact JSON holds no newline byte (msgspec escapes control characters), so one join, decode and split
    # gives each text; no NUL escape in the whole means none in any (each text starts with { and ends with }).
    everything = b"\n".join(texts)
    if b"\\u0000" in everything:
        return None
    columns = everything.decode("utf-8").split("\n")
    return list(zip(ids, sources, levels, messages, occurred, received, columns, stacks, strict=True))


def _oversized(texts: Sequence[str], lengths: Sequence[int], limit: int) -> bool:
    """Whether any text is over ``limit`` bytes as UTF-8 (only those over a quarter of it in characters can be)."""
    quarter = limit // 4
    return max(lengths) > quarter and any(len(text.encode("utf-8")) > limit for text in texts if len(text) > quarter)


def _times(texts: list[str], field: str) -> list[str]:
    """Each timestamp as read_stored stores it: kept as it came when in isoformat()'s form, otherwise parsed by
    the schema and written again. Raises InvalidEvent, or ValueError for a date fromisoformat refuses.

    The common case, every one in isoformat()'s form, is one match of the pattern over them all joined, then
    one date check for each distinct day: the pattern has already bounded every other field, so the day of the
    month is all fromisoformat has left to refuse (the 31st of a short month, the 29th of February). The joined
    text must hold no tab but the joins' own: a text holding one between two timestamps would pass for two."""
    joined = "\t".join(texts)
    if joined.count("\t") == len(texts) - 1 and _ISOFORMAT_TEXTS(joined):
        for day in {text[:10] for text in texts}:
            _date_fromisoformat(day)
        return texts
    return [_stored_time(text, field) for text in texts]


def _stored_time(text: str, field: str) -> str:
    """One timestamp as stored: as it came when in isoformat()'s form (fromisoformat judging the date), else
    parsed by the schema and written again. Raises InvalidEvent, or ValueError for a date fromisoformat refuses."""
    if _ISOFORMAT_TEXT(text):
        _fromisoformat(text)
        return text
    return _timestamp(text, field).isoformat()
