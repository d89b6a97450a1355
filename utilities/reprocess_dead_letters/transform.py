"""reprocess_dead_letters' decisions: which dead letters to read, and what each one is today (pure).

A dead letter keeps what the consumer could not use: for a user record (sub_sequence_number >= 0) ``raw`` is
that user record's data, the event's JSON; for a whole Kinesis record (sub_sequence_number -1) it is the
record as the consumer had it: the decoded bytes of an aggregate it could not read, or, when the record's data
was not even base64, that data's text. ``judge`` puts each through the consumer's steps again, with today's
code: base64, de-aggregation (shared.kinesis), then the schema (shared.rows.read_stored), and says which
rows it gives for ``errors`` and which of its user records are still dead letters, and why.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from shared import kinesis, sink
from shared.exceptions import Rejected

__all__ = [
    "DEAD_LETTER_COLUMNS",
    "DEAD_LETTER_KEY",
    "DEFAULT_PAGE",
    "ERROR_COLUMNS",
    "ERROR_KEY",
    "MAX_PAGE",
    "WHOLE_RECORD",
    "DeadLetter",
    "Request",
    "Totals",
    "Verdict",
    "judge",
    "parse_request",
    "selection",
]

# The columns and keys the consumer writes: one definition, in shared.sink, for both.
ERROR_COLUMNS, ERROR_KEY = sink.ERROR_COLUMNS, sink.ERROR_KEY
DEAD_LETTER_COLUMNS, DEAD_LETTER_KEY = sink.DEAD_LETTER_COLUMNS, sink.DEAD_LETTER_KEY
WHOLE_RECORD = sink.WHOLE_RECORD
DEFAULT_PAGE = 1000
MAX_PAGE = 1000
_FIELDS = frozenset({"reason", "since", "until", "stream", "dry_run", "page_size", "confirm"})


@dataclass(frozen=True, slots=True)
class Request:
    """Which dead letters to read again: reason containing ``reason`` (any case), created in [since, until),
    from the stream ``stream`` (its ARN, as event_source_arn holds it); all of them when a filter is None."""

    reason: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    stream: str | None = None
    dry_run: bool = False
    page_size: int = DEFAULT_PAGE


class DeadLetter(NamedTuple):
    """A dead_letters row, as the handler selects it."""

    id: int
    event_source_arn: str
    shard_id: str
    sequence_number: str
    sub_sequence_number: int
    partition_key: str
    reason: str
    raw: bytes


@dataclass(frozen=True, slots=True)
class Verdict:
    """What a dead letter is today. ``reason`` is None when it goes: every user record it held is in ``rows``
    (for ``errors``) or ``dead`` (new dead letters, one per user record still invalid, when a whole record can
    now be split). Otherwise it stays, with ``reason`` (today's, which may differ from the stored one)."""

    rows: list[tuple[Any, ...]] = field(default_factory=list)
    dead: list[tuple[Any, ...]] = field(default_factory=list)
    reason: str | None = None


def _timestamp(event: Mapping[str, Any], name: str) -> datetime | None:
    value = event.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise Rejected(400, f"{name} must be an ISO 8601 timestamp with a zone, got {type(value).__name__}")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as e:
        raise Rejected(400, f"{name} must be an ISO 8601 timestamp with a zone, got {value[:64]!r}") from e
    if parsed.tzinfo is None:
        raise Rejected(400, f"{name} must carry a time zone (Z or +hh:mm), got {value[:64]!r}")
    return parsed


def _text(event: Mapping[str, Any], name: str) -> str | None:
    value = event.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > 2048:
        raise Rejected(400, f"{name} must be a non-empty string of at most 2048 characters")
    return value


def parse_request(event: Any, *, stage: str, unconfirmed_stages: Collection[str]) -> Request:
    """``{"reason": "...", "since": ISO, "until": ISO, "stream": ARN, "dry_run": bool, "page_size": n,
    "confirm": stage}`` -> a checked Request, or Rejected saying why not.

    Outside ``unconfirmed_stages`` (the stages whose data is disposable, RESET_ALLOWED_STAGES: an allow-list, so
    a production stage is protected whatever it is called) a run that changes anything must carry
    ``"confirm": "<stage>"``; a dry run needs none.
    """
    if not isinstance(event, Mapping):
        raise Rejected(400, "the event must be a JSON object")
    unknown = set(event) - _FIELDS
    if unknown:
        raise Rejected(400, f"unknown field(s): {', '.join(sorted(map(str, unknown)))}")
    dry_run = event.get("dry_run", False)
    if not isinstance(dry_run, bool):
        raise Rejected(400, f"dry_run must be true or false, got {type(dry_run).__name__}")
    page = event.get("page_size", DEFAULT_PAGE)
    if not isinstance(page, int) or isinstance(page, bool) or not 1 <= page <= MAX_PAGE:
        raise Rejected(400, f"page_size must be an integer between 1 and {MAX_PAGE}, got {str(page)[:32]}")
    since, until = _timestamp(event, "since"), _timestamp(event, "until")
    if since is not None and until is not None and since >= until:
        raise Rejected(400, f"since ({since.isoformat()}) must be before until ({until.isoformat()})")
    stream = _text(event, "stream")
    if stream is not None and not stream.startswith("arn:"):
        raise Rejected(400, f"stream must be the stream's ARN (as event_source_arn holds it), got {stream[:64]!r}")
    if stage not in unconfirmed_stages and not dry_run and event.get("confirm") != stage:
        raise Rejected(
            403,
            f'stage {stage!r} is not one of RESET_ALLOWED_STAGES: add "confirm": "{stage}" to reprocess dead letters '
            '(or run with "dry_run": true first, which changes nothing)',
        )
    return Request(
        reason=_text(event, "reason"), since=since, until=until, stream=stream, dry_run=dry_run, page_size=page
    )


def _user_records(letter: DeadLetter) -> list[kinesis.UserRecord | kinesis.CorruptRecord] | str:
    """The user records a dead letter holds, read as the consumer reads them today, or why they cannot be."""
    if letter.sub_sequence_number != WHOLE_RECORD:
        return [
            kinesis.UserRecord(
                letter.raw, letter.partition_key, letter.shard_id, letter.sequence_number, letter.sub_sequence_number
            )
        ]
    raw = letter.raw
    if raw[: len(kinesis.MAGIC)] != kinesis.MAGIC:
        # Not an aggregate, so the consumer set it aside before de-aggregating: its raw is the data as received.
        try:
            raw = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            return "record data is not base64"
    result = kinesis.deaggregate_one(raw, letter.partition_key, letter.shard_id, letter.sequence_number)
    return result.reason if isinstance(result, kinesis.CorruptRecord) else result


def judge(letter: DeadLetter) -> Verdict:
    """Put one dead letter through today's consumer steps (shared.sink). Never raises on its content."""
    records = _user_records(letter)
    if isinstance(records, str):
        return Verdict(reason=records)
    plan = sink.Plan(event_source_arn=letter.event_source_arn)
    for record in records:
        sink.take(record, plan)
    if letter.sub_sequence_number != WHOLE_RECORD and plan.dead_letters:
        return Verdict(reason=plan.dead_letters[0][DEAD_LETTER_COLUMNS.index("reason")])
    return Verdict(rows=plan.rows, dead=plan.dead_letters)


@dataclass
class Totals:
    """The run's accounting. Every dead letter examined is either ``moved`` (gone from dead_letters: its rows
    are in errors, as new rows or as duplicates of rows already there, and its still-invalid user records, if
    it was a whole record, are dead letters of their own) or ``kept`` (still a dead letter)."""

    examined: int = 0
    moved: int = 0
    kept: int = 0
    rows_written: int = 0
    duplicates: int = 0
    reasons_updated: int = 0
    split_dead_letters: int = 0
    pages: int = 0
    by_reason: dict[str, dict[str, int]] = field(default_factory=dict)

    def count(self, old_reason: str, *, moved: bool) -> None:
        self.examined += 1
        if moved:
            self.moved += 1
        else:
            self.kept += 1
        group = self.by_reason.setdefault(old_reason, {"examined": 0, "valid_now": 0, "still_invalid": 0})
        group["examined"] += 1
        group["valid_now" if moved else "still_invalid"] += 1

    def add(self, other: Totals) -> None:
        for name in ("examined", "moved", "kept", "rows_written", "duplicates", "reasons_updated"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.split_dead_letters += other.split_dead_letters
        self.pages += other.pages
        for reason, group in other.by_reason.items():
            mine = self.by_reason.setdefault(reason, {"examined": 0, "valid_now": 0, "still_invalid": 0})
            for key, value in group.items():
                mine[key] += value

    def report(self) -> dict[str, Any]:
        return {
            "examined": self.examined,
            "moved": self.moved,
            "kept": self.kept,
            "rows_written": self.rows_written,
            "duplicates": self.duplicates,
            "reasons_updated": self.reasons_updated,
            "split_dead_letters": self.split_dead_letters,
            "pages": self.pages,
            "by_reason": dict(sorted(self.by_reason.items(), key=lambda kv: (-kv[1]["examined"], kv[0]))),
        }


def selection(request: Request) -> tuple[list[str], list[Any]]:
    """The WHERE conditions (SQL text with %s placeholders, nothing from the request in it) and their values."""
    conditions: list[str] = []
    values: list[Any] = []
    if request.reason is not None:
        conditions.append("strpos(lower(reason), lower(%s)) > 0")
        values.append(request.reason)
    if request.since is not None:
        conditions.append("created_at >= %s")
        values.append(request.since)
    if request.until is not None:
        conditions.append("created_at < %s")
        values.append(request.until)
    if request.stream is not None:
        conditions.append("event_source_arn = %s")
        values.append(request.stream)
    return conditions, values
