"""Producer: aggregation rate, how full each aggregated record is, and PutRecords calls per 10k events."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bench import data
from bench.report import Figure, best_of, rate
from shared import kinesis
from shared.publisher import Publisher

__all__ = ["FakeKinesis", "run"]

FILL_EVENTS = 10_000


class FakeKinesis:
    """An in-memory PutRecords that takes everything and counts calls."""

    def __init__(self) -> None:
        self.calls = 0
        self.entries = 0

    def put_records(self, *, StreamName: str, Records: list[dict[str, Any]]) -> dict[str, Any]:
        self.calls += 1
        self.entries += len(Records)
        return {"FailedRecordCount": 0, "Records": [{"SequenceNumber": "1", "ShardId": "s"} for _ in Records]}


def _library_rate(entries: list[tuple[str, bytes]]) -> float:
    from aws_kinesis_agg.aggregator import RecordAggregator

    def run() -> None:
        aggregator = RecordAggregator()
        for key, payload in entries:
            aggregator.add_user_record(key, payload)
        aggregator.clear_and_get()

    return best_of(run, 1)


def _through_requests(raw: list[dict[str, Any]], size: int) -> tuple[int, int, float]:
    """PutRecords calls and aggregated records when the events arrive as requests of ``size`` (at most 500)."""
    from producers.error_source import transform

    fake = FakeKinesis()
    publisher = Publisher(fake, "errors")
    received = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)
    records = 0
    fills = []
    for start in range(0, len(raw), size):
        request = transform.Request(raw[start : start + size], http=False)
        batch = transform.prepare(request, received_at=received)
        records += len(batch.records)
        fills += [len(r.data) / kinesis.MAX_RECORD_BYTES for r in batch.records]
        result = publisher.publish(batch.records)
        assert not result.failed
    return fake.calls, records, max(fills)


def run(*, n: int, repeats: int) -> list[Figure]:
    entries = data.wire_events(n, seed=17)
    seconds = best_of(lambda: kinesis.aggregate(entries), repeats)
    library = _library_rate(entries[: min(n, 2000)]) / min(n, 2000) * n
    per_s = n / seconds

    fill_entries = data.wire_events(FILL_EVENTS, seed=19)
    aggregates = kinesis.aggregate(fill_entries)
    fills = [(len(a.data) + len(a.partition_key.encode())) / kinesis.MAX_RECORD_BYTES for a in aggregates[:-1]]
    fake = FakeKinesis()
    assert not Publisher(fake, "errors").publish(aggregates).failed
    calls_500, records_500, fill_500 = _through_requests(data.raw_events(FILL_EVENTS, seed=19), 500)
    mean = sum(len(d) for _, d in fill_entries) / len(fill_entries)
    return [
        Figure(
            "producer aggregation rate",
            rate(n, seconds, "events"),
            f"{library / seconds:.1f}x",
            ">= 100k events/s",
            per_s >= 100_000,
            note=f"best of {repeats}, {n} events of {mean:.0f} bytes on average; ratio against aws-kinesis-agg's "
            "RecordAggregator in the same run",
        ),
        Figure(
            "aggregate fill (all but the last)",
            f"min {min(fills):.1%}" if fills else "n/a",
            f"{len(aggregates)} records",
            ">= 95%",
            bool(fills) and min(fills) >= 0.95,
            note=f"{FILL_EVENTS} events aggregated at once; the error_source handler takes at most 500 events "
            f"(1 MiB) a request, so its records are filled to at most {fill_500:.0%} (one per request)",
        ),
        Figure(
            "PutRecords calls per 10k events",
            f"{fake.calls} (one batch)",
            f"{calls_500} via 500-event requests",
            note=f"{len(aggregates)} aggregated records in one 10k batch; {records_500} records through "
            "error_source's transform in requests of 500 events",
        ),
    ]
