"""How a Kinesis user record becomes an ``errors`` row or a dead letter with a reason (pure).

The consumer's decisions, kept here rather than in ``consumers/error_sink`` because reprocess_dead_letters
makes the same decisions again, today, over what the consumer once set aside; a function's zip carries
``shared/`` and its own folder only.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from shared import bulk, events, kinesis, rows
from shared.exceptions import InvalidEvent

__all__ = [
    "CHUNK",
    "DEAD_LETTER_COLUMNS",
    "DEAD_LETTER_KEY",
    "ERROR_COLUMNS",
    "ERROR_KEY",
    "WHOLE_RECORD",
    "Outcome",
    "Plan",
    "copy_line",
    "plan",
    "refused",
    "storable",
    "stream",
    "take",
]

# The event's own columns, as rows.read_stored gives them, then where in the stream it was read.
ERROR_COLUMNS = (*events.STORED_COLUMNS, "shard_id", "sequence_number", "sub_sequence_number")
# errors is partitioned by occurred_at (migration 0007), and a unique key there must hold the partition key: a
# resend carries the same occurred_at, so it meets its first delivery in the same partition.
ERROR_KEY = ("event_id", "occurred_at")
DEAD_LETTER_COLUMNS = (
    "event_source_arn",
    "shard_id",
    "sequence_number",
    "sub_sequence_number",
    "partition_key",
    "reason",
    "raw",
)
DEAD_LETTER_KEY = ("event_source_arn", "shard_id", "sequence_number", "sub_sequence_number")
WHOLE_RECORD = kinesis.WHOLE_RECORD  # sub-sequence number of a dead letter that is a whole Kinesis record


@dataclass(slots=True)
class Plan:
    """What one batch should write: rows for ``errors`` and rows for ``dead_letters``."""

    records_in: int = 0
    event_source_arn: str = ""
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    dead_letters: list[tuple[Any, ...]] = field(default_factory=list)
    # For each row, the user record it came from, so a row PostgreSQL refuses can become a dead letter.
    sources: list[kinesis.UserRecord] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Outcome:
    """The batch's accounting: records_in == rows_written + duplicates + dead_letters, always."""

    records_in: int
    rows_written: int
    duplicates: int
    dead_letters: int

    @classmethod
    def of(cls, plan: Plan, written: int, rejected: Sequence[tuple[int, str]]) -> Outcome:
        """The accounting of a written plan: every row not written and not refused was already stored."""
        refused = len(rejected)
        return cls(plan.records_in, written, len(plan.rows) - refused - written, len(plan.dead_letters) + refused)

    def response(self) -> dict[str, Any]:
        """The consumer's answer to Lambda: success (no batch item failures; data errors never fail a batch), and
        its accounting, which Lambda ignores and redrive reports."""
        return {
            "batchItemFailures": [],
            "rowsWritten": self.rows_written,
            "duplicatesSkipped": self.duplicates,
            "deadLetters": self.dead_letters,
        }

    def metrics(self) -> dict[str, int]:
        return {
            "RecordsIn": self.records_in,
            "RowsWritten": self.rows_written,
            "DuplicatesSkipped": self.duplicates,
            "DeadLetters": self.dead_letters,
        }


_NULL = "\\N"


def copy_line(row: Sequence[Any]) -> str:
    """A row of stream() as a COPY text line: bulk.copy_line's text, faster (the handler passes it to bulk).

    Its event_id (a canonical UUID), level (a name) and timestamps (isoformat text) never need escaping, so only
    the sender's text (source, message, context, stack) and the record's shard and sequence are scanned, at once,
    instead of every field in turn; a row with anything to escape goes to bulk.copy_line.
    """
    ident, source, level, message, occurred, received, context, stack, shard, seq, sub = row
    try:
        scan = source + message + context + (stack or "") + shard + seq
    except TypeError:  # not all text: bulk's formatter knows every type
        return bulk.copy_line(row)
    if "\\" in scan or "\t" in scan or "\n" in scan or "\r" in scan:
        return bulk.copy_line(row)
    return (
        f"{ident}\t{source}\t{level}\t{message}\t{occurred}\t{received}\t{context}\t"
        f"{_NULL if stack is None else stack}\t{shard}\t{seq}\t{sub}\n"
    )


MAX_REASON_CHARS = 2000


