"""One way to get a PostgreSQL connection (DATABASE_URL or a Secrets Manager secret), and bulk idempotent writes.

The connection is opened lazily, kept across warm invocations, and opened again when it is found broken.
psycopg2 errors are re-raised as DatabaseError so the handler's caller (Lambda) retries the batch.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg2
import psycopg2.extensions
from psycopg2 import sql

from shared.config import DatabaseSettings
from shared.exceptions import DatabaseError, SecretError

__all__ = ["Database", "copy_text", "insert_idempotent", "insert_or_reject", "secret_dsn"]

_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def secret_dsn(settings: DatabaseSettings, secret_string: str) -> dict[str, Any]:
    """Connection keywords from an RDS-managed secret (``username``, ``password``) plus host and name."""
    try:
        secret = json.loads(secret_string)
        user, password = secret["username"], secret["password"]
    except (ValueError, KeyError, TypeError) as e:
        raise SecretError("database secret must be JSON with username and password") from e
    dsn: dict[str, Any] = {
        "host": secret.get("host") or settings.host,
        "port": int(secret.get("port") or settings.port),
        "dbname": settings.name or secret.get("dbname"),
        "user": user,
        "password": password,
        "sslmode": settings.sslmode,
    }
    if settings.sslrootcert:
        dsn["sslrootcert"] = settings.sslrootcert
    return dsn


class Database:
    """A lazily opened, reused connection, with one-shot reconnect when a reused connection turns out dead."""

    def __init__(self, settings: DatabaseSettings, *, secret_reader: Callable[[str], str] | None = None) -> None:
        self._settings = settings
        self._secret_reader = secret_reader
        self._conn: psycopg2.extensions.connection | None = None

    def _connect(self) -> psycopg2.extensions.connection:
        s = self._settings
        options = {"connect_timeout": s.connect_timeout, "application_name": "event-pipeline"}
        try:
            if s.url is not None:
                return psycopg2.connect(s.url, **options)
            if self._secret_reader is None or s.secret_arn is None:
                raise SecretError("DATABASE_SECRET_ARN is set but no secret reader was given")
            return psycopg2.connect(**secret_dsn(s, self._secret_reader(s.secret_arn)), **options)
        except psycopg2.Error as e:
            # The driver's message can carry the DSN host but never the password; keep only its first line.
            raise DatabaseError(f"cannot connect to PostgreSQL: {str(e).strip().splitlines()[0]}") from e

    def connection(self) -> psycopg2.extensions.connection:
        if self._conn is None or self._conn.closed:
            self._conn = self._connect()
        return self._conn

    def close(self) -> None:
        if self._conn is not None and not self._conn.closed:
            self._conn.close()
        self._conn = None

    @contextmanager
    def _attempt(self) -> Iterator[psycopg2.extensions.cursor]:
        conn = self.connection()
        try:
            with conn, conn.cursor() as cur:  # commits on success, rolls back on any exception
                yield cur
        except (psycopg2.OperationalError, psycopg2.InterfaceError):
            self.close()
            raise

    def run(self, work: Callable[[psycopg2.extensions.cursor], Any]) -> Any:
        """Run ``work(cursor)`` in one transaction; a stale reused connection is replaced and retried once.

        The retry is safe because the first attempt's transaction never committed.
        """
        reused = self._conn is not None and not self._conn.closed
        try:
            with self._attempt() as cur:
                return work(cur)
        except (psycopg2.OperationalError, psycopg2.InterfaceError) as first:
            if not reused:
                raise DatabaseError(f"PostgreSQL failed mid-transaction: {_first_line(first)}") from first
        try:
            with self._attempt() as cur:
                return work(cur)
        except (psycopg2.OperationalError, psycopg2.InterfaceError) as e:
            raise DatabaseError(f"PostgreSQL failed mid-transaction: {_first_line(e)}") from e


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _copy_field(value: Any) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, str):
        return value.translate(_ESCAPES)
    if isinstance(value, bytes):
        return "\\\\x" + value.hex()
    return str(value)


def copy_text(rows: Sequence[Sequence[Any]]) -> io.StringIO:
    """Rows in COPY's text format (tab-separated, ``\\N`` for NULL, backslash escapes)."""
    buf = io.StringIO()
    buf.writelines("\t".join([_copy_field(v) for v in row]) + "\n" for row in rows)
    buf.seek(0)
    return buf


def insert_idempotent(
    cur: psycopg2.extensions.cursor,
    table: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    key: Sequence[str],
) -> int:
    """COPY rows into a temp table, then ``INSERT ... ON CONFLICT (key) DO NOTHING``; return rows inserted.

    Rows repeating a key within the batch are folded first (DISTINCT ON), so the caller learns how many
    were duplicates as ``len(rows) - inserted``. Must run inside the caller's transaction.
    """
    if not rows:
        return 0
    stage = sql.Identifier(f"_stage_{table}")
    target = sql.Identifier(table)
    cols = sql.SQL(", ").join(map(sql.Identifier, columns))
    keys = sql.SQL(", ").join(map(sql.Identifier, key))
    # Only the listed columns, no constraints: the target's identity and defaults apply at the INSERT.
    cur.execute(
        sql.SQL(
            "CREATE TEMP TABLE IF NOT EXISTS {stage} ON COMMIT DELETE ROWS AS SELECT {cols} FROM {target} WITH NO DATA"
        ).format(stage=stage, target=target, cols=cols)
    )
    cur.copy_expert(
        sql.SQL("COPY {stage} ({cols}) FROM STDIN").format(stage=stage, cols=cols).as_string(cur),
        copy_text(rows),
    )
    cur.execute(
        sql.SQL(
            "INSERT INTO {target} ({cols}) SELECT DISTINCT ON ({keys}) {cols} FROM {stage} "
            "ON CONFLICT ({keys}) DO NOTHING"
        ).format(target=target, cols=cols, keys=keys, stage=stage)
    )
    inserted: int = cur.rowcount
    return inserted


def insert_or_reject(
    cur: psycopg2.extensions.cursor,
    table: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    key: Sequence[str],
) -> tuple[int, list[tuple[int, str]]]:
    """Like insert_idempotent, but a row PostgreSQL refuses is set aside with its reason, not fatal.

    Validation should leave nothing for PostgreSQL to refuse; this is the backstop that keeps one bad
    row from failing (and so blocking) a whole shard. Returns (rows inserted, [(row index, reason)]).
    """
    cur.execute("SAVEPOINT bulk")
    try:
        inserted = insert_idempotent(cur, table, columns, rows, key=key)
    except (psycopg2.DataError, psycopg2.IntegrityError):
        cur.execute("ROLLBACK TO SAVEPOINT bulk")
    else:
        cur.execute("RELEASE SAVEPOINT bulk")
        return inserted, []
    inserted, refused = 0, []
    for index, row in enumerate(rows):
        cur.execute("SAVEPOINT one")
        try:
            inserted += insert_idempotent(cur, table, columns, [row], key=key)
        except (psycopg2.DataError, psycopg2.IntegrityError) as e:
            cur.execute("ROLLBACK TO SAVEPOINT one")
            refused.append((index, f"PostgreSQL refused the row: {_first_line(e)}"))
        else:
            cur.execute("RELEASE SAVEPOINT one")
    return inserted, refused
