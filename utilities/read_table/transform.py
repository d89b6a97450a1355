"""read_table's decisions: check the request, encode and verify cursors, make rows JSON-safe (pure)."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from shared.tables import ALLOWED, KeyType

__all__ = [
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "SUMMARY_TABLES",
    "BadRequest",
    "Query",
    "Summary",
    "encode_cursor",
    "json_row",
    "parse",
    "summary_reply",
]

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


class BadRequest(Exception):
    """The request cannot be served; the message says why. No SQL has run."""


@dataclass(frozen=True, slots=True)
class Query:
    table: str
    key: tuple[str, ...]
    limit: int
    after: tuple[Any, ...] | None


@dataclass(frozen=True, slots=True)
class Summary:
    """Counts of a table's rows grouped by each of ``groups`` (output name -> column), at most ``limit`` groups
    each, largest first (days: newest first)."""

    table: str
    groups: tuple[tuple[str, str], ...]
    limit: int


# Tables with a summary, and what it groups by: output name -> column ("day" is the UTC day of created_at).
SUMMARY_TABLES: dict[str, tuple[tuple[str, str], ...]] = {
    "dead_letters": (("by_reason", "reason"), ("by_source", "event_source_arn"), ("by_day", "day")),
}


def _key_value(kind: KeyType, value: Any) -> Any:
    if kind == "uuid" and isinstance(value, str):
        return str(uuid.UUID(value))
    if kind == "bigint" and isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**63:
        return value
    if kind == "timestamptz" and isinstance(value, str):
        parsed = datetime.fromisoformat(value)
        if parsed.tzinfo is None:
            raise ValueError("naive timestamp")
        return parsed.isoformat()
    raise ValueError(f"not a {kind}")


def _decode_cursor(table: str, cursor: Any) -> tuple[Any, ...]:
    if not isinstance(cursor, str) or len(cursor) > 512:
        raise BadRequest("after must be a cursor string returned by an earlier call")
    try:
        decoded = json.loads(base64.urlsafe_b64decode(cursor.encode("ascii")))
        if not isinstance(decoded, dict) or decoded.get("table") != table:
            raise ValueError("cursor is for another table")
        values = decoded["after"]
        columns = ALLOWED[table]
        if not isinstance(values, list) or len(values) != len(columns):
            raise ValueError("wrong number of key values")
        return tuple(_key_value(kind, v) for (_, kind), v in zip(columns, values, strict=True))
    except (ValueError, KeyError, TypeError, UnicodeError, binascii.Error) as e:
        raise BadRequest(f"after is not a valid cursor for table {table}: {e}") from e


def encode_cursor(table: str, values: Sequence[Any]) -> str:
    plain = [v.isoformat() if isinstance(v, datetime) else str(v) if isinstance(v, uuid.UUID) else v for v in values]
    return base64.urlsafe_b64encode(json.dumps({"table": table, "after": plain}).encode()).decode("ascii")


def parse(event: Any) -> Query | Summary:
    """``{"table": "errors", "limit": 100, "after": <cursor>}`` -> a checked Query;
    ``{"table": "dead_letters", "summary": true, "limit": 100}`` -> a checked Summary."""
    if not isinstance(event, Mapping):
        raise BadRequest("the event must be a JSON object")
    unknown = set(event) - {"table", "limit", "after", "summary"}
    if unknown:
        raise BadRequest(f"unknown field(s): {', '.join(sorted(map(str, unknown)))}")
    table = event.get("table")
    if not isinstance(table, str) or table not in ALLOWED:
        raise BadRequest(f"table must be one of {', '.join(sorted(ALLOWED))}, got {str(table)[:64]!r}")
    limit = event.get("limit", DEFAULT_LIMIT)
    if not isinstance(limit, int) or isinstance(limit, bool):
        raise BadRequest(f"limit must be an integer, got {type(limit).__name__}")
    if not 1 <= limit <= MAX_LIMIT:
        raise BadRequest(f"limit must be between 1 and {MAX_LIMIT}, got {limit}")
    summary = event.get("summary", False)
    if not isinstance(summary, bool):
        raise BadRequest(f"summary must be true or false, got {type(summary).__name__}")
    if summary:
        if table not in SUMMARY_TABLES:
            raise BadRequest(f"summary is available for {', '.join(sorted(SUMMARY_TABLES))} only, not {table}")
        if "after" in event:
            raise BadRequest("a summary has no pages: leave out after")
        return Summary(table=table, groups=SUMMARY_TABLES[table], limit=limit)
    after = event.get("after")
    return Query(
        table=table,
        key=tuple(name for name, _ in ALLOWED[table]),
        limit=limit,
        after=None if after is None else _decode_cursor(table, after),
    )


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bytes | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, Decimal):
        return str(value)
    return value


def json_row(columns: Sequence[str], row: Sequence[Any]) -> dict[str, Any]:
    return {name: _json_value(value) for name, value in zip(columns, row, strict=True)}


def summary_reply(summary: Summary, rows: Sequence[Sequence[Any]]) -> dict[str, Any]:
    """The answer to a Summary from rows of (group index or None for the total, key, count).

    Each grouping keeps its ``limit`` largest groups (days: the newest), and says how many it left out, so the
    counts shown plus ``left_off`` always add up to ``total``.
    """
    total = 0
    found: dict[int, list[tuple[Any, int]]] = {i: [] for i in range(len(summary.groups))}
    for index, key, count in rows:
        if index is None:
            total = int(count)
        else:
            found[int(index)].append((key, int(count)))
    reply: dict[str, Any] = {"total": total}
    for i, (name, column) in enumerate(summary.groups):
        groups = found[i]
        if column == "day":
            groups.sort(key=lambda g: g[0], reverse=True)
        else:
            groups.sort(key=lambda g: (-g[1], str(g[0])))
        kept = groups[: summary.limit]
        reply[name] = [{column: _json_value(key), "count": count} for key, count in kept]
        reply[f"{name}_left_off"] = sum(count for _, count in groups[summary.limit :])
    return reply
