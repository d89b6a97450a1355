"""The error event schema: what is accepted, how it is normalised, and the reason for every refusal."""

import dataclasses
import json
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared import events
from shared.exceptions import InvalidEvent
from test.support import error_event, wire

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def parse(obj, **kw):
    return events.parse(obj, **kw)


def test_valid_event_is_normalised():
    event = parse(error_event(1, level="warning", event_id="00000000-0000-4000-8000-00000000000A"))
    assert event.level == "WARNING"
    assert event.event_id == "00000000-0000-4000-8000-00000000000a"
    assert event.occurred_at.utcoffset() is not None


def test_producer_assigns_id_and_overrides_received_at():
    raw = error_event(1)
    del raw["event_id"]
    event = parse(raw, received_at=NOW, event_id="11111111-1111-4111-8111-111111111111")
    assert event.event_id == "11111111-1111-4111-8111-111111111111"
    assert event.received_at == NOW


def test_sender_event_id_wins_over_assigned_one():
    event = parse(error_event(7), received_at=NOW, event_id="11111111-1111-4111-8111-111111111111")
    assert event.event_id == "00000000-0000-4000-8000-000000000007"


def test_wire_round_trip_gives_the_same_event():
    event = parse(error_event(3, stack="Traceback...\n  line 1"))
    assert parse(events.decode(events.encode(event))) == event


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"message": "a\x00b"}, "message contains a NUL"),
        ({"source": "s\x00"}, "source contains a NUL"),
        ({"stack": "\x00"}, "stack contains a NUL"),
        ({"context": {"k": "v\x00"}}, "context.k contains a NUL"),
        ({"context": {"k\x00": 1}}, "key with a NUL"),
        ({"context": {"a": [{"b": "\x00"}]}}, "context.a[0].b contains a NUL"),
        ({"message": "\ud800"}, "lone surrogate"),
        ({"context": {"k": "\udfff"}}, "lone surrogate"),
        ({"message": ""}, "message must be 1 to 32768 bytes, got 0"),
        ({"message": "é" * 16385}, "message must be 1 to 32768 bytes, got 32770"),
        ({"source": ""}, "source must be 1 to 128 characters"),
        ({"source": "x" * 129}, "source must be 1 to 128 characters, got 129"),
        ({"level": "LOUD"}, "level must be one of"),
        ({"level": 3}, "level must be a string"),
        ({"occurred_at": "2026-11-22T09:15:02"}, "occurred_at must carry a time zone"),
        ({"occurred_at": "2026-11-22"}, "occurred_at must be an RFC 3339 timestamp"),
        ({"occurred_at": "yesterday at noon, roughly"}, "occurred_at must be an RFC 3339 timestamp"),
        ({"occurred_at": 1732262102}, "occurred_at must be a string"),
        ({"occurred_at": "2026-11-22T09:15:02+05:30:15.5"}, "occurred_at has a zone offset with fractional seconds"),
        ({"occurred_at": "2026-11-22T09:15:02+16:00"}, "occurred_at has a zone offset of 16 hours or more"),
        ({"received_at": "0001-01-01T00:00:00+01:00"}, "received_at falls outside the years 1 to 9999 in UTC"),
        ({"occurred_at": "9999-12-31T23:00:00-05:00"}, "occurred_at falls outside the years 1 to 9999 in UTC"),
        ({"event_id": "not-a-uuid"}, "event_id must be a UUID"),
        ({"event_id": 42}, "event_id must be a UUID string"),
        ({"context": []}, "context must be a JSON object"),
        ({"context": {"blob": "x" * 17000}}, "over the limit of 16384"),
        ({"schema_version": 2}, "schema_version must be 1"),
        ({"schema_version": True}, "schema_version must be 1"),
        ({"stack": "s" * (64 * 1024 + 1)}, "stack must be at most"),
        ({"colour": "red"}, "unknown field(s): colour"),
    ],
)
def test_invalid_events_are_refused_with_a_reason(overrides, reason):
    with pytest.raises(InvalidEvent, match=None) as err:
        parse(error_event(1, **overrides))
    assert reason in str(err.value)


def test_missing_fields_are_named():
    with pytest.raises(InvalidEvent, match="missing field\\(s\\): level, message"):
        parse({"source": "a", "occurred_at": "2026-11-22T09:15:02Z"})


def test_consumer_requires_received_at_and_event_id():
    raw = error_event(1)
    del raw["received_at"]
    with pytest.raises(InvalidEvent, match="received_at"):
        parse(raw)
    raw = error_event(1)
    del raw["event_id"]
    with pytest.raises(InvalidEvent, match="event_id"):
        parse(raw)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b'{"a": NaN}', "NaN is not valid JSON"),
        (b'{"a": Infinity}', "Infinity is not valid JSON"),
        (b"\xff\xfe{}", "not UTF-8"),
        (b'{"a": ', "not JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    ],
)
def test_decode_refuses_what_jsonb_would(data, reason):
    with pytest.raises(InvalidEvent) as err:
        events.decode(data)
    assert reason in str(err.value)


def test_non_object_event_is_refused():
    with pytest.raises(InvalidEvent, match="must be a JSON object, got list"):
        parse(events.decode(wire([1, 2])))  # type: ignore[arg-type]


def test_context_at_the_limit_is_accepted():
    filler = "x" * (events.MAX_CONTEXT_BYTES - len('{"k":""}'))
    assert parse(error_event(1, context={"k": filler})).context == {"k": filler}


def test_context_json_is_the_compact_text_and_not_part_of_equality():
    event = parse(error_event(1, context={"a": [1, 2.5, "é"], "b": {"c": None}}))
    assert event.context_json == json.dumps(event.context, ensure_ascii=False, separators=(",", ":"))
    assert dataclasses.replace(event, context_json=None) == event


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(alphabet="a\x00é\ud800"),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(alphabet="k\x00", max_size=2), inner, max_size=3)
    ),
    max_leaves=20,
)


@given(st.dictionaries(st.text(max_size=3), _JSON, max_size=4))
def test_fast_context_check_agrees_with_the_walk(context):
    try:
        events._check_json(context, "context")
        walk_ok = True
    except InvalidEvent:
        walk_ok = False
    assert events._storable(context) == walk_ok


@pytest.mark.parametrize("depth", [62, 63, 64, 65, 66])
@pytest.mark.parametrize("leaf", ["x", "\x00", 1, float("nan"), [], {}])
def test_fast_context_check_agrees_with_the_walk_at_the_depth_limit(depth, leaf):
    context: dict = {"k": leaf}
    for _ in range(depth):
        context = {"k": context}
    try:
        events._check_json(context, "context")
        walk_ok = True
    except InvalidEvent:
        walk_ok = False
    assert events._storable(context) == walk_ok
