"""Realistic inputs for the benchmarks: error events of a few hundred bytes, and Lambda-shaped Kinesis events."""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from local import lambda_events
from local.lambda_events import kinesis_event
from shared import events, kinesis

__all__ = ["STREAM_ARN", "lambda_event", "raw_events", "wire_events"]

STREAM_ARN = lambda_events.STREAM_ARN
_SOURCES = ["checkout-api", "payments-worker", "search-indexer", "auth-service", "inventory-sync", "mailer"]
_LEVELS = ["ERROR"] * 6 + ["WARNING"] * 3 + ["CRITICAL", "INFO", "DEBUG"]
_MESSAGES = [
    "payment provider timed out after {ms} ms (order {order}, attempt {attempt})",
    "upstream returned HTTP {status} for GET /v2/orders/{order}: connection reset by peer",
    "could not acquire lock inventory:{order} within {ms} ms; another worker holds it",
    "template 'receipt' failed to render for customer {user}: KeyError 'billing_address'",
    "retry budget exhausted for job {order} after {attempt} attempts; moving it to the parking queue",
    "échec de la synchronisation du stock pour l'entrepôt {attempt} : délai dépassé ({ms} ms)",
]
_STACK = (
    'Traceback (most recent call last):\n  File "/var/task/app/payments.py", line {line}, in charge\n'
    "TimeoutError: read timed out"
)


def raw_events(n: int, *, seed: int = 7) -> list[dict[str, Any]]:
    """``n`` events as a client sends them (no received_at), 300 to 500 bytes once encoded."""
    rng = random.Random(seed)
    start = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
    out = []
    for i in range(n):
        order = f"A-{rng.randrange(10**6, 10**7)}"
        fields = {"ms": rng.choice([1500, 3000, 5000]), "order": order, "attempt": rng.randint(1, 5)}
        fields |= {"status": rng.choice([500, 502, 503, 504]), "user": f"u{rng.randrange(10**8)}"}
        event: dict[str, Any] = {
            "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "source": rng.choice(_SOURCES),
            "level": rng.choice(_LEVELS).lower() if i % 10 == 0 else rng.choice(_LEVELS),
            "message": rng.choice(_MESSAGES).format(**fields),
            "occurred_at": (start + timedelta(milliseconds=i * 37)).isoformat().replace("+00:00", "Z"),
            "context": {
                "request_id": f"req-{rng.getrandbits(48):012x}",
                "region": rng.choice(["eu-west-1", "us-east-1"]),
                "http": {"status": fields["status"]},
                "duration_ms": round(rng.uniform(5, 5000), 1),
            },
        }
        if i % 16 == 0:
            event["stack"] = _STACK.format(line=rng.randint(10, 400))
        out.append(event)
    return out


def wire_events(n: int, *, seed: int = 7) -> list[tuple[str, bytes]]:
    """``n`` events as the producer publishes them: (partition key, encoded bytes)."""
    received = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)
    parsed = [events.parse(e, received_at=received) for e in raw_events(n, seed=seed)]
    return [(e.event_id, events.encode(e)) for e in parsed]


def lambda_event(records: Sequence[kinesis.AggregatedRecord], *, shard: int = 0) -> dict[str, Any]:
    """The event Lambda's Kinesis event source mapping delivers for these records, data in base64."""
    return kinesis_event([(r.partition_key, r.data) for r in records], shard_id=f"shardId-{shard:012d}")
