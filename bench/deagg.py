"""De-aggregation: shared.kinesis.deaggregate against a tight loop over the same protobuf classes."""

from __future__ import annotations

import base64
from typing import Any

from bench import data
from bench.report import Figure, best_of, rate
from shared import kinesis

__all__ = ["run"]


def _tight_loop(records: list[dict[str, Any]], b64decode: Any = base64.b64decode) -> list[tuple[bytes, str]]:
    # The floor for reading this input: decode, parse, take each user record's data and key. No digest check,
    # no corruption handling, no provenance: everything deaggregate does beyond this is its overhead.
    new = kinesis._messages()[0].AggregatedRecord
    out = []
    for record in records:
        message = new()
        message.ParseFromString(b64decode(record["kinesis"]["data"])[4:-16])
        keys = message.partition_key_table
        for user in message.records:
            out.append((user.data, keys[user.partition_key_index]))
    return out


def run(*, n: int, repeats: int) -> list[Figure]:
    from aws_kinesis_agg.deaggregator import deaggregate_records

    records = data.lambda_event(kinesis.aggregate(data.wire_events(n, seed=13)))["Records"]
    assert len(list(kinesis.deaggregate(records))) == n == len(_tight_loop(records))
    ours = best_of(lambda: list(kinesis.deaggregate(records)), repeats)
    tight = best_of(lambda: _tight_loop(records), repeats)
    library = best_of(lambda: deaggregate_records(records), max(1, repeats // 2))
    simd = _simd_tight_loop(records, repeats)
    ratio = tight / ours
    return [
        Figure(
            "de-aggregation vs tight loop",
            rate(n, ours, "records"),
            f"{ratio:.2f}x",
            ">= 0.80x",
            ratio >= 0.8,
            note=f"best of {repeats}; tight protobuf loop {rate(n, tight, 'records')}",
        ),
        Figure("  aws-kinesis-agg deaggregate_records", rate(n, library, "records"), f"{tight / library:.2f}x"),
        *simd,
    ]


def _simd_tight_loop(records: list[dict[str, Any]], repeats: int) -> list[Figure]:
    """The same tight loop given the SIMD base64 decoder deaggregate uses: what is left is the MD5 check."""
    try:
        from pybase64 import b64decode
    except ImportError:
        return []
    seconds = best_of(lambda: _tight_loop(records, b64decode), repeats)
    ours = best_of(lambda: list(kinesis.deaggregate(records)), repeats)
    return [
        Figure(
            "  tight loop with pybase64",
            rate(len(list(kinesis.deaggregate(records))), seconds, "records"),
            f"{seconds / ours:.2f}x",
            note="the ratio is deaggregate against it: its extra work is verifying "
            "each aggregate's MD5 digest, which the tight loop skips",
        )
    ]
