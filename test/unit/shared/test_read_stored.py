"""The consumer's fast path against the reference: ``read_stored(data)`` must equal ``stored(parse(decode(data)))``
on every input, valid or not: the same columns (the context the same JSON value, down to the type of each number)
or the same refusal with the same reason."""

from __future__ import annotations

import json
import os
import random
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from shared import events, rows
from shared.exceptions import InvalidEvent
from test.support import error_event, wire


def reference(data: bytes) -> tuple[Any, ...]:
    try:
        return ("stored", events.stored(events.parse(events.decode(data))))
    except InvalidEvent as e:
        return ("refused", str(e))


def fast(data: bytes) -> tuple[Any, ...]:
    try:
        return ("stored", rows.read_stored(data))
    except InvalidEvent as e:
        return ("refused", str(e))


def typed(value: Any) -> Any:
    """A JSON value with the type of every scalar kept, so 1, 1.0 and True differ, and so do 0.0 and -0.0."""
    if isinstance(value, dict):
        return {"dict": sorted((key, typed(item)) for key, item in value.items())}
    if isinstance(value, list):
        return {"list": [typed(item) for item in value]}
    if isinstance(value, float):
        return ("float", repr(value))
    return (type(value).__name__, value)


def assert_same(data: bytes) -> str:
    """Assert the two paths agree on ``data``; return the verdict ("stored" or "refused")."""
    expected, got = reference(data), fast(data)
    assert got[0] == expected[0], (data[:300], expected, got)
    if expected[0] == "refused":
        assert got[1] == expected[1], data[:300]
        return "refused"
    want, have = expected[1], got[1]
    assert have[:6] == want[:6] and have[7] == want[7], data[:300]
    assert typed(json.loads(have[6])) == typed(json.loads(want[6])), data[:300]
    assert len(have[6].encode("utf-8")) <= events.MAX_CONTEXT_BYTES
    return "stored"


# --------------------------------------------------------------------------- hand-picked cases

TIMESTAMPS = [
    "2026-11-22T09:15:02+00:00",
    "2026-11-22T09:15:02.120000+00:00",
    "2026-11-22T09:15:02.000000+00:00",
    "2026-11-22T09:15:02.000001-05:30",
    "2026-11-22T09:15:02-00:00",
    "2026-11-22T09:15:02Z",
    "2026-11-22T09:15:02.12Z",
    "2026-11-22T09:15:02.123456789+00:00",
    "2026-11-22 09:15:02+00:00",
    "2026-11-22t09:15:02+00:00",
    "2026-11-22T09:15:02+0000",
    "2026-11-22T09:15:02+00:00:30",
    "2026-11-22T09:15:02",
    "2026-11-22",
    "2026-02-29T00:00:00+00:00",
    "2024-02-29T00:00:00+00:00",
    "2026-04-31T00:00:00+00:00",
    "2026-13-01T00:00:00+00:00",
    "2026-11-22T24:00:00+00:00",
    "2026-11-22T23:59:60+00:00",
    "2026-11-22T09:15:02+24:00",
    "2026-11-22T09:15:02+23:59",
    "2026-W47-7T09:15:02+00:00",
    "20261122T091502+00:00",
    "0000-01-01T00:00:00+00:00",
    "0001-01-01T00:00:00+00:00",
    "9999-12-31T23:59:59.999999+00:00",
    "9999-12-31T23:59:59.999999+15:59",
    "9999-12-31T23:59:59.999999-00:01",
    "9999-12-31T20:00:00-04:00",
    "0001-01-01T00:00:00-15:59",
    "0001-01-01T00:00:00+00:01",
    "0001-01-01T01:00:00+01:00",
    "2026-11-22T09:15:02+15:59",
    "2026-11-22T09:15:02-16:00",
    "2026-11-22T09:15:02+05:30:15",
    "2026-11-22T09:15:02+05:30:15.5",
    "2026-11-22T09:15:02.120000-05:30:15.000001",
    "2026-11-22T09:15:02+00:00\x00",
    "\uff12\uff10\uff12\uff16-11-22T09:15:02+00:00",  # full-width digits,
]
UUIDS = [
    "00000000-0000-4000-8000-000000000001",
    "00000000-0000-4000-8000-00000000000A",
    "{00000000-0000-4000-8000-000000000001}",
    "urn:uuid:00000000-0000-4000-8000-000000000001",
    "00000000000040008000000000000001",
    "00000000-0000-4000-8000-00000000000g",
    "",
]
LEVELS = ["ERROR", "error", "Warning", "\u0131nfo", "LOUD", "", "ERROR\x00", "cr\u0131t\u0131cal"]
TEXTS = ["x", "", "\x00", "a\x00b", "é", "\U0001f600", "tab\there\nnew\\line\r", "\\u0000", "ﬀ"]
CONTEXTS: list[Any] = [
    {},
    {"a": 1},
    {"a": 1.0, "b": -0.0, "c": 1e16, "d": 1e-7, "e": 0.00001, "f": 123456789012345678901234567890},
    {"a": True, "b": None, "c": [1, "2", [3.5]], "d": {"e": {"f": "g"}}},
    {"k": "v\x00"},
    {"k\x00": 1},
    {"k": "\\u0000"},
    {"a": [{"b": "\x00"}]},
    {"blob": "x" * (events.MAX_CONTEXT_BYTES - 10)},
    {"blob": "x" * 17000},
    {"floats": [1e16] * 2900},  # about 14.5 KiB from msgspec, over 16 KiB from the stdlib
    {"floats": [1e16] * 3400},
    {"floats": [0.00001] * 2900},  # the other way round
    {"many": [{"i": i} for i in range(200)]},
    {"quote": '"', "ctl": "\x01\x1f\x7f", "sep": "\u2028\u2029", "astral": "\U0001f600"},
]


