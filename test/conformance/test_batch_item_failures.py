"""ReportBatchItemFailures: partial batch responses.

Source: Lambda developer guide, "Configuring partial batch response with Kinesis Data Streams and Lambda"
(services-kinesis-batchfailurereporting.html).
"""

from __future__ import annotations

import pytest

from test.conformance.conftest import Recorder

pytestmark = pytest.mark.integration


def _first_call(response):
    """A handler answering ``response(seqs)`` on its first invocation and success afterwards."""
    calls = []

    def respond(batch, event):
        calls.append(1)
        if len(calls) == 1:
            return response([r["kinesis"]["sequenceNumber"] for r in event["Records"]])
        return {"batchItemFailures": []}

    return respond


def test_the_batch_resumes_at_the_lowest_reported_sequence_number(stream, mapping):
    """Batch item failures: if batchItemFailures has several items, Lambda uses the record with the
    lowest sequence number as the checkpoint and retries all records from it."""
    stream.put([str(i) for i in range(6)])
    reported = lambda s: {"batchItemFailures": [{"itemIdentifier": s[4]}, {"itemIdentifier": s[2]}]}  # noqa: E731
    handler = Recorder(_first_call(reported))
    esm = mapping(stream, handler, bisect=False)
    esm.drain()
    assert handler.batches == [["0", "1", "2", "3", "4", "5"], ["2", "3", "4", "5"]]


@pytest.mark.parametrize(
    "response",
    [{"batchItemFailures": []}, {"batchItemFailures": None}, {}, None],
    ids=["empty list", "null list", "empty response", "null response"],
)
def test_an_empty_or_null_failure_list_is_complete_success(stream, mapping, response):
    """Batch item failures ("Success and failure conditions"): an empty or null batchItemFailures
    list, an empty EventResponse or a null EventResponse is a complete success."""
    stream.put(["a", "b"])
    handler = Recorder(lambda batch, event: response)
    mapping(stream, handler).drain()
    assert handler.batches == [["a", "b"]]


@pytest.mark.parametrize(
    "failure",
    [
        lambda s: {"itemIdentifier": ""},
        lambda s: {"itemIdentifier": None},
        lambda s: {"itemIdentifer": s[1]},
        lambda s: {"itemIdentifier": "49999999999999999999999999999999999999999999999999999999"},
    ],
    ids=["empty string", "null", "wrongly keyed", "not in the batch"],
)
def test_a_bad_item_identifier_fails_the_whole_batch(stream, mapping, failure):
    """Batch item failures ("Success and failure conditions"): an empty-string itemIdentifier, a null
    itemIdentifier or an itemIdentifier with a bad key name is a complete failure, retried per the retry
    strategy. An identifier that is not in the batch is not listed; the emulator treats it like a bad
    one (the batch is retried from its first record), the safe reading: no record is skipped."""
    stream.put(["a", "b", "c"])
    handler = Recorder(_first_call(lambda s: {"batchItemFailures": [failure(s)]}))
    mapping(stream, handler, bisect=True).drain()
    assert handler.batches == [["a", "b", "c"], ["a", "b", "c"]]  # retried whole, and not bisected


def test_item_failures_are_ignored_without_the_response_type(stream, mapping):
    """Batch item failures: Lambda does not process partial batch failure responses unless
    ReportBatchItemFailures is turned on for the event source mapping."""
    seqs = stream.put(["a", "b"])
    handler = Recorder(lambda batch, event: {"batchItemFailures": [{"itemIdentifier": seqs[0]}]})
    esm = mapping(stream, handler, report_item_failures=False)
    esm.drain()
    assert handler.batches == [["a", "b"]]
    assert esm.checkpoints.get("shardId-000000000000") == seqs[-1]


def test_with_bisect_a_partial_failure_retries_only_the_records_from_the_returned_sequence(stream, mapping):
    """Batch item failures ("Bisecting a batch"): when a partial batch success response is received and
    both BisectBatchOnFunctionError and ReportBatchItemFailures are turned on, the batch is bisected at
    the returned sequence number and Lambda retries only the remaining records."""
    stream.put([str(i) for i in range(5)])
    handler = Recorder(_first_call(lambda s: {"batchItemFailures": [{"itemIdentifier": s[3]}]}))
    esm = mapping(stream, handler, bisect=True)
    esm.drain()
    assert handler.batches == [["0", "1", "2", "3", "4"], ["3", "4"]]


def test_a_function_error_bisects_whatever_the_response_type(stream, mapping):
    """Batch item failures ("Bisecting a batch"): if the invocation fails and BisectBatchOnFunctionError
    is on, the batch is bisected regardless of the ReportBatchItemFailures setting."""
    stream.put([str(i) for i in range(4)])
    calls = []

    def respond(batch, event):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("function error")

    handler = Recorder(respond)
    mapping(stream, handler, bisect=True, report_item_failures=False).drain()
    assert handler.batches == [["0", "1", "2", "3"], ["0", "1"], ["2", "3"]]


def test_a_partial_failure_uses_a_retry(stream, mapping):
    """Batch item failures: Lambda retries failures based on your retry strategy. The remainder of a
    partial failure is a retry of the batch (the page does not say otherwise), so it runs out of
    MaximumRetryAttempts like any failure."""
    stream.put(["a", "b"])
    failures = []

    def respond(batch, event):
        return {"batchItemFailures": [{"itemIdentifier": event["Records"][-1]["kinesis"]["sequenceNumber"]}]}

    handler = Recorder(respond)
    esm = mapping(stream, handler, max_retries=2)
    esm.on_failure = failures.append
    esm.drain()
    assert handler.batches == [["a", "b"], ["b"], ["b"]]
    (failure,) = failures
    assert failure["KinesisBatchInfo"]["batchSize"] == 1
    assert failure["requestContext"]["approximateInvokeCount"] == 3
    assert "functionError" not in failure["responseContext"]  # the function answered; it did not raise