def storable(text: str | bytes, limit: int = MAX_REASON_CHARS) -> str:
    """``text`` as a PostgreSQL text column will take it, whatever arrived: NUL and lone surrogates are written
    as escapes, and a very long text is cut. A dead letter must never fail its batch; the exact bytes are in raw.

    Bytes are read as UTF-8 with escapes: protobuf hands a KPL partition key that is not UTF-8 over as bytes."""
    if not isinstance(text, str):
        text = bytes(text).decode("utf-8", "backslashreplace") if isinstance(text, bytes | bytearray) else str(text)
    if "\x00" in text:
        text = text.replace("\x00", "\\x00")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _dead(arn: str, record: kinesis.UserRecord | kinesis.CorruptRecord, sub: int, reason: str) -> tuple[Any, ...]:
    return (
        storable(arn),
        storable(record.shard_id),
        storable(record.sequence_number),
        sub,
        storable(record.partition_key),
        storable(reason),
        record.data,
    )


# How many user records are read at once (rows.read_stored_many): enough to run each check over a column, few
# enough that the COPY's first chunk does not wait long for its rows.
CHUNK = 64


def stream(records: Sequence[dict[str, Any]], out: Plan) -> Iterator[tuple[Any, ...]]:
    """plan(), a chunk of rows at a time: yield each ``errors`` row as soon as its chunk is read, filling ``out``
    (rows, sources, dead letters, the count) as it goes, so a COPY can load rows while the rest are being read.

    ``out`` is complete once the iterator is exhausted. Never raises on record content.
    """
    first = records[0] if records else {}
    out.event_source_arn = str(first.get("eventSourceARN", "")) if isinstance(first, dict) else ""
    chunk: list[kinesis.UserRecord | kinesis.CorruptRecord] = []
    for item in kinesis.deaggregate(records):
        chunk.append(item)
        if len(chunk) == CHUNK:
            yield from _take_chunk(chunk, out)
            chunk = []
    yield from _take_chunk(chunk, out)


def take(item: kinesis.UserRecord | kinesis.CorruptRecord, out: Plan) -> tuple[Any, ...] | None:
    """One user record into ``out``: its ``errors`` row (also returned), or a dead letter with its reason (None).
    Never raises on the record's content."""
    return next(iter(_take_chunk([item], out)), None)


def _take_chunk(items: Sequence[kinesis.UserRecord | kinesis.CorruptRecord], out: Plan) -> list[tuple[Any, ...]]:
    """Records into ``out`` in their order, each an ``errors`` row (returned too) or a dead letter with its
    reason. Never raises on the records' content."""
    users = [item for item in items if not isinstance(item, kinesis.CorruptRecord)]
    try:
        read = rows.read_stored_many([user.data for user in users])
    except Exception as e:  # defence in depth: read_stored_many gives each record's failure as its result
        read = [e] * len(users)
    if len(users) == len(items) and set(map(type, read)) <= {tuple}:  # the common case: every one a row
        # A UserRecord's last three fields are the row's last three columns: shard, sequence, sub-sequence.
        taken = [row + user[2:] for row, user in zip(read, users, strict=True)]  # type: ignore[operator]
        out.records_in += len(items)
        out.rows += taken
        out.sources += users
        return taken
    results = iter(read)
    taken = []
    for item in items:
        out.records_in += 1
        if isinstance(item, kinesis.CorruptRecord):
            out.dead_letters.append(_dead(out.event_source_arn, item, item.sub_sequence_number, item.reason))
            continue
        result = next(results)
        if isinstance(result, Exception):
            reason = (
                str(result)
                if isinstance(result, InvalidEvent)
                else f"record unreadable: {type(result).__name__}: {result}"  # a reader's failure is the record's
            )
            out.dead_letters.append(_dead(out.event_source_arn, item, item.sub_sequence_number, reason))
            continue
        row = (*result, item.shard_id, item.sequence_number, item.sub_sequence_number)
        out.rows.append(row)
        out.sources.append(item)
        taken.append(row)
    return taken


def plan(records: Sequence[dict[str, Any]]) -> Plan:
    """Turn a Lambda Kinesis event's Records into rows and dead letters. Never raises on record content."""
    out = Plan()
    for _ in stream(records, out):
        pass
    return out


def refused(plan: Plan, rejected: Sequence[tuple[int, str]]) -> list[tuple[Any, ...]]:
    """Dead letters for rows PostgreSQL refused (the validation backstop)."""
    arn = plan.event_source_arn
    return [_dead(arn, plan.sources[i], plan.sources[i].sub_sequence_number, reason) for i, reason in rejected]