def nested(depth: int, leaf: Any) -> dict[str, Any]:
    context: dict[str, Any] = {"k": leaf}
    for _ in range(depth):
        context = {"k": context}
    return context


@pytest.mark.parametrize("value", TIMESTAMPS)
@pytest.mark.parametrize("field", ["occurred_at", "received_at"])
def test_timestamps(field, value):
    assert_same(wire(error_event(1, **{field: value})))


@pytest.mark.parametrize("value", UUIDS)
def test_event_ids(value):
    assert_same(wire(error_event(1, event_id=value)))


@pytest.mark.parametrize("value", LEVELS)
def test_levels(value):
    assert_same(wire(error_event(1, level=value)))


@pytest.mark.parametrize("value", TEXTS)
@pytest.mark.parametrize("field", ["source", "message", "stack"])
def test_texts(field, value):
    assert_same(wire(error_event(1, **{field: value})))


@pytest.mark.parametrize("field", ["source", "message", "stack"])
@pytest.mark.parametrize("length", [127, 128, 129, 8191, 8192, 8193, 16384, 16385, 32768, 32769, 65536, 65537])
@pytest.mark.parametrize("char", ["x", "é", "\U0001f600"])
def test_sizes_around_every_limit(field, length, char):
    assert_same(wire(error_event(1, **{field: char * length})))


@pytest.mark.parametrize("context", CONTEXTS)
def test_contexts(context):
    assert_same(wire(error_event(1, context=context)))


