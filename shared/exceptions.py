"""The project's own exceptions: driver errors are re-raised as one of these, so a log line says what failed."""

from __future__ import annotations

from typing import Any


class PipelineError(Exception):
    """Base class of every error the pipeline raises on purpose."""


class ConfigError(PipelineError):
    """A setting is missing or malformed; the message names every one of them."""


class InvalidEvent(PipelineError):
    """An event breaks the schema; the message is the reason given back to the sender or stored."""


class Rejected(PipelineError):
    """A request refused as it stands: the status to answer with and the reason, for the caller to read.

    Every function that refuses a request raises this from its transform; the handler answers with it
    (``response()`` for a function invoked directly, error_source's own reply shape over HTTP).
    """

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason

    def response(self) -> dict[str, Any]:
        """The answer of a directly invoked function: ``{"statusCode": status, "error": reason}``."""
        return {"statusCode": self.status, "error": self.reason}


class PublishError(PipelineError):
    """Kinesis refused a request for a reason that retrying will not fix (missing stream, no permission)."""


class DatabaseError(PipelineError):
    """PostgreSQL could not be reached or failed mid-transaction; the batch must be retried."""


class SecretError(PipelineError):
    """The database secret could not be read or lacks a field."""
