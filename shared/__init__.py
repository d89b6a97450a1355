"""The library every function zip carries: schemas, codec, database, config, AWS clients, logging."""

__all__ = ["aws", "config", "db", "events", "exceptions", "kinesis", "migrations", "observability", "tables"]