@pytest.mark.parametrize("depth", [61, 62, 63, 64, 65, 66, 200])
@pytest.mark.parametrize("leaf", ["x", "\x00", 1, [], {}, [[]]])
def test_context_depth(depth, leaf):
    assert_same(wire(error_event(1, context=nested(depth, leaf))))


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"null",
        b"[]",
        b"{}",
        b"\xef\xbb\xbf" + wire(error_event(1)),
        wire(error_event(1)) + b"\n",
        b" \t\r\n" + wire(error_event(1)),
        wire(error_event(1)).replace(b'"context":{', b'"context":{"x":NaN,'),
        wire(error_event(1)).replace(b'"context":{', b'"context":{"x":Infinity,'),
        wire(error_event(1)).replace(b'"context":{', b'"context":{"x":-1e400,'),
        wire(error_event(1)).replace(b'"context":{', b'"context":{"x":1e-400,'),
        wire(error_event(1)).replace(b'"context":{', b'"context":{"x":"\\ud800",'),
        wire(error_event(1)).replace(b'"context":{', b'"context":{"x":"\\udfff\\ud800",'),
        wire(error_event(1)).replace(b'"context":{', b'"context":{"x":"\\ud83d\\ude00",'),
        wire(error_event(1)).replace(b'"context":{', b'"context":{"x":"\xed\xa0\x80",'),
        wire(error_event(1)).replace(b'"context":{', b'"context":{"x":"\xc0\x80",'),
        wire(error_event(1)).replace(b'"context":{', b'"context":{"x":"\xf4\x90\x80\x80",'),
        wire(error_event(1)).replace(b'"message":"', b'"message":"\\ud800'),
        wire(error_event(1)).replace(b'"source":"', b'"source":"\\u0000'),
        wire(error_event(1)).replace(b'"source":"', b'"source":"\xff'),
        wire(error_event(1)).replace(b'"context":{', b'"context":{"a":1,"a":{"b":2},'),
        wire(error_event(1)).replace(b'"level":"ERROR"', b'"level":"LOUD","level":"ERROR"'),
        wire(error_event(1)).replace(b'"level":"ERROR"', b'"level":"ERROR","level":"LOUD"'),
        wire(error_event(1)).replace(b'"schema_version":1', b'"schema_version":1.0'),
        wire(error_event(1)).replace(b'"schema_version":1', b'"schema_version":1e0'),
        wire(error_event(1)).replace(b'"schema_version":1', b'"schema_version":true'),
        wire(error_event(1)).replace(b'"schema_version":1', b'"schema_version":null'),
        wire(error_event(1)).replace(b'"schema_version":1', b'"schema_version":"1"'),
        wire(error_event(1)).replace(b'"schema_version":1,', b""),
        wire(error_event(1)).replace(b'"context":{"order_id":"A-1","attempt":3}', b'"context":null'),
        wire(error_event(1)).replace(b'"context":{"order_id":"A-1","attempt":3}', b'"stack":null'),
        wire(error_event(1)).replace(b'"context":{"order_id":"A-1","attempt":3}', b'"event_id":null'),
        wire(error_event(1)).replace(b'"context":{"order_id":"A-1","attempt":3}', b'"colour":"red"'),
        wire(error_event(1)).replace(b'"context":{"order_id":"A-1","attempt":3}', b'"context":{"a":1}  '),
        b"[" * 100_000 + b"]" * 100_000,
        b'{"context":' + b"[" * 5000 + b"]" * 5000 + b"}",
    ],
)
def test_raw_bytes(data):
    assert_same(data)


@pytest.mark.parametrize("digits", [4299, 4300, 4301, 6000])
@pytest.mark.parametrize("number", [b"%s", b"-%s", b"1.%se5", b"0.%s", b"%se-400"])
def test_long_numbers(digits, number):
    """Python refuses integers past 4,300 digits (a decode error); long mantissas must round as the stdlib's."""
    spelt = number.replace(b"%s", b"9" * digits)
    assert_same(wire(error_event(1)).replace(b'"context":{', b'"context":{"n":' + spelt + b","))


def test_missing_fields_each_in_turn():
    for name in error_event(1):
        event = error_event(1)
        del event[name]
        assert_same(wire(event))


def test_a_valid_event_is_read_on_the_fast_path(monkeypatch):
    """The benchmark's events, and the fixtures', never reach the stdlib decoder."""

    def refuse(*_: Any, **__: Any) -> Any:
        raise AssertionError("the stdlib path ran")

    data = wire(error_event(1, stack="Traceback...\n", context={"a": [1, 2.5, "é"], "b": None}))
    expected = reference(data)
    monkeypatch.setattr(rows, "decode", refuse)
    monkeypatch.setattr(rows, "parse", refuse)
    assert rows.read_stored(data)[:6] == expected[1][:6]


