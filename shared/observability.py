"""JSON logs on stdlib logging, and CloudWatch embedded-metric-format (EMF) lines."""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Mapping
from typing import Any

__all__ = ["NAMESPACE", "JsonFormatter", "emit_metrics", "get_logger", "metrics_line", "setup_logging"]

NAMESPACE = "EventPipeline"
_RESERVED = frozenset(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object a line, shaped like Lambda's JSON log format, with ``extra=`` fields merged in."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


class _StdoutHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stdout is at the time of the record (pytest and the demo swap it)."""

    @property
    def stream(self) -> Any:
        return sys.stdout

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


# Libraries whose DEBUG output carries request and response bodies (a secret's value, for one).
_QUIET = ("botocore", "boto3", "urllib3", "s3transfer")


def setup_logging(level: str = "INFO") -> None:
    """Log JSON to stdout. On Lambda with the JSON log format the runtime's handler already does; keep it.

    Even at DEBUG, the AWS SDK's loggers stay at WARNING: they would log secret values verbatim.
    """
    root = logging.getLogger()
    root.setLevel(level)
    for name in _QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)
    if not root.handlers:
        handler = _StdoutHandler()
        handler.setFormatter(JsonFormatter())
        root.addHandler(handler)


def get_logger(name: str) -> logging.Logger:
    return logging.getLogger(name)


def metrics_line(service: str, counts: Mapping[str, int | float], *, timestamp_ms: int) -> str:
    """One EMF document: CloudWatch turns it into metrics in NAMESPACE with the Service dimension."""
    doc: dict[str, Any] = {
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [
                {
                    "Namespace": NAMESPACE,
                    "Dimensions": [["Service"]],
                    "Metrics": [{"Name": name, "Unit": "Count"} for name in counts],
                }
            ],
        },
        "Service": service,
    }
    doc.update(counts)
    return json.dumps(doc, separators=(",", ":"))


def emit_metrics(service: str, counts: Mapping[str, int | float]) -> None:
    # EMF must reach stdout as a raw line: Lambda forwards it untouched and CloudWatch extracts the metrics.
    sys.stdout.write(metrics_line(service, counts, timestamp_ms=int(time.time() * 1000)) + "\n")
    sys.stdout.flush()
