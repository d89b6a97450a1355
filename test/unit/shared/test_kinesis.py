"""The KPL codec against the aws-kinesis-agg library: aggregates either side writes, the other reads."""

import base64
import hashlib
import itertools

import aws_kinesis_agg.aggregator as lib_aggregator
import aws_kinesis_agg.deaggregator as lib_deaggregator
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared import kinesis
from test.support import kinesis_event, load_event


def _lambda_records(aggs):
    return kinesis_event([(a.partition_key, a.data) for a in aggs])["Records"]


def test_our_aggregates_are_read_by_the_library():
    entries = [(f"key-{i % 13}", f"payload {i}".encode() * (i % 50 + 1)) for i in range(3000)]
    aggs = kinesis.aggregate(entries)
    records = list(lib_deaggregator.iter_deaggregate_records(_lambda_records(aggs)))
    assert [(r["kinesis"]["partitionKey"], base64.b64decode(r["kinesis"]["data"])) for r in records] == entries


def test_library_aggregates_are_read_by_us():
    agg = lib_aggregator.RecordAggregator()
    entries = [(f"pk{i}", bytes([i]) * i) for i in range(1, 200)]
    for key, data in entries:
        assert agg.add_user_record(key, data) is None
    key, _, data = agg.clear_and_get().get_contents()
    out = list(kinesis.deaggregate(kinesis_event([(key, data)])["Records"]))
    assert [(r.partition_key, r.data) for r in out] == entries
    assert [r.sub_sequence_number for r in out] == list(range(len(entries)))
    assert all(r.shard_id == "shardId-000000000000" for r in out)


def test_aggregated_fixture_deaggregates_with_sub_sequence_numbers():
    out = list(kinesis.deaggregate(load_event("error_sink/kinesis_aggregated.json")["Records"]))
    assert len(out) == 11
    assert [r.sub_sequence_number for r in out[:10]] == list(range(10))
    assert out[10].data[:4] != kinesis.MAGIC and out[10].shard_id == "shardId-000000000001"


def test_plain_record_passes_through():
    (record,) = kinesis.deaggregate(kinesis_event([("k", b'{"a":1}')])["Records"])
    assert record == kinesis.UserRecord(b'{"a":1}', "k", "shardId-000000000000", record.sequence_number, 0)


def _varint(value):
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    return bytes([*out, value])


def _framed(body):
    """A KPL aggregate around a hand-written protobuf body, with a valid digest."""
    return kinesis.MAGIC + body + hashlib.md5(body).digest()


def _aggregate_bytes():
    return kinesis.aggregate([("a", b"one"), ("b", b"two")])[0].data


@pytest.mark.parametrize(
    ("mangle", "reason"),
    [
        (lambda d: d[:-1] + bytes([d[-1] ^ 1]), "MD5 digest mismatch"),
        (lambda d: d[:-5], "MD5 digest mismatch"),  # truncated in transit
        (lambda d: d[:10], "shorter than its header"),
        (lambda d: kinesis.MAGIC + b"\x01\x02", "shorter than its header"),
        (lambda d: kinesis.MAGIC + b"\xff\xff" + hashlib.md5(b"\xff\xff").digest(), "protobuf unreadable"),
        # A valid digest over a key table and no records: it vanished with no row and no dead letter.
        (lambda d: _framed(b"\x0a\x01k"), "holds no user records"),
        # 10,001 empty records in 60 kB would have become 10,001 dead letters.
        (lambda d: _framed(b"\x0a\x01k" + b"\x1a\x04\x08\x00\x1a\x00" * 10_001), "10001 user records"),
    ],
)
def test_corrupt_aggregate_is_reported_never_passed_through(mangle, reason):
    data = mangle(_aggregate_bytes())
    (record,) = kinesis.deaggregate(kinesis_event([("a", data)])["Records"])
    assert isinstance(record, kinesis.CorruptRecord)
    assert reason in record.reason
    assert record.data == data


