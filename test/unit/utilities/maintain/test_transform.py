"""maintain's planner: which daily partitions to create and drop, given today, the retention and what exists."""

from datetime import UTC, date, datetime

import pytest

from utilities.maintain import transform


def names(partitions):
    return [p.name for p in partitions]


def test_an_empty_table_gets_every_day_of_the_retention_and_the_days_ahead():
    plan = transform.plan(date(2027, 3, 10), 3, [], ahead_days=2)
    assert names(plan.create) == [f"errors_p202703{d:02d}" for d in range(7, 13)]
    assert plan.drop == ()
    assert plan.cutoff == datetime(2027, 3, 7, tzinfo=UTC)


def test_bounds_are_utc_midnights():
    (first, *_) = transform.plan(date(2027, 3, 10), 1, [], ahead_days=0).create
    assert (first.lower, first.upper) == (datetime(2027, 3, 9, tzinfo=UTC), datetime(2027, 3, 10, tzinfo=UTC))


def test_a_steady_day_creates_one_partition_and_drops_one():
    existing = [f"errors_p202703{d:02d}" for d in range(6, 13)] + ["errors_default"]
    plan = transform.plan(date(2027, 3, 10), 3, existing, ahead_days=2)
    assert names(plan.create) == []
    assert plan.drop == ("errors_p20270306",)  # ends at 03-07 00:00, the cutoff: nothing in it is kept
    plan = transform.plan(date(2027, 3, 11), 3, existing, ahead_days=2)
    assert names(plan.create) == ["errors_p20270313"]
    assert plan.drop == ("errors_p20270306", "errors_p20270307")


def test_month_and_year_boundaries():
    plan = transform.plan(date(2027, 1, 1), 2, ["errors_p20261229", "errors_p20261230"], ahead_days=1)
    assert names(plan.create) == ["errors_p20261231", "errors_p20270101", "errors_p20270102"]
    assert plan.drop == ("errors_p20261229",)
    assert plan.cutoff == datetime(2026, 12, 30, tzinfo=UTC)
    plan = transform.plan(date(2028, 3, 1), 1, [], ahead_days=0)  # a leap year
    assert names(plan.create) == ["errors_p20280229", "errors_p20280301"]


def test_drops_come_oldest_first_and_only_past_the_retention():
    existing = ["errors_p20270101", "errors_p20261105", "errors_p20270301", "errors_p20270228"]
    plan = transform.plan(date(2027, 3, 1), 1, existing, ahead_days=0)
    assert plan.drop == ("errors_p20261105", "errors_p20270101")
    assert names(plan.create) == []


def test_partitions_with_other_names_are_left_alone():
    existing = ["errors_default", "errors_archive_2025", "errors_p2027031", "errors_p20271341", "errors_p19990101x"]
    plan = transform.plan(date(2027, 3, 10), 1, existing, ahead_days=0)
    assert plan.drop == ()
    assert plan.left_alone == ("errors_archive_2025", "errors_p19990101x", "errors_p2027031", "errors_p20271341")
    assert names(plan.create) == ["errors_p20270309", "errors_p20270310"]


@pytest.mark.parametrize("retention", [0, -1, -30, 1.5, True, "7"])
def test_a_retention_under_a_day_is_refused(retention):
    with pytest.raises(ValueError, match="retention must be a whole number of days, at least 1"):
        transform.plan(date(2027, 3, 10), retention, [])


def test_negative_days_ahead_are_refused():
    with pytest.raises(ValueError, match="days ahead"):
        transform.plan(date(2027, 3, 10), 3, [], ahead_days=-1)


def test_a_partition_name_gives_its_day():
    assert transform.parse_name("errors_p20270228") == date(2027, 2, 28)
    assert transform.parse_name("errors_p20270229") is None  # not a day
    assert transform.parse_name("dead_letters") is None
    assert transform.partition_for(date(2027, 2, 28)).name == "errors_p20270228"
