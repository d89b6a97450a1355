"""The tables the utilities may touch, and how each is paged: the one allow-list they all share."""

from __future__ import annotations

from typing import Literal

__all__ = ["ALLOWED", "TIME_COLUMN", "KeyType"]

KeyType = Literal["timestamptz", "uuid", "bigint", "xid8"]

# table -> keyset columns (unique together, in page order, indexed together) and the type of each. The first is
# always txid, the writing transaction's id (migration 0005): read_table shows only rows of finished
# transactions, so paging in this order never skips a row that commits later. errors' key holds occurred_at, its
# partition key (migration 0007): two events may share an id, never an id and an occurred_at.
ALLOWED: dict[str, tuple[tuple[str, KeyType], ...]] = {
    "errors": (("txid", "xid8"), ("event_id", "uuid"), ("occurred_at", "timestamptz")),
    "dead_letters": (("txid", "xid8"), ("id", "bigint")),
}

# table -> when a row was written, for read_table's "since" filter.
TIME_COLUMN: dict[str, str] = {"errors": "ingested_at", "dead_letters": "created_at"}
