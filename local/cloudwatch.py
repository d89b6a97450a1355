"""CloudWatch Logs subscription events, built the way CloudWatch Logs delivers them to Lambda."""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Sequence
from typing import Any

__all__ = ["control_message", "subscription_event"]


def _wrap(payload: dict[str, Any]) -> dict[str, Any]:
    data = gzip.compress(json.dumps(payload).encode("utf-8"), mtime=0)
    return {"awslogs": {"data": base64.b64encode(data).decode("ascii")}}


def subscription_event(
    log_group: str,
    log_stream: str,
    lines: Sequence[str],
    *,
    first_timestamp_ms: int,
    first_id: int = 36_000_000_000_000_000,
) -> dict[str, Any]:
    """A DATA_MESSAGE delivery of ``lines``, one log event each, ids and timestamps counting up."""
    return _wrap(
        {
            "messageType": "DATA_MESSAGE",
            "owner": "123456789012",
            "logGroup": log_group,
            "logStream": log_stream,
            "subscriptionFilters": ["errors-to-kinesis"],
            "logEvents": [
                {"id": str(first_id + n) + "0" * 20, "timestamp": first_timestamp_ms + n, "message": line}
                for n, line in enumerate(lines)
            ],
        }
    )


def control_message() -> dict[str, Any]:
    """What CloudWatch Logs sends to check that the destination is reachable."""
    return _wrap(
        {
            "messageType": "CONTROL_MESSAGE",
            "owner": "CloudwatchLogs",
            "logGroup": "",
            "logStream": "",
            "subscriptionFilters": [],
            "logEvents": [
                {
                    "id": "",
                    "timestamp": 1795392000000,
                    "message": "CWL CONTROL MESSAGE: Checking health of destination.",
                }
            ],
        }
    )
