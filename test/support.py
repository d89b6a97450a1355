"""Helpers shared by the tests: loading event fixtures, and building Kinesis events the way Lambda does."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

from local import lambda_events

EVENTS = Path(__file__).parent / "events"
STREAM_ARN = lambda_events.STREAM_ARN

# The five roots RDS Proxy's certificates chain to, as this machine's CA store (Debian's ca-certificates) has
# them: the name Amazon Trust Services' repository serves each by -> its file under SYSTEM_CERTS.
SYSTEM_CERTS = Path("/etc/ssl/certs")
AMAZON_TRUST_ROOTS = {
    "AmazonRootCA1.pem": "Amazon_Root_CA_1.pem",
    "AmazonRootCA2.pem": "Amazon_Root_CA_2.pem",
    "AmazonRootCA3.pem": "Amazon_Root_CA_3.pem",
    "AmazonRootCA4.pem": "Amazon_Root_CA_4.pem",
    "SFSRootCAG2.pem": "Starfield_Services_Root_Certificate_Authority_-_G2.pem",
}


def load_event(name: str) -> Any:
    """A JSON fixture under test/events/, e.g. load_event("error_sink/kinesis_plain.json")."""
    return json.loads((EVENTS / name).read_text(encoding="utf-8"))


def kinesis_event(
    payloads: Sequence[tuple[str, bytes]], *, shard_id: str = "shardId-000000000000", first_seq: int = 1000
) -> dict[str, Any]:
    """A Lambda Kinesis event whose records carry the given (partition key, data) payloads."""
    return lambda_events.kinesis_event(payloads, shard_id=shard_id, first_seq=first_seq)


def error_event(n: int, **overrides: Any) -> dict[str, Any]:
    """A valid wire-form error event (as the producer publishes it), numbered for a stable event_id."""
    event = {
        "schema_version": 1,
        "event_id": f"00000000-0000-4000-8000-{n:012d}",
        "source": "checkout-api",
        "level": "ERROR",
        "message": f"payment provider timed out (#{n})",
        "occurred_at": "2026-11-22T09:15:02.120000+00:00",
        "received_at": "2026-11-22T09:15:03+00:00",
        "context": {"order_id": f"A-{n}", "attempt": 3},
    }
    event.update(overrides)
    return event


def wire(event: dict[str, Any]) -> bytes:
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def connect(database_url: str) -> Any:
    """An autocommit connection, so reading counts never holds a transaction open."""
    import psycopg2

    conn = psycopg2.connect(database_url)
    conn.autocommit = True
    return conn


def counts(db: Any) -> tuple[int, int]:
    """(rows in errors, rows in dead_letters)."""
    with db.cursor() as cur:
        cur.execute("SELECT (SELECT count(*) FROM errors), (SELECT count(*) FROM dead_letters)")
        rows, dead = cur.fetchone()
    return int(rows), int(dead)


@contextmanager
def slow_inserts(database_url: str, seconds: float) -> Iterator[None]:
    """Make every INSERT into errors take ``seconds`` inside its transaction, so a fault can land mid-batch.

    Uses its own connections, as the server may be stopped and started while the block runs.
    """

    def run(statement: str) -> None:
        with closing(connect(database_url)) as conn, conn.cursor() as cur:
            cur.execute(statement)

    run(
        "CREATE FUNCTION _slow() RETURNS trigger LANGUAGE plpgsql AS "
        f"$$ BEGIN PERFORM pg_sleep({float(seconds)}); RETURN NULL; END $$; "
        "CREATE TRIGGER _slow AFTER INSERT ON errors FOR EACH STATEMENT EXECUTE FUNCTION _slow()"
    )
    try:
        yield
    finally:
        run("DROP TRIGGER _slow ON errors; DROP FUNCTION _slow()")
