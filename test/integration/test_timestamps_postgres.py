"""Every timestamp the event validator accepts, PostgreSQL stores and gives back as the same instant.

The validator and the database disagree at the edges (zone offsets with fractional seconds or of 16 hours or
more, a UTC value before year 1 or after 9999): these tests put both sides of each edge to the real server.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from shared import events, rows
from shared.exceptions import InvalidEvent
from test.support import error_event, wire

pytestmark = pytest.mark.integration


@pytest.fixture
def column(db: Any) -> Any:
    """A cursor on a temporary table with one timestamptz column, as errors.occurred_at is."""
    with db.cursor() as cur:
        cur.execute("CREATE TEMP TABLE IF NOT EXISTS ts_check (at timestamptz NOT NULL)")
        yield cur
        cur.execute("DROP TABLE ts_check")


def _offset_text(offset: timedelta) -> str:
    sign = "-" if offset < timedelta(0) else "+"
    total = abs(offset)
    seconds = total.days * 86400 + total.seconds
    text = f"{sign}{seconds // 3600:02d}:{seconds % 3600 // 60:02d}"
    if seconds % 60 or total.microseconds:
        text += f":{seconds % 60:02d}"
    if total.microseconds:
        text += f".{total.microseconds:06d}".rstrip("0")
    return text


@st.composite
def timestamp_texts(draw: Any) -> str:
    """RFC 3339-like text: any date and time of years 1 to 9999, any offset under a day (fractions included)."""
    local = draw(st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59, 999999)))
    if draw(st.booleans()):  # the edges of the range, where the offset decides
        local = local.replace(year=draw(st.sampled_from([1, 9999])), month=draw(st.sampled_from([1, 12])), day=1)
        if local.month == 12:
            local = local.replace(day=31)
    seconds = draw(st.integers(min_value=-86399, max_value=86399))
    micros = draw(st.sampled_from([0, 0, 0, 500000, 1]))
    if draw(st.booleans()):
        seconds -= seconds % 60  # whole minutes, the usual case
        micros = 0
    offset = timedelta(seconds=seconds, microseconds=micros if seconds >= 0 else -micros)
    if abs(offset) >= timedelta(hours=24):
        offset = timedelta(0)
    zone = "Z" if offset == timedelta(0) and draw(st.booleans()) else _offset_text(offset)
    return local.isoformat() + zone


def _accepted(text: str) -> datetime | None:
    try:
        return events.parse(error_event(1, occurred_at=text)).occurred_at
    except InvalidEvent:
        return None


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(timestamp_texts())
@example("2026-11-22T09:15:02+05:30:15")
@example("2026-11-22T09:15:02-15:59:59")
@example("0001-01-01T00:00:00-15:59")
@example("9999-12-31T23:59:59.999999+15:59")
@example("0001-01-01T00:59:59+00:59")
def test_every_accepted_timestamp_is_stored_and_read_back(column, text):
    parsed = _accepted(text)
    if parsed is None:
        return
    stored = events.stored(events.parse(error_event(1, occurred_at=text)))[4]  # the text the sink inserts
    assert stored == rows.read_stored(wire(error_event(1, occurred_at=text)))[4]  # and the fast path
    column.execute("INSERT INTO ts_check VALUES (%s) RETURNING at", (stored,))
    (back,) = column.fetchone()  # psycopg2 builds a datetime, as read_table does
    assert back == parsed
    assert back.astimezone(UTC) == parsed.astimezone(UTC)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("2026-11-22T09:15:02+05:30:15.5", "zone offset with fractional seconds"),
        ("2026-11-22T09:15:02+16:00", "zone offset of 16 hours or more"),
        ("2026-11-22T09:15:02-23:59", "zone offset of 16 hours or more"),
        ("0001-01-01T00:00:00+00:01", "outside the years 1 to 9999 in UTC"),
        ("9999-12-31T23:59:59-00:01", "outside the years 1 to 9999 in UTC"),
    ],
)
def test_what_the_validator_refuses_postgresql_or_reading_back_refuses_too(column, text, reason):
    import psycopg2

    with pytest.raises(InvalidEvent, match=reason):
        events.parse(error_event(1, occurred_at=text))
    with pytest.raises(InvalidEvent, match=reason):
        rows.read_stored(wire(error_event(1, occurred_at=text)))
    # The refusal is not over-cautious: the server refuses the text, or the row cannot be read back.
    with pytest.raises((psycopg2.DataError, ValueError, OverflowError)):  # the connection is autocommit
        column.execute("INSERT INTO ts_check VALUES (%s) RETURNING at", (text,))
        column.fetchone()
