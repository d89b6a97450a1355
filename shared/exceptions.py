"""The project's own exceptions: driver errors are re-raised as one of these, so a log line says what failed."""


class PipelineError(Exception):
    """Base class of every error the pipeline raises on purpose."""


class ConfigError(PipelineError):
    """A setting is missing or malformed; the message names every one of them."""


class InvalidEvent(PipelineError):
    """An event breaks the schema; the message is the reason given back to the sender or stored."""


class PublishError(PipelineError):
    """Kinesis refused a request for a reason that retrying will not fix (missing stream, no permission)."""


class DatabaseError(PipelineError):
    """PostgreSQL could not be reached or failed mid-transaction; the batch must be retried."""


class SecretError(PipelineError):
    """The database secret could not be read or lacks a field."""
