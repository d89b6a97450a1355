"""The KPL codec against the aws-kinesis-agg library, and the publisher's batching and retries."""

import base64
import hashlib
import itertools

import aws_kinesis_agg.aggregator as lib_aggregator
import aws_kinesis_agg.deaggregator as lib_deaggregator
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError
from hypothesis import given, settings
from hypothesis import strategies as st

from shared import kinesis
from shared.exceptions import PublishError
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
    assert sum(a.count for a in aggs) == 10_000
    assert list(itertools.chain.from_iterable(a.indexes for a in aggs)) == list(range(10_000))


def test_a_record_too_big_to_share_travels_alone_and_one_too_big_for_kinesis_is_refused():
    big = b"y" * (kinesis.MAX_RECORD_BYTES - 30)  # fits alone, but not with aggregate framing
    aggs = kinesis.aggregate([("a", b"small"), ("b", big), ("c", b"small")])
    assert [a.count for a in aggs] == [1, 1, 1]
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


# --------------------------------------------------------------------------- publisher


class FakeKinesis:
    """In-memory PutRecords: fails the entries whose call-order number is in ``fail``, records the rest."""

    def __init__(self, fail=lambda n: False, raise_first=None):
        self.calls = []
        self.stored = []
        self._fail = fail
        self._raise = list(raise_first or [])
        self._n = 0

    def put_records(self, StreamName, Records):
        self.calls.append(len(Records))
        if self._raise:
            raise self._raise.pop(0)
        assert len(Records) <= 500
        assert sum(len(r["Data"]) + len(r["PartitionKey"]) for r in Records) <= 5 * 1024 * 1024
        out = []
        for r in Records:
            self._n += 1
            if self._fail(self._n):
                out.append({"ErrorCode": "ProvisionedThroughputExceededException", "ErrorMessage": "slow down"})
            else:
                self.stored.append(r["Data"])
                out.append({"SequenceNumber": str(self._n), "ShardId": "shardId-000000000000"})
        return {"FailedRecordCount": sum("ErrorCode" in o for o in out), "Records": out}


class FakeClock:
    def __init__(self):
        self.now = 0.0
        self.sleeps = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


def _records(n, size=10):
    return [kinesis.AggregatedRecord(f"k{i}", bytes([i % 256]) * size, 1, (i,)) for i in range(n)]


def _publisher(client, clock, deadline=10.0):
    return kinesis.Publisher(client, "errors", deadline_s=deadline, clock=clock, sleep=clock.sleep, jitter=lambda: 1.0)


def test_only_failed_entries_are_retried_until_all_land():
    clock = FakeClock()
    client = FakeKinesis(fail=lambda n: n % 3 == 0)  # a third of all entries throttled, retries included
    records = _records(1200)
    result = _publisher(client, clock).publish(records)
    assert result.failed == {}
    assert result.succeeded == list(range(1200))
    assert sorted(client.stored) == sorted(r.data for r in records)  # each exactly once
    assert client.calls[:3] == [500, 500, 200]
    assert len(client.calls) > 3 and client.calls[3] < 500  # the retry carries only the failures


def test_backoff_grows_and_deadline_leaves_the_rest_failed():
    clock = FakeClock()
    client = FakeKinesis(fail=lambda n: True)
    result = _publisher(client, clock, deadline=1.0).publish(_records(3))
    assert sorted(result.failed) == [0, 1, 2]
    assert set(result.failed.values()) == {"ProvisionedThroughputExceededException"}
    assert clock.sleeps == sorted(clock.sleeps) and clock.sleeps[0] == pytest.approx(0.05)
    assert clock.now < 1.0


def test_batches_respect_the_five_mib_request_limit():
    clock = FakeClock()
    client = FakeKinesis()
    result = _publisher(client, clock).publish(_records(12, size=1_000_000))
    assert client.calls == [5, 5, 2]
    assert len(result.succeeded) == 12


def test_whole_call_throttle_and_connection_errors_are_retried():
    clock = FakeClock()
    throttle = ClientError({"Error": {"Code": "ProvisionedThroughputExceededException"}}, "PutRecords")
    client = FakeKinesis(raise_first=[throttle, EndpointConnectionError(endpoint_url="http://x")])
    result = _publisher(client, clock).publish(_records(4))
    assert result.succeeded == [0, 1, 2, 3] and result.failed == {}
    assert result.put_calls == 3


def test_a_missing_stream_is_not_retried():
    clock = FakeClock()
    missing = ClientError({"Error": {"Code": "ResourceNotFoundException", "Message": "no"}}, "PutRecords")
    with pytest.raises(PublishError, match="ResourceNotFoundException"):
        _publisher(FakeKinesis(raise_first=[missing]), clock).publish(_records(2))
    assert clock.sleeps == []


class HangingKinesis:
    """Every call takes its client's whole timeout on the fake clock, then times out, as an endpoint that
    accepts connections and never answers does; records the timeout and the time left at each call's start."""

    def __init__(self, clock, deadline):
        self.clock = clock
        self.deadline = deadline
        self.calls = []  # (time left at start, timeout)

    def client_for(self, timeout):
        outer = self

        class Client:
            def put_records(self, StreamName, Records):
                outer.calls.append((outer.deadline - outer.clock.now, timeout))
                outer.clock.now += timeout
                raise ReadTimeoutError(endpoint_url="http://127.0.0.1:9")

        return Client()


@pytest.mark.parametrize("deadline", [0.3, 1.0, 2.0, 10.0, 30.0])
def test_no_call_outlasts_the_deadline_against_an_endpoint_that_never_answers(deadline):
    clock = FakeClock()
    hanging = HangingKinesis(clock, deadline)
    publisher = kinesis.Publisher(
        None,
        "errors",
        deadline_s=deadline,
        clock=clock,
        sleep=clock.sleep,
        jitter=lambda: 1.0,
        client_for=hanging.client_for,
    )
    result = publisher.publish(_records(3))
    assert sorted(result.failed) == [0, 1, 2] and result.succeeded == []
    assert clock.now <= deadline
    assert len(hanging.calls) >= 2  # one call takes at most half the deadline: a second try always fits
    for left, timeout in hanging.calls:
        assert timeout in kinesis.CALL_TIMEOUTS_S and timeout <= left and timeout <= max(deadline / 2, 0.1)
    assert deadline - clock.now < 0.1 + 2.0  # stopped only when not even the smallest call (plus backoff) fit


def test_a_deadline_already_past_starts_no_call():
    clock = FakeClock()
    client = FakeKinesis()
    result = _publisher(client, clock).publish(_records(600), deadline_s=0.05)
    assert client.calls == []
    assert result.failed == dict.fromkeys(range(600), kinesis.DEADLINE_EXCEEDED)


def test_the_sooner_of_two_deadlines_wins():
    clock = FakeClock()
    client = FakeKinesis(fail=lambda n: True)
    _publisher(client, clock, deadline=10.0).publish(_records(1), deadline_s=0.5)
    assert clock.now <= 0.5
    clock = FakeClock()
    _publisher(client, clock, deadline=0.5).publish(_records(1), deadline_s=10.0)
    assert clock.now <= 0.5


@pytest.mark.parametrize(
    ("left", "cap", "expected"),
    [(10.0, 5.0, 5.0), (4.9, 5.0, 2.5), (0.3, 5.0, 0.25), (0.1, 5.0, 0.1), (0.09, 5.0, None), (1.0, 0.01, 0.1)],
)
def test_a_call_gets_the_largest_step_that_fits(left, cap, expected):
    assert kinesis.call_timeout(left, cap) == expected
