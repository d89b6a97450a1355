"""Resharding: parents before children, nothing lost or repeated, windows closed at a shard's end.

Source: Lambda developer guide, "Using Lambda with Kinesis" (with-kinesis.html): Lambda processes a
parent shard before its child shards (after a split or merge, records are delivered in order per
partition key); "Using tumbling windows with Kinesis" (services-kinesis-windows.html): a window ends
at the end of a shard ("resharding"). Runs on kinesis-mock only: moto keeps writing to a parent shard
after a split, so it cannot show a shard's end.
"""

from __future__ import annotations

import threading

import pytest

from local.esm import SHARD_END
from test.conformance.conftest import Recorder

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("kinesis_mock_only")]


def _log(order):
    lock = threading.Lock()

    def handler(event, context):
        import base64

        with lock:
            for r in event["Records"]:
                shard = r["eventID"].split(":")[0]
                order.append((shard, base64.b64decode(r["kinesis"]["data"]).decode()))

    return handler


def test_a_split_in_the_middle_of_a_run_loses_and_repeats_nothing(new_stream, mapping):
    """Using Lambda with Kinesis: a child shard is read only once its parent is read to its end, and
    every record is handled once."""
    stream = new_stream(1)
    stream.put([f"p{i}" for i in range(10)], key=None)
    order = []
    esm = mapping(stream, _log(order), batch_size=3)
    esm.poll_once()  # part of the parent is handled when the split comes
    (parent,) = stream.shards()
    stream.kinesis.split_shard(StreamName=stream.name, ShardToSplit=parent["ShardId"], NewStartingHashKey=str(2**127))
    stream.wait()
    stream.put([f"c{i}" for i in range(10)], key=None)
    esm.drain()
    assert sorted(x for _, x in order) == sorted([f"p{i}" for i in range(10)] + [f"c{i}" for i in range(10)])
    shards = [s for s, _ in order]
    last_parent = max(i for i, s in enumerate(shards) if s == parent["ShardId"])
    first_child = min(i for i, s in enumerate(shards) if s != parent["ShardId"])
    assert last_parent < first_child
    assert len({s for s in shards if s != parent["ShardId"]}) == 2
    assert esm.checkpoints.get(parent["ShardId"]) == SHARD_END


def test_a_merge_waits_for_both_parents(new_stream, mapping):
    """Using Lambda with Kinesis: a merged shard has two parents; it is read after both have ended."""
    stream = new_stream(2)
    stream.put([f"p{i}" for i in range(20)], key=None)
    order = []
    esm = mapping(stream, _log(order), batch_size=4)
    esm.poll_once()
    a, b = sorted(stream.shards(), key=lambda s: int(s["HashKeyRange"]["StartingHashKey"]))
    stream.kinesis.merge_shards(StreamName=stream.name, ShardToMerge=a["ShardId"], AdjacentShardToMerge=b["ShardId"])
    stream.wait()
    stream.put([f"m{i}" for i in range(10)], key=None)
    esm.drain()
    assert sorted(x for _, x in order) == sorted([f"p{i}" for i in range(20)] + [f"m{i}" for i in range(10)])
    parents = {a["ShardId"], b["ShardId"]}
    last_parent = max(i for i, (s, _) in enumerate(order) if s in parents)
    first_child = min(i for i, (s, _) in enumerate(order) if s not in parents)
    assert last_parent < first_child


def test_a_failing_parent_holds_back_its_children(new_stream, mapping):
    """Using Lambda with Kinesis: children wait for the parent's records to be handled, retries included."""
    stream = new_stream(1)
    stream.put(["p"], key=None)
    (parent,) = stream.shards()
    stream.kinesis.split_shard(StreamName=stream.name, ShardToSplit=parent["ShardId"], NewStartingHashKey=str(2**127))
    stream.wait()
    stream.put(["c"], key=None)
    calls = []

    def respond(batch, event):
        calls.append(batch)
        if batch == ["p"] and len(calls) < 3:
            raise RuntimeError("down")

    mapping(stream, Recorder(respond), max_retries=5).drain()
    assert calls == [["p"], ["p"], ["p"], ["c"]]


def test_a_tumbling_window_closes_at_the_end_of_its_shard(new_stream, mapping):
    """Tumbling windows ("resharding"): the window of a parent shard ends with the shard: its final
    invocation comes before the children's records."""
    stream = new_stream(1)
    stream.put(["p1", "p2"], key=None)
    (parent,) = stream.shards()
    stream.kinesis.split_shard(StreamName=stream.name, ShardToSplit=parent["ShardId"], NewStartingHashKey=str(2**127))
    stream.wait()
    stream.put(["c1"], key=None)
    calls = []

    def handler(event, context):
        calls.append((event["shardId"], len(event["Records"]), event["isFinalInvokeForWindow"], dict(event["state"])))
        return {"state": {"n": event["state"].get("n", 0) + len(event["Records"])}}

    esm = mapping(stream, handler, tumbling_window_s=900)
    esm.drain(close_windows=False)
    pid = parent["ShardId"]
    assert calls[:2] == [(pid, 2, False, {}), (pid, 0, True, {"n": 2})]
    assert [c for c in calls[2:] if c[0] == pid] == []
    assert [c[1] for c in calls[2:]] == [1]  # the child's record, in a window of its own
