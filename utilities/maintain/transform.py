"""maintain's decisions: which daily partitions of errors to create and which to drop, and where retention cuts
(pure).

A partition is the UTC day [day 00:00, day + 1 00:00) of occurred_at, named ``errors_pYYYYMMDD``. With a retention
of R days, the rows kept are those whose occurred_at is on or after the cutoff, today 00:00 UTC minus R days: every
day from the cutoff's day to today plus ``ahead`` days has a partition, and a day that ends at or before the cutoff
is dropped. A partition whose name is not of that form (made by hand, the default partition) is never touched.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

__all__ = [
    "AHEAD_DAYS",
    "PARENT",
    "Partition",
    "Plan",
    "cutoff",
    "parse_name",
    "partition_for",
    "plan",
]

PARENT = "errors"
DEFAULT_PARTITION = "errors_default"
AHEAD_DAYS = 7  # days after today with a partition already, so a missed run or two never sends rows to the default
_NAME = re.compile(r"^errors_p(\d{4})(\d{2})(\d{2})$")


@dataclass(frozen=True, slots=True)
class Partition:
    """One day of errors: its table name and its bounds, both UTC midnights."""

    name: str
    day: date

    @property
    def lower(self) -> datetime:
        return datetime.combine(self.day, time(), UTC)

    @property
    def upper(self) -> datetime:
        return datetime.combine(self.day + timedelta(days=1), time(), UTC)


@dataclass(frozen=True, slots=True)
class Plan:
    """What one run does: partitions to create (oldest first), partition names to drop (oldest first), and the
    cutoff below which the default partition's rows and the dead letters are deleted."""

    create: tuple[Partition, ...]
    drop: tuple[str, ...]
    cutoff: datetime
    left_alone: tuple[str, ...]  # existing partitions whose names maintain does not manage


def partition_for(day: date) -> Partition:
    return Partition(f"errors_p{day:%Y%m%d}", day)


def parse_name(name: str) -> date | None:
    """The day of a partition maintain manages, or None for any other name (left alone)."""
    match = _NAME.match(name)
    if match is None:
        return None
    try:
        return date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    except ValueError:  # errors_p20261341: not a day, so not one of ours
        return None


def _check(retention_days: int, ahead_days: int) -> None:
    if isinstance(retention_days, bool) or not isinstance(retention_days, int) or retention_days < 1:
        raise ValueError(f"retention must be a whole number of days, at least 1, got {retention_days!r}")
    if isinstance(ahead_days, bool) or not isinstance(ahead_days, int) or ahead_days < 0:
        raise ValueError(f"days ahead must be a whole number, at least 0, got {ahead_days!r}")


def cutoff(today: date, retention_days: int) -> datetime:
    """The oldest instant kept: today 00:00 UTC minus the retention."""
    _check(retention_days, 0)
    return datetime.combine(today - timedelta(days=retention_days), time(), UTC)


def plan(today: date, retention_days: int, existing: Iterable[str], *, ahead_days: int = AHEAD_DAYS) -> Plan:
    """The partitions to create and drop, given today's UTC date, the retention and the existing partition names.

    A retention under one day is refused (ValueError): 0 would drop today's partition, the one being written.
    """
    _check(retention_days, ahead_days)
    cut = cutoff(today, retention_days)
    names = set(existing)
    managed = {name: day for name in names if (day := parse_name(name)) is not None}
    left_alone = tuple(sorted(name for name in names if name not in managed and name != DEFAULT_PARTITION))
    first = cut.date()
    wanted = [partition_for(first + timedelta(days=n)) for n in range((today - first).days + ahead_days + 1)]
    create = tuple(p for p in wanted if p.name not in managed)
    drop = tuple(sorted((name for name, day in managed.items() if day < first), key=lambda n: managed[n]))
    return Plan(create=create, drop=drop, cutoff=cut, left_alone=left_alone)
