"""Lambda's Kinesis event shape, built in one place for the mapping emulator, the tests and the benchmarks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from shared import lambda_events as shared_lambda_events

__all__ = ["FIRST_SEQUENCE", "STREAM_ARN", "kinesis_event", "kinesis_record"]

STREAM_ARN = "arn:aws:kinesis:us-east-1:123456789012:stream/errors"
FIRST_SEQUENCE = 49590338271490256608559692538361571095921575989136588898  # a realistic 56-digit number


def kinesis_record(
    *,
    data: bytes,
    partition_key: str,
    sequence_number: str,
    shard_id: str,
    stream_arn: str = STREAM_ARN,
    region: str = "us-east-1",
    arrival: float = 1795392000.123,
    function_name: str = "error-sink",
) -> dict[str, Any]:
    """One record of a Lambda Kinesis event, ``data`` in base64 as Lambda delivers it (shared.lambda_events)."""
    return shared_lambda_events.kinesis_record(
        data=data,
        partition_key=partition_key,
        sequence_number=sequence_number,
        shard_id=shard_id,
        stream_arn=stream_arn,
        region=region,
        arrival=arrival,
        function_name=function_name,
    )


def kinesis_event(
    payloads: Sequence[tuple[str, bytes]], *, shard_id: str = "shardId-000000000000", first_seq: int = 0
) -> dict[str, Any]:
    """A Lambda Kinesis event whose records carry the (partition key, data) payloads, sequence numbers counting up."""
    return {
        "Records": [
            kinesis_record(
                data=data, partition_key=key, sequence_number=str(FIRST_SEQUENCE + first_seq + n), shard_id=shard_id
            )
            for n, (key, data) in enumerate(payloads)
        ]
    }
