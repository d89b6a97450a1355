"""maintain's side effects: the DDL and the batched deletes of a plan (transform.plan), given a Database.

Kept apart from handler.py, which reads the settings at import, so the local stack can run the same steps at start-up
against its own database. Every identifier goes through psycopg2.sql. Each step is its own short transaction that
waits at most LOCK_TIMEOUT_MS for its lock: creating or dropping a partition locks the whole table, and a consumer
batch must not queue behind a DDL statement that itself waits on a long read. A step that could not get its lock is
reported as busy and done by the next run (partitions exist AHEAD_DAYS ahead, so nothing waits on it).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import date
from typing import Any

import psycopg2.errors
from psycopg2 import sql

from shared import db
from shared.exceptions import DatabaseError
from utilities.maintain import transform

__all__ = ["DELETE_BATCH", "LOCK_TIMEOUT_MS", "existing", "maintain"]

LOCK_TIMEOUT_MS = 5000
DELETE_BATCH = 5000  # rows a delete transaction removes, so no one statement holds many row locks for long
_COLUMNS = (
    "event_id", "source", "level", "message", "occurred_at", "received_at", "context", "stack",
    "shard_id", "sequence_number", "sub_sequence_number", "ingested_at", "txid",
)  # fmt: skip
# Table privileges a partition may copy from its parent (aclexplode's names), nothing else is ever granted.
_PRIVILEGES = frozenset({"SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER"})


def existing(cur: Any) -> list[str]:
    """The names of errors' partitions."""
    cur.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = %s::regclass",
        (transform.PARENT,),
    )
    return sorted(name for (name,) in cur.fetchall())


def _lock(cur: Any) -> None:
    cur.execute("SET LOCAL lock_timeout = %s", (f"{LOCK_TIMEOUT_MS}ms",))
    cur.execute(sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(sql.Identifier(transform.PARENT)))


def _grant_like_parent(cur: Any, partition: str) -> None:
    """Give the partition the parent's table grants (migration 0007 did the same for the first partitions)."""
    cur.execute(
        "SELECT a.privilege_type, a.grantee::regrole::text FROM pg_class c CROSS JOIN LATERAL aclexplode(c.relacl) a"
        " WHERE c.oid = %s::regclass AND a.grantee <> c.relowner AND a.grantee <> 0",
        (transform.PARENT,),
    )
    for privilege, grantee in cur.fetchall():
        if privilege in _PRIVILEGES:
            cur.execute(
                sql.SQL("GRANT {} ON {} TO {}").format(
                    sql.SQL(privilege), sql.Identifier(partition), sql.Identifier(grantee.strip('"'))
                )
            )


def _create(cur: Any, partition: transform.Partition) -> int:
    """Create one day's partition; rows of that day waiting in the default partition move into it (PostgreSQL
    refuses to create a partition over them). Returns the rows moved."""
    _lock(cur)
    cols = sql.SQL(", ").join(map(sql.Identifier, _COLUMNS))
    parent, default = sql.Identifier(transform.PARENT), sql.Identifier(transform.DEFAULT_PARTITION)
    moved = 0
    cur.execute("SELECT to_regclass(%s) IS NOT NULL", (transform.DEFAULT_PARTITION,))
    (has_default,) = cur.fetchone()
    if has_default:
        cur.execute(
            sql.SQL(
                "CREATE TEMP TABLE _maintain_moving ON COMMIT DROP AS WITH moved AS ("
                "DELETE FROM {default} WHERE occurred_at >= %s AND occurred_at < %s RETURNING {cols}) "
                "SELECT * FROM moved"
            ).format(default=default, cols=cols),
            (partition.lower, partition.upper),
        )
        moved = cur.rowcount
    cur.execute(
        sql.SQL("CREATE TABLE {} PARTITION OF {} FOR VALUES FROM ({}) TO ({})").format(
            sql.Identifier(partition.name),
            parent,
            sql.Literal(partition.lower.isoformat()),
            sql.Literal(partition.upper.isoformat()),
        )
    )
    _grant_like_parent(cur, partition.name)
    if has_default:
        if moved:  # txid kept: read_table's order of these rows does not change
            cur.execute(
                sql.SQL("INSERT INTO {parent} ({cols}) SELECT {cols} FROM _maintain_moving").format(
                    parent=parent, cols=cols
                )
            )
        cur.execute("DROP TABLE _maintain_moving")
    return moved


