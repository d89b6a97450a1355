"""reprocess_dead_letters' decisions: the request's guards, and each dead letter judged as the consumer would today."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest

from consumers.error_sink import transform as sink
from shared import kinesis
from shared.exceptions import Rejected
from test.support import error_event, kinesis_event, wire
from utilities.reprocess_dead_letters import transform

ALLOWED = frozenset({"local", "qa", "dev", "test"})


def _letters(event):
    """The dead letters the consumer writes for a Lambda Kinesis event, as dead_letters rows."""
    plan = sink.plan(event["Records"])
    return [transform.DeadLetter(n, *d) for n, d in enumerate(plan.dead_letters, start=1)]


def _mixed_batch():
    aggregate = kinesis.aggregate([("a", wire(error_event(10))), ("a", b"{not json"), ("b", wire(error_event(11)))])
    corrupt = bytearray(kinesis.aggregate([("k", wire(error_event(20))), ("k", wire(error_event(21)))])[0].data)
    corrupt[30] ^= 0xFF
    event = kinesis_event(
        [
            ("p1", wire(error_event(1))),
            ("p2", wire(error_event(2, level="LOUD"))),
            ("p3", b"\x00\x01 not an event"),
            ("agg", aggregate[0].data),
            ("bad", bytes(corrupt)),
        ]
    )
    event["Records"].append(kinesis_event([("b64", b"x")], first_seq=9000)["Records"][0])
    event["Records"][-1]["kinesis"]["data"] = "not base64!"
    return event


# --------------------------------------------------------------------------- the request


def test_the_consumer_and_this_function_write_the_same_columns():
    # The zip does not carry consumers/, so the tuples are repeated here; this keeps them equal.
    assert transform.ERROR_COLUMNS == sink.ERROR_COLUMNS
    assert transform.ERROR_KEY == sink.ERROR_KEY
    assert transform.DEAD_LETTER_COLUMNS == sink.DEAD_LETTER_COLUMNS
    assert transform.DEAD_LETTER_KEY == sink.DEAD_LETTER_KEY
    assert transform.WHOLE_RECORD == sink.WHOLE_RECORD


def test_a_full_request_is_parsed():
    request = transform.parse_request(
        {
            "reason": "level must be",
            "since": "2026-11-22T00:00:00Z",
            "until": "2026-11-23T00:00:00+01:00",
            "stream": "arn:aws:kinesis:us-east-1:123456789012:stream/errors",
            "dry_run": True,
            "page_size": 10,
        },
        stage="qa",
        unconfirmed_stages=ALLOWED,
    )
    assert request == transform.Request(
        reason="level must be",
        since=datetime(2026, 11, 22, tzinfo=UTC),
        until=datetime.fromisoformat("2026-11-23T00:00:00+01:00"),
        stream="arn:aws:kinesis:us-east-1:123456789012:stream/errors",
        dry_run=True,
        page_size=10,
    )
    assert transform.parse_request({}, stage="qa", unconfirmed_stages=ALLOWED) == transform.Request()


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        ([], "must be a JSON object"),
        ({"reasons": "x"}, "unknown field(s): reasons"),
        ({"dry_run": "yes"}, "dry_run must be true or false"),
        ({"page_size": 0}, "page_size must be an integer between 1 and 1000"),
        ({"page_size": 1001}, "page_size must be an integer between 1 and 1000"),
        ({"page_size": True}, "page_size must be an integer"),
        ({"since": "yesterday"}, "since must be an ISO 8601 timestamp"),
        ({"until": 1700000000}, "until must be an ISO 8601 timestamp"),
        ({"since": "2026-11-22T00:00:00"}, "since must carry a time zone"),
        ({"since": "2026-11-23T00:00:00Z", "until": "2026-11-22T00:00:00Z"}, "must be before until"),
        ({"stream": "errors"}, "stream must be the stream's ARN"),
        ({"reason": ""}, "reason must be a non-empty string"),
    ],
)
def test_bad_requests_are_refused_naming_the_problem(event, reason):
    with pytest.raises(Rejected) as err:
        transform.parse_request(event, stage="qa", unconfirmed_stages=ALLOWED)
    assert err.value.status == 400
    assert reason in str(err.value)


@pytest.mark.parametrize("stage", ["prod", "production", "prod-eu", "prd", "live"])
def test_every_stage_not_allowed_needs_the_stage_repeated_unless_dry_run(stage):
    for event in ({}, {"confirm": "yes"}, {"confirm": "qa"}):
        with pytest.raises(Rejected) as err:
            transform.parse_request(event, stage=stage, unconfirmed_stages=ALLOWED)
        assert err.value.status == 403
        assert f'"confirm": "{stage}"' in str(err.value)
    assert transform.parse_request({"dry_run": True}, stage=stage, unconfirmed_stages=ALLOWED).dry_run
    assert not transform.parse_request({"confirm": stage}, stage=stage, unconfirmed_stages=ALLOWED).dry_run


def test_filters_become_placeholders_never_sql_text():
    request = transform.parse_request(
        {"reason": "x'; DROP TABLE errors; --", "stream": "arn:aws:kinesis:r:1:stream/s"},
        stage="qa",
        unconfirmed_stages=ALLOWED,
    )
    conditions, values = transform.selection(request)
    assert "DROP" not in " ".join(conditions)
    assert values == ["x'; DROP TABLE errors; --", "arn:aws:kinesis:r:1:stream/s"]
    assert transform.selection(transform.Request()) == ([], [])


# --------------------------------------------------------------------------- the verdicts


def test_each_dead_letter_is_still_dead_today_with_the_consumers_reason():
    letters = _letters(_mixed_batch())
    # level LOUD, not an event, the bad user record of the aggregate, the corrupt aggregate, the non-base64 data
    assert len(letters) == 5
    for letter in letters:
        verdict = transform.judge(letter)
        assert verdict.reason == letter.reason, letter
        assert verdict.rows == [] and verdict.dead == []


def test_a_user_record_valid_today_becomes_the_row_the_consumer_would_write():
    data = wire(error_event(7, level="warning"))
    letter = transform.DeadLetter(1, "arn:s", "shardId-000000000001", "4900", 3, "pk", "an old rule", data)
    verdict = transform.judge(letter)
    expected = sink.plan(kinesis_event([("pk", data)], shard_id="shardId-000000000001")["Records"]).rows[0]
    assert verdict.reason is None and verdict.dead == []
    assert verdict.rows == [(*expected[:8], "shardId-000000000001", "4900", 3)]


def test_a_whole_aggregate_readable_today_is_split_into_rows_and_its_own_dead_letters():
    data = kinesis.aggregate([("a", wire(error_event(1))), ("b", b"{nope"), ("a", wire(error_event(2)))])[0].data
    letter = transform.DeadLetter(5, "arn:s", "shardId-000000000000", "77", -1, "a", "an old codec bug", data)
    verdict = transform.judge(letter)
    assert verdict.reason is None
    assert [(r[0], r[10]) for r in verdict.rows] == [
        ("00000000-0000-4000-8000-000000000001", 0),
        ("00000000-0000-4000-8000-000000000002", 2),
    ]
    assert len(verdict.dead) == 1
    dead = dict(zip(transform.DEAD_LETTER_COLUMNS, verdict.dead[0], strict=True))
    assert dead["sub_sequence_number"] == 1 and dead["partition_key"] == "b" and dead["raw"] == b"{nope"
    assert "not JSON" in dead["reason"]


def test_whole_record_data_that_is_base64_today_is_read_as_the_record():
    raw = base64.b64encode(wire(error_event(3)))  # a whole record's raw when it was refused as not base64
    letter = transform.DeadLetter(1, "arn:s", "shardId-000000000000", "9", -1, "k", "record data is not base64", raw)
    verdict = transform.judge(letter)
    assert verdict.reason is None
    assert [r[0] for r in verdict.rows] == ["00000000-0000-4000-8000-000000000003"]


def test_totals_account_for_every_dead_letter_and_add_up():
    a, b = transform.Totals(), transform.Totals()
    a.count("r1", moved=True)
    a.count("r2", moved=False)
    b.count("r1", moved=False)
    b.rows_written, b.pages = 4, 1
    a.add(b)
    report = a.report()
    assert (report["examined"], report["moved"], report["kept"], report["rows_written"]) == (3, 1, 2, 4)
    assert report["by_reason"] == {
        "r1": {"examined": 2, "valid_now": 1, "still_invalid": 1},
        "r2": {"examined": 1, "valid_now": 0, "still_invalid": 1},
    }