@pytest.mark.parametrize(
    "index",
    [
        5,  # past a table of one: the library would print to stderr and drop the record
        2**63,  # no Python sequence takes it: it raised TypeError out of the consumer's COPY
    ],
)
def test_a_bad_key_index_spoils_its_own_user_record_only(index):
    good = b"\x1a\x05\x08\x00\x1a\x01x"
    bad = b"\x08" + _varint(index) + b"\x1a\x01y"
    body = b"\x0a\x01k" + good + b"\x1a" + bytes([len(bad)]) + bad + good
    out = list(kinesis.deaggregate(kinesis_event([("a", _framed(body))])["Records"]))
    assert [type(r).__name__ for r in out] == ["UserRecord", "CorruptRecord", "UserRecord"]
    assert [r.sub_sequence_number for r in out] == [0, 1, 2]
    assert out[1].data == b"y" and f"names partition key {index} of 1" in out[1].reason
    assert out[0].data == out[2].data == b"x"


def test_an_aggregate_at_the_user_record_bound_is_still_read():
    body = b"\x0a\x01k" + b"\x1a\x05\x08\x00\x1a\x01x" * kinesis.MAX_USER_RECORDS
    out = list(kinesis.deaggregate(kinesis_event([("a", _framed(body))])["Records"]))
    assert len(out) == kinesis.MAX_USER_RECORDS and all(r.data == b"x" for r in out)


@pytest.mark.parametrize(
    "broken",
    [
        {"kinesis": {"data": 7, "partitionKey": "a", "sequenceNumber": "1"}},  # data not a string
        {"kinesis": {"partitionKey": "a", "sequenceNumber": "1"}},  # no data
        {"eventID": "shardId-1:1"},  # no kinesis part
    ],
)
def test_a_record_of_the_wrong_shape_is_one_corrupt_record_not_an_exception(broken):
    (record,) = kinesis.deaggregate([broken])
    assert isinstance(record, kinesis.CorruptRecord)


def test_record_whose_data_is_not_base64_is_reported():
    event = kinesis_event([("a", b"x")])
    event["Records"][0]["kinesis"]["data"] = "***"
    (record,) = kinesis.deaggregate(event["Records"])
    assert isinstance(record, kinesis.CorruptRecord) and "not base64" in record.reason


def test_aggregates_fill_the_record_limit():
    entries = [(f"00000000-0000-4000-8000-{i:012d}", b"x" * 400) for i in range(10_000)]
    aggs = kinesis.aggregate(entries)
    sizes = [len(a.data) + len(a.partition_key) for a in aggs]
    assert all(size <= kinesis.MAX_RECORD_BYTES for size in sizes)
    assert all(size >= 0.95 * kinesis.MAX_RECORD_BYTES for size in sizes[:-1])
    assert sum(a.user_records for a in aggs) == 10_000
    assert list(itertools.chain.from_iterable(a.indexes for a in aggs)) == list(range(10_000))


def test_a_record_too_big_to_share_travels_alone_and_one_too_big_for_kinesis_is_refused():
    big = b"y" * (kinesis.MAX_RECORD_BYTES - 30)  # fits alone, but not with aggregate framing
    aggs = kinesis.aggregate([("a", b"small"), ("b", big), ("c", b"small")])
    assert [a.user_records for a in aggs] == [1, 1, 1]
    assert aggs[1].data == big  # plain, not aggregated
    with pytest.raises(ValueError, match="over the Kinesis record limit"):
        kinesis.aggregate([("a", b"z" * kinesis.MAX_RECORD_BYTES)])
    with pytest.raises(ValueError, match="partition key"):
        kinesis.aggregate([("", b"z")])


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.text(min_size=1, max_size=20).filter(lambda k: len(k.encode()) <= 256),
            st.binary(max_size=3000),
        ),
        max_size=60,
    ),
    st.integers(min_value=2_000, max_value=20_000),
)
def test_aggregate_then_deaggregate_round_trips(entries, max_bytes):
    try:
        aggs = kinesis.aggregate(entries, max_bytes=max_bytes)
    except ValueError:
        assert any(len(d) + len(k.encode()) > max_bytes for k, d in entries)
        return
    out = list(kinesis.deaggregate(_lambda_records(aggs)))
    assert [(r.partition_key, r.data) for r in out] == entries
    assert all(len(a.data) + len(a.partition_key.encode()) <= max_bytes for a in aggs)
