"""Retries, record age, backoff and bisection of a failing batch.

Source: Lambda developer guide, "Retain discarded batch records for a Kinesis Data Streams event source"
(kinesis-on-failure-destination.html, "Error handling"), and "Lambda parameters for Amazon Kinesis Data
Streams event source mappings" (services-kinesis-parameters.html).
"""

from __future__ import annotations

import pytest

from test.conformance.conftest import Recorder

pytestmark = pytest.mark.integration
SHARD = "shardId-000000000000"


def _always_fail(batch, event):
    raise RuntimeError("down")


def test_max_retry_attempts_n_invokes_n_plus_one_times_then_skips(stream, mapping):
    """Kinesis parameters: MaximumRetryAttempts discards records after that many retries: N retries are
    N + 1 invocations, and the on-failure record counts them (approximateInvokeCount)."""
    seqs = stream.put(["a", "b"])
    failures = []
    handler = Recorder(_always_fail)
    esm = mapping(stream, handler, max_retries=2, bisect=False)
    esm.on_failure = failures.append
    esm.drain()
    assert handler.batches == [["a", "b"]] * 3
    (failure,) = failures
    assert failure["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert failure["requestContext"]["approximateInvokeCount"] == 3
    assert esm.checkpoints.get(SHARD) == seqs[-1]  # skipped, so the shard moves on


def test_max_retry_attempts_zero_invokes_once(stream, mapping):
    """Kinesis parameters: MaximumRetryAttempts 0 means no retry."""
    stream.put(["a"])
    handler = Recorder(_always_fail)
    mapping(stream, handler, max_retries=0, bisect=False).drain()
    assert handler.batches == [["a"]]


def test_infinite_retries_go_on_until_the_record_exceeds_its_maximum_age(stream, mapping, clock):
    """Kinesis parameters: MaximumRetryAttempts -1 retries failed records until the record expires;
    on-failure page: Lambda retries until the records exceed MaximumRecordAgeInSeconds. The clock is
    moved forward (an in-process fake: a minute of real waiting would make the suite slow)."""
    stream.put(["a"])
    failures = []

    def fail(batch, event):
        if len(handler.batches) == 5:
            clock.offset = 61  # the record is now older than 60 s
        raise RuntimeError("database down")

    handler = Recorder(fail)
    esm = mapping(stream, handler, max_retries=-1, max_record_age_s=60, bisect=False)
    esm.on_failure = failures.append
    esm.drain()
    assert len(handler.batches) == 5
    (failure,) = failures
    assert failure["requestContext"]["condition"] == "RecordAgeExceeded"
    assert failure["requestContext"]["approximateInvokeCount"] == 5
    assert failure["responseContext"]["functionError"] == "Unhandled"


def test_records_older_than_the_maximum_age_are_not_invoked(stream, mapping, clock):
    """Kinesis parameters: MaximumRecordAgeInSeconds discards records older than that age; the
    on-failure page: such records are sent to the destination (condition RecordAgeExceeded)."""
    stream.put(["old-1", "old-2"])
    clock.offset = 120
    handler = Recorder()
    failures = []
    esm = mapping(stream, handler, max_record_age_s=60)
    esm.on_failure = failures.append
    esm.drain()
    assert handler.batches == []
    assert [f["requestContext"]["condition"] for f in failures] == ["RecordAgeExceeded"]
    assert failures[0]["KinesisBatchInfo"]["batchSize"] == 2
    assert failures[0]["requestContext"]["approximateInvokeCount"] == 0
    assert esm.checkpoints.get(SHARD) is not None


def test_infinite_record_age_is_bounded_by_the_streams_retention(stream, mapping, clock):
    """Kinesis parameters: MaximumRecordAgeInSeconds -1 means Lambda does not discard records, but the
    stream's data retention still applies (24 hours by default)."""
    stream.put(["a"])
    failures = []

    def fail(batch, event):
        clock.offset = 24 * 3600 + 1
        raise RuntimeError("down")

    esm = mapping(stream, Recorder(fail), max_retries=-1, max_record_age_s=-1, bisect=False)
    esm.on_failure = failures.append
    esm.drain()
    assert [f["requestContext"]["condition"] for f in failures] == ["RecordAgeExceeded"]


def test_retries_back_off_exponentially(stream, mapping):
    """On-failure page and Kinesis parameters: retries of a failed batch. The documentation does not
    give Lambda's wait between stream retries; the emulator doubles a configurable base each retry (up
    to a cap) rather than retrying in a tight loop."""
    stream.put(["a"])
    waits = []
    backoff = {"retry_delay_s": 0.01, "retry_delay_max_s": 0.1}
    esm = mapping(stream, Recorder(_always_fail), max_retries=5, bisect=False, **backoff)
    esm.sleep = waits.append
    esm.drain()
    assert waits == [0.01, 0.02, 0.04, 0.08, 0.1]


def test_bisect_splits_a_failed_batch_and_the_split_uses_no_retry(stream, mapping):
    """On-failure page: BisectBatchOnFunctionError splits a failed batch in two; splitting batches
    doesn't consume the retry quota. So each half gets its own retries and only the bad record runs out
    of them."""
    seqs = stream.put([str(i) for i in range(8)])
    failures = []

    def fail(batch, event):
        if "5" in batch:
            raise RuntimeError("poison")

    handler = Recorder(fail)
    esm = mapping(stream, handler, max_retries=1, bisect=True)
    esm.on_failure = failures.append
    esm.drain()
    assert [len(b) for b in handler.batches] == [8, 4, 4, 2, 1, 1, 1, 2]
    delivered = sorted(x for b in handler.batches if "5" not in b for x in b)
    assert delivered == ["0", "1", "2", "3", "4", "6", "7"]
    (failure,) = failures
    info = failure["KinesisBatchInfo"]
    assert (info["startSequenceNumber"], info["endSequenceNumber"], info["batchSize"]) == (seqs[5], seqs[5], 1)
    assert failure["requestContext"]["approximateInvokeCount"] == 2  # its own try and one retry
    assert esm.checkpoints.get(SHARD) == seqs[-1]


def test_without_bisect_the_whole_batch_is_retried_and_skipped_together(stream, mapping):
    """On-failure page: without bisection the failed batch is retried as a whole, then discarded."""
    stream.put([str(i) for i in range(4)])
    failures = []

    def fail(batch, event):
        if "2" in batch:
            raise RuntimeError("poison")

    handler = Recorder(fail)
    esm = mapping(stream, handler, max_retries=1, bisect=False)
    esm.on_failure = failures.append
    esm.drain()
    assert handler.batches == [["0", "1", "2", "3"]] * 2
    assert [f["KinesisBatchInfo"]["batchSize"] for f in failures] == [4]


def test_a_failing_batch_holds_back_its_shard_until_handled(stream, mapping):
    """Using Lambda with Kinesis: the checkpoint moves only after a batch succeeds; later records of
    the shard wait behind a failing batch."""
    stream.put(["a", "b"])
    calls = []

    def handler(event, context):
        calls.append(len(event["Records"]))
        if len(calls) < 3:
            raise RuntimeError("down")

    mapping(stream, handler, batch_size=1, max_retries=5, bisect=False).drain()
    assert calls == [1, 1, 1, 1]  # "a" three times, then "b"
