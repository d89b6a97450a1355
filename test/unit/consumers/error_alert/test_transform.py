"""error_alert's window logic as pure functions: counting, thresholds, one alert per source per window."""

import json

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from consumers.error_alert import transform
from test.reliability.strict_sns import id_problem, subject_problem
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


# --------------------------------------------------------------------------- what SNS takes

sources = st.text(min_size=1, max_size=128, alphabet=st.characters(blacklist_categories=["Cs"]))


def _alert(source, count=5):
    return transform.Alert(source, count, 3, WINDOW["start"], WINDOW["end"], "shardId-000000000000")


@settings(max_examples=500, deadline=None)
@given(sources, st.integers(min_value=1, max_value=10**9))
def test_subject_and_ids_satisfy_the_sns_publish_rules_whatever_the_source(source, count):
    request = transform.publish_request(_alert(source, count), topic_arn="arn:aws:sns:r:1:t.fifo", fifo=True)
    assert subject_problem(request["Subject"]) is None, request["Subject"]
    assert id_problem("MessageGroupId", request["MessageGroupId"]) is None, request["MessageGroupId"]
    assert id_problem("MessageDeduplicationId", request["MessageDeduplicationId"]) is None
    assert json.loads(request["Message"])["source"] == source  # the real source travels in the body


@settings(max_examples=300, deadline=None)
@given(sources, sources)
def test_distinct_sources_never_share_a_message_group(a, b):
    assume(a != b)
    assert _alert(a).group_id != _alert(b).group_id


def test_subject_and_group_stay_readable():
    alert = _alert("café\nchäckout api")
    assert alert.subject == "5 errors from cafe chackout api"
    assert alert.group_id.startswith("cafe_chackout_api~")
    assert _alert("s" * 128).subject == ("5 errors from " + "s" * 128)[:99]
    assert transform.publish_request(_alert("api"), topic_arn="arn:aws:sns:r:1:t", fifo=False).keys() == {
        "TopicArn",
        "Subject",
        "Message",
    }


@pytest.mark.parametrize(
    ("code", "status", "transient"),
    [
        ("Throttled", 429, True),
        ("Throttling", 400, True),
        ("InternalError", 500, True),
        ("ReadTimeoutError", None, True),  # no answer at all
        ("KMSThrottling", 400, True),
        ("InvalidParameter", 400, False),
        ("AuthorizationError", 403, False),
        ("NotFound", 404, False),
    ],
)
def test_which_failures_a_retry_may_fix(code, status, transient):
    assert transform.is_transient(code, status) is transient