# --------------------------------------------------------------------------- generated cases

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(alphabet='a\x00é\t\\"\U0001f600\x7f\u2028', max_size=6)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(alphabet="k\x00é\\", max_size=3), inner, max_size=4)
    ),
    max_leaves=25,
)
field_values = {
    "event_id": st.sampled_from(UUIDS) | json_scalars,
    "source": st.text(max_size=3) | st.sampled_from(TEXTS) | json_scalars,
    "level": st.sampled_from(LEVELS) | json_scalars,
    "message": st.text(max_size=20) | st.sampled_from(TEXTS) | json_scalars,
    "occurred_at": st.sampled_from(TIMESTAMPS) | json_scalars,
    "received_at": st.sampled_from(TIMESTAMPS) | json_scalars,
    "context": st.dictionaries(st.text(max_size=3), json_values, max_size=5) | json_values,
    "stack": st.none() | st.text(max_size=20) | json_scalars,
    "schema_version": st.sampled_from([1, 1.0, 2, True, None, "1"]),
    "colour": st.just("red"),
}


@st.composite
def wire_events(draw: st.DrawFn) -> bytes:
    event = error_event(draw(st.integers(0, 10**6)))
    for name in draw(st.sets(st.sampled_from(sorted(field_values)), max_size=3)):
        if draw(st.booleans()) and name in event:
            del event[name]
        else:
            event[name] = draw(field_values[name])
    text = json.dumps(event, ensure_ascii=draw(st.booleans()), separators=draw(st.sampled_from([None, (",", ":")])))
    return text.encode("utf-8", "surrogatepass")  # a lone surrogate as raw bytes: not UTF-8


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(wire_events() | st.binary(max_size=300) | json_values.map(lambda v: json.dumps(v).encode()))
@example(wire(error_event(1)))
def test_fast_path_agrees_with_the_reference(data):
    assert_same(data)


def test_random_mutations_of_valid_events_agree():
    """Byte-level damage to valid events (flips, drops, insertions of JSON's special characters): 20,000 seeded
    cases, so a run is reproducible; run with more locally (FUZZ_N) before changing read_stored."""
    rng = random.Random(20261123)
    specials = [b"\x00", b"\\", b'"', b"\\u0000", b"\\ud800", b"{", b"[", b"1e400", b"NaN", b"\xff", b"\xc3", b","]
    verdicts = {"stored": 0, "refused": 0}
    for i in range(int(os.environ.get("FUZZ_N", "20000"))):
        data = bytearray(wire(error_event(i, stack="s" if i % 3 else None, context={"a": [i, i / 7, "é"]})))
        for _ in range(rng.randint(0, 3)):
            at = rng.randrange(len(data))
            action = rng.randrange(3)
            if action == 0:
                data[at] = rng.randrange(256)
            elif action == 1:
                del data[at]
            else:
                data[at:at] = rng.choice(specials)
        verdicts[assert_same(bytes(data))] += 1
    assert verdicts["stored"] and verdicts["refused"]


def test_typed_tells_numbers_apart():
    assert typed(json.loads("[1, 1.0, true, -0.0, 0.0]")) == {
        "list": [("int", 1), ("float", "1.0"), ("bool", True), ("float", "-0.0"), ("float", "0.0")]
    }


# --------------------------------------------------------------------------- a chunk at a time


def one_by_one(datas: list[bytes]) -> list[Any]:
    out: list[Any] = []
    for data in datas:
        try:
            out.append(rows.read_stored(data))
        except Exception as e:
            out.append((type(e), str(e)))
    return out


def chunked(datas: list[bytes]) -> list[Any]:
    return [(type(r), str(r)) if isinstance(r, Exception) else r for r in rows.read_stored_many(datas)]


def valid_chunk(n: int = 20) -> list[bytes]:
    stacks = ["Traceback...\n", None, "plain"]
    return [
        wire(error_event(i, stack=stacks[i % 3], context={"a": [i, i / 7, "é"], "n": {"x": None}} if i % 2 else {}))
        for i in range(n)
    ]


def test_a_chunk_of_valid_events_is_read_column_by_column(monkeypatch):
    """The common case never reads a record alone, and gives read_stored's rows exactly."""
    datas = valid_chunk()
    expected = one_by_one(datas)

    def refuse(*_: Any, **__: Any) -> Any:
        raise AssertionError("a record was read alone")

    monkeypatch.setattr(rows, "read_stored", refuse)
    assert rows.read_stored_many(datas) == expected


