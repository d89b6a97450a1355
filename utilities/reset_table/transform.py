"""reset_table's decisions: may this table be emptied here, now? (pure)"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from shared.exceptions import Rejected
from shared.tables import ALLOWED

__all__ = ["LOCK_TIMEOUT_MS", "lock_timeout_message", "parse_request"]

# How long the TRUNCATE waits for its lock behind other transactions before it gives up and says so.
LOCK_TIMEOUT_MS = 5000


def parse_request(event: Any, *, stage: str, allowed_stages: Collection[str]) -> str:
    """Return the table to truncate, or raise Rejected saying why not. Only stages in ``allowed_stages``
    (RESET_ALLOWED_STAGES) may reset anything: every other stage is refused, whatever it is called."""
    if stage not in allowed_stages:
        allowed = ", ".join(sorted(allowed_stages)) or "none"
        raise Rejected(403, f"reset_table is disabled in stage {stage!r}: RESET_ALLOWED_STAGES allows only {allowed}")
    if not isinstance(event, Mapping):
        raise Rejected(400, "the event must be a JSON object")
    unknown = set(event) - {"table", "confirm"}
    if unknown:
        raise Rejected(400, f"unknown field(s): {', '.join(sorted(map(str, unknown)))}")
    table = event.get("table")
    if not isinstance(table, str) or table not in ALLOWED:
        raise Rejected(400, f"table must be one of {', '.join(sorted(ALLOWED))}, got {str(table)[:64]!r}")
    if event.get("confirm") != table:
        raise Rejected(400, f'confirm must repeat the table name: {{"table": "{table}", "confirm": "{table}"}}')
    return table


def lock_timeout_message(table: str, timeout_ms: int) -> str:
    """What to answer when another transaction held the table longer than the lock timeout."""
    return (
        f"could not lock {table} within {timeout_ms} ms: another transaction is using it (a long read or a "
        "consumer batch); nothing was removed, try again when it has finished"
    )
