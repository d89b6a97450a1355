"""reset_table's decisions: may this table be emptied here, now? (pure)"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.tables import ALLOWED

__all__ = ["PROTECTED_STAGES", "Refused", "check"]

PROTECTED_STAGES = frozenset({"prod", "production"})


class Refused(Exception):
    """The reset is not allowed; carries the status to answer with. No SQL has run."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


def check(event: Any, *, stage: str) -> str:
    """Return the table to truncate, or raise Refused saying why not."""
    if stage in PROTECTED_STAGES:
        raise Refused(403, f"reset_table is disabled in stage {stage!r}")
    if not isinstance(event, Mapping):
        raise Refused(400, "the event must be a JSON object")
    unknown = set(event) - {"table", "confirm"}
    if unknown:
        raise Refused(400, f"unknown field(s): {', '.join(sorted(map(str, unknown)))}")
    table = event.get("table")
    if not isinstance(table, str) or table not in ALLOWED:
        raise Refused(400, f"table must be one of {', '.join(sorted(ALLOWED))}, got {str(table)[:64]!r}")
    if event.get("confirm") != table:
        raise Refused(400, f'confirm must repeat the table name: {{"table": "{table}", "confirm": "{table}"}}')
    return table
