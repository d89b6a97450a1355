"""Lambda's Kinesis event shape, in one place for the consumers' callers: the local mapping emulator, the tests,
the benchmarks (through local/lambda_events.py) and redrive, which delivers records fetched back from a stream."""

from __future__ import annotations

import base64
from typing import Any

__all__ = ["kinesis_record"]


def kinesis_record(
    *,
    data: bytes,
    partition_key: str,
    sequence_number: str,
    shard_id: str,
    stream_arn: str,
    region: str,
    arrival: float,
    function_name: str,
) -> dict[str, Any]:
    """One record of a Lambda Kinesis event, ``data`` in base64 as Lambda delivers it. The invoking identity is
    named after the function, in the stream's account."""
    parts = stream_arn.split(":")
    account = parts[4] if len(parts) > 5 and parts[4] else "123456789012"
    return {
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": partition_key,
            "sequenceNumber": sequence_number,
            "data": base64.b64encode(data).decode("ascii"),
            "approximateArrivalTimestamp": arrival,
        },
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": f"{shard_id}:{sequence_number}",
        "eventName": "aws:kinesis:record",
        "invokeIdentityArn": f"arn:aws:iam::{account}:role/{function_name}",
        "awsRegion": region,
        "eventSourceARN": stream_arn,
    }
