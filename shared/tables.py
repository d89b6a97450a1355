"""The tables the utilities may touch, and how each is paged: the one allow-list they all share."""

from __future__ import annotations

from typing import Literal

__all__ = ["ALLOWED", "KeyType"]

KeyType = Literal["timestamptz", "uuid", "bigint"]

# table -> keyset columns (unique together, in page order) and the type of each.
ALLOWED: dict[str, tuple[tuple[str, KeyType], ...]] = {
    "errors": (("ingested_at", "timestamptz"), ("event_id", "uuid")),
    "dead_letters": (("id", "bigint"),),
}
