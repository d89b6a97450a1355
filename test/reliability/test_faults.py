"""Every input record is accounted for (rows + duplicates + dead letters [+ rejected]) whatever breaks.

Each test drives the local stack (producer, moto's Kinesis, the mapping emulator, the consumer and a
real PostgreSQL), injects one fault, and adds its figures to the summary table.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from contextlib import closing
from typing import Any

import pytest

from shared import kinesis
from shared.publisher import Publisher
from test.reliability.conftest import Row, function_errors
from test.reliability.proxy import ThrottlingProxy
from test.support import connect, counts, error_event, slow_inserts, wire

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _events(n: int, *, start: int = 0, **overrides: Any) -> list[dict[str, Any]]:
    return [
        {
            "event_id": str(uuid.UUID(int=start + i + 1)),
            "source": "checkout-api",
            "level": "ERROR",
            "message": f"timeout #{start + i}",
            "occurred_at": "2026-11-22T09:15:02Z",
            "context": {"n": start + i},
            **overrides,
        }
        for i in range(n)
    ]


def _put_aggregated(local_stack: Any, payloads: list[bytes]) -> None:
    client = local_stack.kinesis()
    for record in kinesis.aggregate([(hashlib.md5(p).hexdigest(), p) for p in payloads]):
        client.put_record(StreamName="errors", PartitionKey=record.partition_key, Data=record.data)


def test_batch_replayed_three_times(local_stack, mapping, sink, db, summary):
    payloads = [wire(error_event(i)) for i in range(300)]
    _put_aggregated(local_stack, payloads)
    mapping.handler = lambda event, context: [sink(event, context) for _ in range(3)][-1]
    mapping.drain()
    rows, dead = counts(db)
    summary(Row("batch replayed 3 times", 900, rows, 900 - rows - dead, dead))
    assert (rows, dead) == (300, 0)


def test_poison_mixed_into_a_shard(local_stack, mapping, db, summary):
    valid = [wire(error_event(i)) for i in range(200)]
    poison = [b"{", b"\xff\xfe", wire({"hello": 1}), wire(error_event(900, message="a\x00b"))]
    poison += [wire(error_event(901, level="LOUD")), wire(error_event(902, occurred_at="2026-11-22T09:15:02"))]
    poison += [wire(error_event(903, context="not an object"))]
    resent = valid[:10]
    client = local_stack.kinesis()
    for data in valid[:100] + poison + valid[100:] + resent:  # plain records, one shard key: one ordered shard
        client.put_record(StreamName="errors", PartitionKey="same-shard", Data=data)
    mapping.drain()
    rows, dead = counts(db)
    records_in = len(valid) + len(poison) + len(resent)
    summary(Row("poison records in a shard", records_in, rows, len(resent), dead))
    assert (rows, dead) == (200, len(poison))  # the shard kept flowing past every poison record


def test_corrupt_aggregates(local_stack, mapping, db, summary):
    good = kinesis.aggregate([(f"k{i}", wire(error_event(i))) for i in range(50)])[0].data
    bad_md5 = good[:-1] + bytes([good[-1] ^ 0xFF])
    body = good[4:-16][:-7]  # protobuf cut short, digest recomputed: the parser, not the checksum, refuses
    truncated = kinesis.MAGIC + body + hashlib.md5(body).digest()
    client = local_stack.kinesis()
    for data in (bad_md5, good, truncated):
        client.put_record(StreamName="errors", PartitionKey="agg", Data=data)
    mapping.drain()
    rows, dead = counts(db)
    summary(Row("corrupt aggregates (bad MD5, truncated protobuf)", 52, rows, 0, dead))
    assert (rows, dead) == (50, 2)


def test_postgres_killed_mid_batch_then_restarted(local_stack, mapping, db, summary):
    _put_aggregated(local_stack, [wire(error_event(i)) for i in range(500)])
    postgres = local_stack.postgres

    def outage() -> None:
        time.sleep(0.5)
        postgres.stop(mode="immediate")
        time.sleep(2.0)
        postgres.start()

    mapping.config.retry_delay_s = 1.0
    mapping.config.max_retries = 10
    failures: list[dict[str, Any]] = []
    mapping.on_failure = failures.append
    errors = function_errors(mapping)
    sink_db = sys.modules["consumers.error_sink.handler"].DB
    retries_before = sink_db.retries
    with slow_inserts(local_stack.database_url, 1.0):
        killer = threading.Thread(target=outage)
        killer.start()
        mapping.drain()
        killer.join()
    with closing(connect(local_stack.database_url)) as conn:  # the old connection died with the server
        rows, dead = counts(conn)
    summary(Row("PostgreSQL killed mid-batch, restarted", 500, rows, 0, dead))
    assert sink_db.retries > retries_before  # the outage did hit a batch: the consumer waited it out
    assert errors == []  # within the invocation, so not even one invocation failed
    assert failures == []  # nothing skipped
    assert (rows, dead) == (500, 0)


def test_throttled_puts(local_stack, produce, mapping, db, summary):
    import boto3

    module = sys.modules[produce.__module__]
    with ThrottlingProxy(local_stack.endpoint_url, failure_rate=0.3) as proxy:
        client = boto3.client("kinesis", endpoint_url=proxy.url, region_name="us-east-1")
        original = module.PUBLISHER
        module.PUBLISHER = Publisher(client, "errors", deadline_s=30, base_delay_s=0.01)
        try:
            replies = []
            for batch in range(20):  # 20 requests of 25 events: 20 PutRecords calls, each 30% throttled
                events = _events(25, start=batch * 25, message="m" * 30_000)
                replies.append(produce({"events": events}, None))
        finally:
            module.PUBLISHER = original
    assert proxy.entries_failed > 0
    assert {r["statusCode"] for r in replies} == {202}
    mapping.drain()
    rows, dead = counts(db)
    summary(Row(f"30% of PutRecords entries throttled ({proxy.entries_failed} retried)", 500, rows, 0, dead))
    assert (rows, dead) == (500, 0)


def test_consumer_killed_mid_batch(local_stack, db, summary, tmp_path):
    mapping = local_stack.mapping("error_sink")
    mapping.seek_to_end()
    checkpoints = tmp_path / "checkpoints.json"
    mapping.checkpoints.path = checkpoints
    for shard, sequence in mapping.checkpoints._data.items():
        mapping.checkpoints.set(shard, sequence)  # the consumer process starts where the stream ends now
    for n in range(40):  # 40 plain records of 25 events each would be too slow; aggregate 40 x 25
        _put_aggregated(local_stack, [wire(error_event(n * 25 + i)) for i in range(25)])
    command = [sys.executable, "-m", "local", "consume", "error_sink", "--checkpoints", str(checkpoints)]
    env = {**os.environ, **local_stack.env}
    from local.stack import ROOT

    with slow_inserts(local_stack.database_url, 0.3):
        first = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 60
            while counts(db)[0] == 0 and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(0.15)  # inside the next batch's transaction
            first.send_signal(signal.SIGKILL)
        finally:
            first.wait(30)
        rows_at_kill = counts(db)[0]
    second = subprocess.run(
        [*command, "--until-idle"], cwd=ROOT, env=env, capture_output=True, timeout=120, check=False
    )
    assert second.returncode == 0, second.stderr
    rows, dead = counts(db)
    summary(Row(f"consumer killed mid-batch (after {rows_at_kill} rows), resumed", 1000, rows, 0, dead))
    assert 0 < rows_at_kill < 1000
    assert (rows, dead) == (1000, 0)


def test_oversize_input_is_refused_at_the_door(produce, mapping, db, summary):
    sent = 0
    rejected = 0
    big_body = {"events": _events(30, message="m" * 32_000, context={"pad": "p" * 8_000})}
    reply = produce(big_body, None)
    assert reply["statusCode"] == 413
    sent += 30
    rejected += 30
    reply = produce({"events": _events(501)}, None)
    assert reply["statusCode"] == 413
    sent += 501
    rejected += 501
    fields = _events(4, start=1000)
    fields[1]["message"] = "m" * (32 * 1024 + 1)
    fields[2]["source"] = "s" * 129
    fields[3]["context"] = {"blob": "b" * 17_000}
    reply = produce({"events": fields}, None)
    assert reply["statusCode"] == 202 and [r["index"] for r in reply["rejected"]] == [1, 2, 3]
    sent += 4
    rejected += 3
    mapping.drain()
    rows, dead = counts(db)
    summary(Row("oversize body, event count and fields", sent, rows, 0, dead, rejected))
    assert (rows, dead) == (1, 0)
