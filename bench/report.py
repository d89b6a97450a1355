"""A figure (value, ratio, target, result) and the table that prints them."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["Figure", "best_of", "median_time", "rate", "table"]


@dataclass(frozen=True, slots=True)
class Figure:
    """One line of the results table. ``passed`` is None for a figure with no target (information only)."""

    name: str
    value: str
    ratio: str = ""
    target: str = ""
    passed: bool | None = None
    note: str = ""

    @property
    def result(self) -> str:
        return {True: "PASS", False: "FAIL", None: "-"}[self.passed]


def rate(n: float, seconds: float, unit: str) -> str:
    per_s = n / seconds if seconds > 0 else float("inf")
    if per_s >= 10_000:
        return f"{per_s / 1000:,.0f}k {unit}/s"
    return f"{per_s:,.0f} {unit}/s"


def median_time(fn: Callable[[], Any], repeats: int, *, setup: Callable[[], Any] | None = None) -> float:
    """Median wall time of ``fn()`` over ``repeats`` runs, ``setup()`` untimed before each."""
    times = []
    for _ in range(repeats):
        if setup is not None:
            setup()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def best_of(fn: Callable[[], Any], repeats: int) -> float:
    """Fastest wall time over ``repeats`` runs: for pure CPU loops, the run least disturbed by the machine."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def table(figures: list[Figure]) -> str:
    headers = ("figure", "value", "ratio", "target", "result")
    rows = [(f.name, f.value, f.ratio, f.target, f.result) for f in figures]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)] if rows else []
    line = "  ".join(f"{{:<{w}}}" for w in widths)
    out = [line.format(*headers), line.format(*("-" * w for w in widths))]
    out += [line.format(*r).rstrip() for r in rows]
    notes = [f"  {f.name}: {f.note}" for f in figures if f.note]
    if notes:
        out += ["", "notes:", *notes]
    return "\n".join(out)
