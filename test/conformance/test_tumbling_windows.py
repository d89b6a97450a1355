"""Tumbling windows: state between invocations, the final invocation, early termination.

Source: Lambda developer guide, "Using tumbling windows with Kinesis" (services-kinesis-windows.html):
the event adds window {start, end}, state, shardId, eventSourceARN, isFinalInvokeForWindow and
isWindowTerminatedEarly; the function returns its state; a window ends early only if the state exceeds
1 MB; windows are per shard and end at a shard's end (resharding).
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration


def _counting(calls, extra=None):
    def handler(event, context):
        calls.append(event)
        state = dict(event["state"])
        state["n"] = state.get("n", 0) + len(event["Records"])
        if extra:
            state.update(extra(event))
        return {"state": state, "batchItemFailures": []}

    return handler


def test_state_passes_between_invocations_and_a_final_invocation_ends_the_window(stream, mapping):
    """Tumbling windows: Lambda passes the returned state to the next invocation of the window and
    invokes once more, with isFinalInvokeForWindow true, when the window ends."""
    stream.put([str(i) for i in range(5)])
    calls = []
    mapping(stream, _counting(calls), batch_size=2, tumbling_window_s=900).drain()
    assert [len(c["Records"]) for c in calls] == [2, 2, 1, 0]
    assert [c["state"].get("n", 0) for c in calls] == [0, 2, 4, 5]
    assert [c["isFinalInvokeForWindow"] for c in calls] == [False, False, False, True]
    assert not any(c["isWindowTerminatedEarly"] for c in calls)
    assert len({c["window"]["start"] for c in calls}) == 1
    assert {c["shardId"] for c in calls} == {"shardId-000000000000"}
    assert all(c["eventSourceARN"].endswith(stream.name) for c in calls)


def test_a_window_closes_when_its_time_has_passed(stream, mapping, clock):
    """Tumbling windows: a window is a fixed interval; its final invocation comes once it has ended."""
    stream.put(["a"])
    calls = []
    esm = mapping(stream, _counting(calls), tumbling_window_s=60)
    esm.poll_once()
    assert [c["isFinalInvokeForWindow"] for c in calls] == [False]
    clock.offset = 61
    esm.poll_once()
    assert [c["isFinalInvokeForWindow"] for c in calls] == [False, True]
    assert calls[-1]["state"] == {"n": 1}


def test_state_over_1_mb_ends_the_window_early(stream, mapping):
    """Tumbling windows: isWindowTerminatedEarly, a window ends early only if the state exceeds the
    maximum allowed size of 1 MB. The next records start a fresh state."""
    stream.put(["a", "b"])
    calls = []
    big = {"padding": "x" * (1024 * 1024)}
    esm = mapping(
        stream,
        _counting(calls, lambda e: big if e["Records"] and len(calls) == 1 else {}),
        batch_size=1,
        tumbling_window_s=900,
    )
    esm.drain()
    flags = [(len(c["Records"]), c["isFinalInvokeForWindow"], c["isWindowTerminatedEarly"]) for c in calls]
    assert flags == [(1, False, False), (0, True, True), (1, False, False), (0, True, False)]
    assert calls[2]["state"] == {}  # a fresh window state after the early end


def test_a_response_without_state_leaves_an_empty_state(stream, mapping):
    """Tumbling windows: the function returns the state for the next invocation; the page does not say
    what a response without it means. The emulator passes an empty state on (nothing was returned),
    which is what a handler that forgets to return its state would see on Lambda, too: its state lost."""
    stream.put(["a", "b"])
    calls = []

    def handler(event, context):
        calls.append(event)
        return {} if len(calls) == 1 else {"state": {"seen": True}}

    mapping(stream, handler, batch_size=1, tumbling_window_s=900).drain()
    assert [c["state"] for c in calls] == [{}, {}, {"seen": True}]


def test_a_failed_batch_in_a_window_is_retried_with_the_same_state(stream, mapping):
    """Tumbling windows: tumbling windows fully support the retry policies (maximum retries and record age)."""
    stream.put(["a", "b"])
    calls = []

    def handler(event, context):
        calls.append(event)
        if len(calls) == 2:
            raise RuntimeError("down")
        return {"state": {"n": event["state"].get("n", 0) + len(event["Records"])}}

    mapping(stream, handler, batch_size=1, tumbling_window_s=900, max_retries=2).drain()
    assert [(len(c["Records"]), c["state"]) for c in calls] == [(1, {}), (1, {"n": 1}), (1, {"n": 1}), (0, {"n": 2})]
