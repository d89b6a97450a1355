"""End to end through the local stack: producer -> Kinesis (moto) -> mapping emulator -> consumer -> PostgreSQL."""

from __future__ import annotations

import json
import uuid

import pytest

from test.support import counts, error_event, kinesis_event, load_event, wire

pytestmark = pytest.mark.integration


def _events(n: int, **overrides: object) -> list[dict[str, object]]:
    return [
        {
            "event_id": str(uuid.UUID(int=i + 1)),
            "source": "checkout-api",
            "level": "error",
            "message": f"timeout #{i}",
            "occurred_at": "2026-11-22T09:15:02Z",
            **overrides,
        }
        for i in range(n)
    ]


def test_an_http_report_becomes_exactly_one_row(produce, mapping, db):
    reply = produce(load_event("error_source/http_post.json"), None)
    assert reply["statusCode"] == 202
    accepted = json.loads(reply["body"])["accepted"]
    mapping.drain()
    with db.cursor() as cur:
        cur.execute("SELECT event_id::text, level, context FROM errors ORDER BY event_id")
        rows = cur.fetchall()
    assert sorted(accepted) == [r[0] for r in rows]
    assert {r[1] for r in rows} == {"ERROR", "WARNING"}
    assert {"order_id": "A-1042", "attempt": 3} in [r[2] for r in rows]


def test_sending_the_same_events_three_times_leaves_one_row_each(produce, mapping, db):
    batch = _events(250)
    for _ in range(3):
        assert produce({"events": batch}, None)["statusCode"] == 202
    mapping.drain()
    assert counts(db) == (250, 0)


def test_replayed_consumer_batch_is_harmless(sink, db):
    event = load_event("error_sink/kinesis_plain.json")
    first, *replays = [sink(event, None) for _ in range(3)]
    assert first["batchItemFailures"] == [] and first["rowsWritten"] == 2
    for replay in replays:  # the dead letters are idempotent too: a replay writes nothing new at all
        assert replay == {**first, "rowsWritten": 0, "duplicatesSkipped": first["duplicatesSkipped"] + 2}
    assert counts(db) == (2, 3)  # two distinct events; three poison records, stored once each


def test_mixed_batch_accounts_for_every_record(sink, db, capsys):
    payloads = [(f"k{i}", wire(error_event(100 + i))) for i in range(40)]
    payloads += [("bad1", b"\x00\x01 not json"), ("bad2", wire(error_event(99, level="LOUD")))]
    payloads += [("dup", wire(error_event(103))), ("dup", wire(error_event(104)))]
    aggregated = load_event("error_sink/kinesis_aggregated.json")["Records"]
    event = kinesis_event(payloads)
    event["Records"] += aggregated
    capsys.readouterr()
    assert sink(event, None)["batchItemFailures"] == []
    metrics = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line][-1]
    records_in = len(payloads) + 11
    assert metrics["RecordsIn"] == records_in
    assert metrics["RecordsIn"] == metrics["RowsWritten"] + metrics["DuplicatesSkipped"] + metrics["DeadLetters"]
    assert (metrics["RowsWritten"], metrics["DuplicatesSkipped"], metrics["DeadLetters"]) == (51, 2, 2)
    assert counts(db) == (51, 2)
    with db.cursor() as cur:
        cur.execute("SELECT partition_key, reason FROM dead_letters ORDER BY partition_key")
        reasons = dict(cur.fetchall())
    assert "not UTF-8" in reasons["bad1"] or "not JSON" in reasons["bad1"]
    assert "level must be one of" in reasons["bad2"]


def test_corrupt_aggregate_through_the_stream_is_dead_lettered(local_stack, mapping, db):
    from shared import kinesis

    good = kinesis.aggregate([(f"k{i}", wire(error_event(i))) for i in range(5)])[0]
    corrupt = bytearray(good.data)
    corrupt[-1] ^= 0xFF
    client = local_stack.kinesis()
    client.put_record(StreamName="errors", PartitionKey="x", Data=bytes(corrupt))
    client.put_record(StreamName="errors", PartitionKey="y", Data=good.data)
    mapping.drain()
    assert counts(db) == (5, 1)
    with db.cursor() as cur:
        cur.execute("SELECT sub_sequence_number, reason, raw FROM dead_letters")
        sub, reason, raw = cur.fetchone()
    assert sub == -1 and "MD5" in reason and bytes(raw) == bytes(corrupt)


def test_poison_record_does_not_stall_its_shard(local_stack, mapping, db):
    client = local_stack.kinesis()
    client.put_record(StreamName="errors", PartitionKey="same", Data=b"{poison")
    for i in range(20):
        client.put_record(StreamName="errors", PartitionKey="same", Data=wire(error_event(i)))
    mapping.drain()
    assert counts(db) == (20, 1)
    assert mapping.invocations <= 2


def test_oversize_field_is_rejected_at_the_producer_and_dead_lettered_at_the_sink(produce, sink, db):
    reply = produce({"events": _events(1, message="m" * (32 * 1024 + 1))}, None)
    assert reply["statusCode"] == 400
    assert "message must be 1 to 32768 bytes" in reply["rejected"][0]["reason"]
    sink(kinesis_event([("k", wire(error_event(1, message="m" * (32 * 1024 + 1))))]), None)
    assert counts(db) == (0, 1)


def test_value_postgres_would_refuse_never_reaches_it(sink, db):
    # \u0000 is valid JSON but neither text nor jsonb can store it.
    data = b'{"schema_version":1,"event_id":"00000000-0000-4000-8000-000000000001","source":"a","level":"INFO",'
    data += b'"message":"x","occurred_at":"2026-11-22T09:15:02Z","received_at":"2026-11-22T09:15:02Z",'
    data += b'"context":{"k":"\\u0000"}}'
    assert sink(kinesis_event([("k", data)]), None)["batchItemFailures"] == []
    assert counts(db) == (0, 1)
