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

from shared.exceptions import Rejected
from shared.tables import ALLOWED, KeyType

__all__ = [
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "SUMMARY_TABLES",
    "Query",
    "Summary",
    "encode_cursor",
    "json_row",
    "parse_request",
    "summary_reply",
]

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


@dataclass(frozen=True, slots=True)
class Query:
    table: str
    key: tuple[str, ...]
    limit: int
    after: tuple[Any, ...] | None
    since: str | None = None  # only rows written at or after this time (RFC 3339); cursors carry it on


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
    if kind == "xid8" and isinstance(value, str) and value.isascii() and value.isdigit() and int(value) < 2**64:
        return str(int(value))
    if kind == "timestamptz" and value == "infinity":
        return value
    if kind == "timestamptz" and isinstance(value, str):
        parsed = datetime.fromisoformat(value)
        if parsed.tzinfo is None:
            raise ValueError("naive timestamp")
        return parsed.isoformat()
    raise ValueError(f"not a {kind}")


def _timestamp(value: Any, name: str) -> str:
    if not isinstance(value, str) or len(value) > 64:
        raise ValueError(f"{name} must be an RFC 3339 timestamp string")
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError(f"{name} must carry a time zone (Z or +hh:mm)")
    return parsed.isoformat()


def _decode_cursor(table: str, cursor: Any) -> tuple[tuple[Any, ...] | None, str | None]:
    """A cursor -> (key values after which the page starts, or None for the start; the since filter)."""
    if not isinstance(cursor, str) or len(cursor) > 512:
        raise Rejected(400, "after must be a cursor string returned by an earlier call")
    try:
        decoded = json.loads(base64.urlsafe_b64decode(cursor.encode("ascii")))
        if not isinstance(decoded, dict) or decoded.get("table") != table:
            raise ValueError("cursor is for another table")
        values = decoded["after"]
        since = decoded.get("since")
        since = None if since is None else _timestamp(since, "since")
        if values is None:
            return None, since
        columns = ALLOWED[table]
        if table == "errors" and isinstance(values, list) and len(values) == 2:
            # A cursor handed out before errors' key gained occurred_at (migration 0007): it resumes after every
            # row of its (txid, event_id), and no occurred_at sorts after infinity.
            values = [*values, "infinity"]
        if not isinstance(values, list) or len(values) != len(columns):
            raise ValueError("wrong number of key values")
        return tuple(_key_value(kind, v) for (_, kind), v in zip(columns, values, strict=True)), since
    except (ValueError, KeyError, TypeError, UnicodeError, binascii.Error) as e:
        raise Rejected(400, f"after is not a valid cursor for table {table}: {e}") from e


def encode_cursor(table: str, values: Sequence[Any] | None, *, since: str | None = None) -> str:
    """A cursor for the page after the row with key ``values`` (None: from the first row), keeping ``since``."""
    plain = (
        None
        if values is None
        else [v.isoformat() if isinstance(v, datetime) else str(v) if isinstance(v, uuid.UUID) else v for v in values]
    )
    body: dict[str, Any] = {"table": table, "after": plain}
    if since is not None:
        body["since"] = since
    return base64.urlsafe_b64encode(json.dumps(body).encode()).decode("ascii")


def parse_request(event: Any) -> Query | Summary:
    """``{"table": "errors", "limit": 100, "after": <cursor>, "since": <RFC 3339>}`` -> a checked Query;
    ``{"table": "dead_letters", "summary": true, "limit": 100}`` -> a checked Summary."""
    if not isinstance(event, Mapping):
        raise Rejected(400, "the event must be a JSON object")
    unknown = set(event) - {"table", "limit", "after", "summary", "since"}
    if unknown:
        raise Rejected(400, f"unknown field(s): {', '.join(sorted(map(str, unknown)))}")
    table = event.get("table")
    if not isinstance(table, str) or table not in ALLOWED:
        raise Rejected(400, f"table must be one of {', '.join(sorted(ALLOWED))}, got {str(table)[:64]!r}")
    limit = event.get("limit", DEFAULT_LIMIT)
    if not isinstance(limit, int) or isinstance(limit, bool):
        raise Rejected(400, f"limit must be an integer, got {type(limit).__name__}")
    if not 1 <= limit <= MAX_LIMIT:
        raise Rejected(400, f"limit must be between 1 and {MAX_LIMIT}, got {limit}")
    summary = event.get("summary", False)
    if not isinstance(summary, bool):
        raise Rejected(400, f"summary must be true or false, got {type(summary).__name__}")
    if summary:
        if table not in SUMMARY_TABLES:
            raise Rejected(400, f"summary is available for {', '.join(sorted(SUMMARY_TABLES))} only, not {table}")
        if "after" in event or "since" in event:
            raise Rejected(400, "a summary has no pages and counts every row: leave out after and since")
        return Summary(table=table, groups=SUMMARY_TABLES[table], limit=limit)
    since = None
    if event.get("since") is not None:
        try:
            since = _timestamp(event["since"], "since")
        except ValueError as e:
            raise Rejected(400, str(e)) from None
    after, carried = (None, None) if event.get("after") is None else _decode_cursor(table, event["after"])
    if since is not None and carried is not None and since != carried:
        raise Rejected(400, "since differs from the since the cursor carries: leave it out after the first page")
    return Query(
        table=table,
        key=tuple(name for name, _ in ALLOWED[table]),
        limit=limit,
        after=after,
        since=since or carried,
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
