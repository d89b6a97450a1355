"""error_alert's window logic as pure functions: counting, thresholds, one alert per source per window."""

from consumers.error_alert import transform
from test.support import error_event, kinesis_event, wire

WINDOW = {"start": "2026-11-22T09:15:00Z", "end": "2026-11-22T09:16:00Z"}


def _records(*specs):
    return kinesis_event([("k", wire(error_event(i, source=s, level=lvl))) for i, (s, lvl) in enumerate(specs)])[
        "Records"
    ]


def test_counts_errors_per_source_across_invocations_of_a_window():
    state = transform.accumulate(None, _records(("api", "ERROR"), ("api", "WARNING"), ("db", "CRITICAL")))
    assert state == {"counts": {"api": 1, "db": 1}}
    state = transform.accumulate(state, _records(("api", "ERROR"), ("api", "error")))
    assert state == {"counts": {"api": 3, "db": 1}}


def test_poison_and_corrupt_records_are_not_counted():
    records = kinesis_event([("k", b"{"), ("k", b"\xf3\x89\x9a\xc2broken aggregate!!")])["Records"]
    assert transform.accumulate({"counts": {"api": 2}}, records) == {"counts": {"api": 2}}


def test_alerts_for_sources_at_or_over_the_threshold_only():
    state = {"counts": {"api": 5, "db": 3, "cache": 2}}
    alerts = transform.alerts(state, threshold=3, window=WINDOW, shard_id="shardId-000000000001")
    assert [(a.source, a.count) for a in alerts] == [("api", 5), ("db", 3)]
    assert alerts[0].message() == {
        "source": "api",
        "count": 5,
        "threshold": 3,
        "window": {"start": WINDOW["start"], "end": WINDOW["end"]},
        "shard_id": "shardId-000000000001",
    }


def test_the_same_alert_has_the_same_dedup_id_and_another_window_another():
    a = transform.alerts({"counts": {"api": 5}}, threshold=1, window=WINDOW, shard_id="s")[0]
    b = transform.alerts({"counts": {"api": 9}}, threshold=1, window=WINDOW, shard_id="s")[0]
    c = transform.alerts({"counts": {"api": 5}}, threshold=1, window={**WINDOW, "start": "x"}, shard_id="s")[0]
    assert a.dedup_id == b.dedup_id != c.dedup_id


def test_malformed_state_starts_from_zero():
    assert transform.accumulate({"counts": {"api": "many", "db": True}}, []) == {"counts": {}}
    assert transform.alerts("garbage", threshold=1, window=WINDOW, shard_id="s") == []