def _with(field: str, value: Any) -> bytes:
    event = error_event(99)
    event[field] = value
    return json.dumps(event, ensure_ascii=False).encode("utf-8", "surrogatepass")


# Each value where one record of a valid chunk may go wrong in a way only a column's check would see.
ODD_ONES = (
    [
        _with("event_id", value)
        for value in [
            *UUIDS,
            "00000000-0000-4000-8000-00000000000\t",
            "0" * 36,
            "00000000-0000-4000-8000-0000000000\u0660\u0661",  # Arabic-Indic digits
            "00000000-0000-4000-8000-0000000000012",  # too long
            "00000000-0000-4000-8000-00000000-001",  # a dash for a digit
            "0000000-00000-4000-8000-000000000001",  # each dash one place early in turn
            "00000000-000-04000-8000-000000000001",
            "00000000-0000-400-08000-000000000001",
            "00000000-0000-4000-800-0000000000001",
        ]
    ]
    + [_with(name, value) for name in ("source", "message", "stack") for value in TEXTS]
    + [_with(name, "é" * 16385) for name in ("message", "stack")]  # under the limit in characters, over in bytes
    + [_with("source", "s" * 129), _with("message", "m" * 40000), _with("stack", None)]
    + [_with("level", value) for value in LEVELS]
    + [_with(name, value) for name in ("occurred_at", "received_at") for value in TIMESTAMPS]
    + [_with("context", value) for value in CONTEXTS]
    + [_with("context", nested(depth, "x")) for depth in (63, 64, 65)]
    + [b"{broken", b"", b"[]", wire(error_event(1))[:-1]]
)


@pytest.mark.parametrize("odd", ODD_ONES)
@pytest.mark.parametrize("at", [0, 7, 19])
def test_one_odd_record_in_a_chunk_gives_what_it_gives_alone(odd, at):
    datas = valid_chunk()
    datas[at] = odd
    assert chunked(datas) == one_by_one(datas)


def test_an_id_too_short_beside_one_too_long_is_still_refused():
    """The ids are checked joined: a 35-character id beside a 37-character one adds up to the right length."""
    datas = valid_chunk(4)
    datas[1] = _with("event_id", "00000000-0000-4000-8000-00000000001")
    datas[2] = _with("event_id", "000000000-0000-4000-8000-000000000001")
    got = chunked(datas)
    assert got == one_by_one(datas) and got[1][0] is InvalidEvent and got[2][0] is InvalidEvent


def test_two_halves_that_would_join_into_events_are_refused_each():
    """Records are decoded one by one: two broken records that, joined by a comma, read as two whole events
    must stay two broken records."""
    first, second = wire(error_event(1)), wire(error_event(2))
    cut = second.index(b',"source"')
    halves = [first + b"," + second[:cut], second[cut + 1 :]]
    assert json.loads(b"[" + b",".join(halves) + b"]")  # joined, they would pass for two events
    got = chunked(halves)
    assert got == one_by_one(halves) and all(result[0] is InvalidEvent for result in got)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(wire_events() | st.sampled_from(valid_chunk(6)), min_size=0, max_size=12))
def test_a_generated_chunk_gives_what_each_record_gives_alone(datas):
    assert chunked(datas) == one_by_one(datas)


def test_a_flaw_in_the_chunk_checks_costs_its_records_only_time(monkeypatch):
    datas = valid_chunk()
    datas[3] = b"{broken"
    expected = chunked(datas)

    def flawed(_: Any) -> Any:
        raise IndexError("a bug in a column check")

    monkeypatch.setattr(rows, "_read_chunk", flawed)
    assert chunked(datas) == expected == one_by_one(datas)


@pytest.mark.parametrize("field", ["occurred_at", "received_at"])
def test_a_timestamp_holding_a_tab_is_not_two_timestamps(field):
    """The timestamps are matched joined by tabs: one that holds a tab between two valid ones must not pass for
    two of them (alone it is 51 characters, refused)."""
    valid = "2026-11-22T09:15:02+00:00"
    datas = valid_chunk(4)
    datas[1] = _with(field, f"{valid}\t{valid}")
    got = chunked(datas)
    assert got == one_by_one(datas) and got[1][0] is InvalidEvent
