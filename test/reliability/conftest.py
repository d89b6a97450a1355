"""Fault-injection fixtures, and the summary table every fault test adds a row to."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

SUMMARY = Path(__file__).resolve().parents[2] / "target" / "reliability-summary.md"


@dataclass
class Row:
    fault: str
    records_in: int
    rows: int
    duplicates: int
    dead_letters: int
    rejected: int = 0

    @property
    def accounted(self) -> float:
        total = self.rows + self.duplicates + self.dead_letters + self.rejected
        return 100.0 * total / self.records_in if self.records_in else 100.0


ROWS: list[Row] = []


@pytest.fixture
def summary() -> Any:
    """Call with a Row once the fault's outcome is measured; the row is printed at the end of the run."""
    return ROWS.append


def function_errors(mapping: Any) -> list[str]:
    """Wrap the mapping's handler so each exception it raises (a failed invocation) is named in the list."""
    errors: list[str] = []
    handler = mapping.handler

    def observed(event: dict[str, Any], context: Any) -> Any:
        try:
            return handler(event, context)
        except Exception as e:
            errors.append(type(e).__name__)
            raise

    mapping.handler = observed
    return errors


def table() -> str:
    head = "| fault | records in | rows | duplicates skipped | dead letters | rejected at producer | accounted |"
    lines = [head, "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in ROWS:
        lines.append(
            f"| {r.fault} | {r.records_in} | {r.rows} | {r.duplicates} | {r.dead_letters} | {r.rejected} "
            f"| {r.accounted:.0f}% |"
        )
    return "\n".join(lines) + "\n"


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not ROWS:
        return
    SUMMARY.parent.mkdir(exist_ok=True)
    SUMMARY.write_text("# Reliability: every record accounted for\n\n" + table())
    terminalreporter.write_sep("=", "reliability summary (also in target/reliability-summary.md)")
    terminalreporter.write(table())
