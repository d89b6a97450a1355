"""The publisher: PutRecords batches within Kinesis's limits, only failed entries retried, and a deadline kept."""

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError

from shared import kinesis
from shared.exceptions import PublishError
from shared.publisher import CALL_TIMEOUTS_S, DEADLINE_EXCEEDED, Publisher, call_timeout


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
    return Publisher(client, "errors", deadline_s=deadline, clock=clock, sleep=clock.sleep, jitter=lambda: 1.0)


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
    publisher = Publisher(
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
        assert timeout in CALL_TIMEOUTS_S and timeout <= left and timeout <= max(deadline / 2, 0.1)
    assert deadline - clock.now < 0.1 + 2.0  # stopped only when not even the smallest call (plus backoff) fit


def test_a_deadline_already_past_starts_no_call():
    clock = FakeClock()
    client = FakeKinesis()
    result = _publisher(client, clock).publish(_records(600), deadline_s=0.05)
    assert client.calls == []
    assert result.failed == dict.fromkeys(range(600), DEADLINE_EXCEEDED)


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
    assert call_timeout(left, cap) == expected