def _drop(cur: Any, name: str) -> None:
    _lock(cur)
    cur.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(name)))


def _delete_batch(cur: Any, statement: sql.Composed, params: tuple[Any, ...]) -> int:
    cur.execute(statement, params)
    return int(cur.rowcount)


def _delete_older(database: db.Database, table: str, column: str, by: str, before: Any) -> int:
    """Delete ``table``'s rows whose ``column`` is before ``before``, DELETE_BATCH rows a transaction."""
    statement = sql.SQL(
        "DELETE FROM {t} WHERE {by} = ANY(ARRAY(SELECT {by} FROM {t} WHERE {c} < %s LIMIT %s FOR UPDATE SKIP LOCKED))"
    ).format(t=sql.Identifier(table), c=sql.Identifier(column), by=sql.Identifier(by))
    total = 0
    while True:
        n: int = database.run(lambda cur: _delete_batch(cur, statement, (before, DELETE_BATCH)))
        total += n
        if n < DELETE_BATCH:
            return total


def _step(database: db.Database, work: Callable[[Any], Any]) -> tuple[str | None, Any]:
    """Run one step: (None, its result), ("busy", None) when its lock was not free in time (the next run does it),
    or (PostgreSQL's reason, None) when PostgreSQL refused it (a partition made by hand over that day, say). The
    other steps go on either way; an unreachable database is raised."""
    try:
        return None, database.run(work)
    except DatabaseError as e:
        if isinstance(e.__cause__, psycopg2.errors.LockNotAvailable):
            return "busy", None
        raise
    except psycopg2.Error as e:
        return (str(e).strip().splitlines() or [type(e).__name__])[0], None


def maintain(
    database: db.Database, *, today: date, retention_days: int, ahead_days: int = transform.AHEAD_DAYS
) -> dict[str, Any]:
    """Create the partitions the plan wants, drop the expired ones, delete the default partition's and
    dead_letters' rows older than the retention. Returns what was done; ``busy`` lists the steps left to the next
    run because a lock was not free, ``failed`` those PostgreSQL refused, with its reason."""
    plan = transform.plan(today, retention_days, database.run(existing), ahead_days=ahead_days)
    created: list[str] = []
    dropped: list[str] = []
    busy: list[str] = []
    failed: list[str] = []
    moved = 0
    for partition in plan.create:
        problem, n = _step(database, functools.partial(_create, partition=partition))
        if problem is None:
            created.append(partition.name)
            moved += n
        elif problem == "busy":
            busy.append(f"create {partition.name}")
        else:
            failed.append(f"create {partition.name}: {problem}")
    for name in plan.drop:
        problem, _ = _step(database, functools.partial(_drop, name=name))
        if problem is None:
            dropped.append(name)
        elif problem == "busy":
            busy.append(f"drop {name}")
        else:
            failed.append(f"drop {name}: {problem}")
    default_deleted = 0
    if transform.DEFAULT_PARTITION in database.run(existing):
        default_deleted = _delete_older(database, transform.DEFAULT_PARTITION, "occurred_at", "ctid", plan.cutoff)
    dead_deleted = _delete_older(database, "dead_letters", "created_at", "id", plan.cutoff)
    return {
        "cutoff": plan.cutoff.isoformat(),
        "created": created,
        "dropped": dropped,
        "rowsMoved": moved,
        "defaultRowsDeleted": default_deleted,
        "deadLettersDeleted": dead_deleted,
        "leftAlone": list(plan.left_alone),
        "busy": busy,
        "failed": failed,
    }
