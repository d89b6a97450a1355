"""One way to get a PostgreSQL connection (DATABASE_URL or a Secrets Manager secret), and bulk idempotent writes.

The connection is opened lazily, kept across warm invocations, and opened again when it is found broken.
psycopg2 errors are re-raised as DatabaseError so the handler's caller (Lambda) retries the batch.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg2
import psycopg2.errors
import psycopg2.extensions
from psycopg2 import sql

from shared import aws, dsn
from shared.config import DatabaseSettings, Settings
from shared.exceptions import DatabaseError

__all__ = [
    "Database",
    "copy_line",
    "copy_text",
    "for_function",
    "insert_idempotent",
    "insert_or_reject",
    "secret_dsn",
]


def secret_dsn(settings: DatabaseSettings, secret_string: str) -> dict[str, Any]:
    """Connection keywords from an RDS-managed secret (``username``, ``password``) plus host and name."""
    return {
        **dsn.secret_keywords(settings.host, settings.port, settings.name, secret_string),
        "sslmode": settings.sslmode,
        **({"sslrootcert": settings.sslrootcert} if settings.sslrootcert else {}),
    }


class Database:
    """A lazily opened, reused connection, with one-shot reconnect when a reused connection turns out dead."""

    def __init__(
        self,
        settings: DatabaseSettings,
        *,
        secret_reader: Callable[[str], str] | None = None,
        token_maker: dsn.TokenMaker | None = None,
    ) -> None:
        self._settings = settings
        self._secret_reader = secret_reader
        self._token_maker = token_maker
        self._conn: psycopg2.extensions.connection | None = None

    def _connect(self, **extra: Any) -> psycopg2.extensions.connection:
        """Open a connection with keywords only (shared.dsn), never a URL; ``extra`` adds libpq options.

        Keywords the settings give (a DATABASE_URL query, say) win over these defaults and ``extra``.
        """
        options = {"connect_timeout": self._settings.connect_timeout, "application_name": "event-pipeline", **extra}
        keywords = dsn.keywords(self._settings, secret_reader=self._secret_reader, token_maker=self._token_maker)
        try:
            return psycopg2.connect(**{**options, **keywords})
        except psycopg2.Error as e:
            # Keywords, not a URL: libpq's message names the host and user at most, never the password.
            raise DatabaseError(f"cannot connect to PostgreSQL: {_first_line(e)}") from e

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


def for_function(settings: Settings) -> Database:
    """The one way a function gets its database: DATABASE_URL, the Secrets Manager secret read on connect, or an
    RDS IAM auth token made on connect."""
    if settings.database is None:
        raise ValueError("load the settings with config.load(database=True)")
    return Database(
        settings.database, secret_reader=aws.secret_reader(settings), token_maker=dsn.rds_token_maker(settings)
    )


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _copy_field(value: Any) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, str):
        # Most fields need no escape: four C-speed scans beat str.translate, which maps character by character.
        if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
            return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
        return value
    if isinstance(value, bytes):
        return "\\\\x" + value.hex()
    return str(value)


def copy_line(row: Sequence[Any]) -> str:
    """One row in COPY's text format, newline included, whatever its values: the default ``line`` of the
    inserts below. A caller that knows which of its columns can never need escaping can pass its own, faster
    one, as long as it gives this text."""
    # A plain string without special characters, most fields, is taken as it is without a call.
    return (
        "\t".join(
            [
                v
                if v.__class__ is str and "\\" not in v and "\t" not in v and "\n" not in v and "\r" not in v
                else _copy_field(v)
                for v in row
            ]
        )
        + "\n"
    )


def copy_text(rows: Iterable[Sequence[Any]]) -> io.StringIO:
    """Rows in COPY's text format (tab-separated, ``\\N`` for NULL, backslash escapes)."""
    return io.StringIO("".join([copy_line(row) for row in rows]))


class _CopySource:
    """COPY input that psycopg2 reads a chunk at a time (``read(size)``).

    Rows are formatted, and for a lazy iterable produced, only when the driver asks for the next chunk, so
    the Python work behind them (de-aggregating, validating) runs while the server is still loading the
    chunk before: on two cores, or against a remote database, the two overlap instead of taking turns. It
    keeps every row and chunk it produced, for a second pass (the staged path, the per-row backstop).
    """

    def __init__(self, rows: Iterable[Sequence[Any]], line: Callable[[Sequence[Any]], str] = copy_line) -> None:
        self._rows = iter(rows)
        self._line = line
        self.rows: list[Sequence[Any]] = []
        self._chunks: list[str] = []  # everything handed out by read(), in order
        self._peeked: list[str] = []

    def read(self, size: int = 8192) -> str:
        lines, self._peeked = self._peeked, []
        length = sum(map(len, lines))
        format_line = self._line
        for row in self._rows:
            self.rows.append(row)
            line = format_line(row)
            lines.append(line)
            length += len(line)
            if length >= size > 0:
                break
        chunk = "".join(lines)
        self._chunks.append(chunk)
        return chunk

    def empty(self) -> bool:
        """True when there are no rows at all; otherwise the first is read (and kept) so nothing is lost."""
        if not self.rows:
            for row in self._rows:
                self.rows.append(row)
                self._peeked.append(self._line(row))
                break
        return not self.rows

    def text(self) -> str:
        """Every row's line: what was read already, and the rest, produced now."""
        self.read(-1)
        return "".join(self._chunks)


def insert_idempotent(
    cur: psycopg2.extensions.cursor,
    table: str,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    key: Sequence[str],
    line: Callable[[Sequence[Any]], str] = copy_line,
) -> int:
    """Insert rows whose ``key`` is not in the table yet, as ``INSERT ... ON CONFLICT (key) DO NOTHING``; return
    rows inserted. ``rows`` may be lazy: it is read while the server loads what came before. ``line`` formats a
    row for COPY (see copy_line).

    The common case, a first delivery, is a plain COPY into the table under a savepoint: as fast as COPY gets.
    When a key is already there (a replay) or repeats within the batch, that COPY fails on the unique index,
    is rolled back, and the rows go through a temp table and ``INSERT ... SELECT DISTINCT ON (key) ... ON
    CONFLICT (key) DO NOTHING``, so the caller learns how many were duplicates as ``len(rows) - inserted``.
    Any other error is the caller's, as before. Must run inside the caller's transaction.
    """
    return _insert_idempotent(cur, table, columns, _CopySource(rows, line), key=key)


def _insert_idempotent(
    cur: psycopg2.extensions.cursor, table: str, columns: Sequence[str], source: _CopySource, *, key: Sequence[str]
) -> int:
    if source.empty():
        return 0
    target = sql.Identifier(table)
    cols = sql.SQL(", ").join(map(sql.Identifier, columns))
    cur.execute("SAVEPOINT direct_copy")
    try:
        cur.copy_expert(
            sql.SQL("COPY {target} ({cols}) FROM STDIN").format(target=target, cols=cols).as_string(cur), source
        )
    except psycopg2.errors.UniqueViolation:
        cur.execute("ROLLBACK TO SAVEPOINT direct_copy; RELEASE SAVEPOINT direct_copy")
    else:
        cur.execute("RELEASE SAVEPOINT direct_copy")
        return len(source.rows)

    stage = sql.Identifier(f"_stage_{table}")
    keys = sql.SQL(", ").join(map(sql.Identifier, key))
    # Only the listed columns, no constraints: the target's identity and defaults apply at the INSERT.
    cur.execute(
        sql.SQL(
            "CREATE TEMP TABLE IF NOT EXISTS {stage} ON COMMIT DELETE ROWS AS SELECT {cols} FROM {target} WITH NO DATA"
        ).format(stage=stage, target=target, cols=cols)
    )
    cur.copy_expert(
        sql.SQL("COPY {stage} ({cols}) FROM STDIN").format(stage=stage, cols=cols).as_string(cur),
        io.StringIO(source.text()),
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
    rows: Iterable[Sequence[Any]],
    *,
    key: Sequence[str],
    line: Callable[[Sequence[Any]], str] = copy_line,
) -> tuple[int, list[tuple[int, str]]]:
    """Like insert_idempotent, but a row PostgreSQL refuses is set aside with its reason, not fatal.

    Validation should leave nothing for PostgreSQL to refuse; this is the backstop that keeps one bad
    row from failing (and so blocking) a whole shard. Returns (rows inserted, [(row index, reason)]).
    """
    source = _CopySource(rows, line)
    cur.execute("SAVEPOINT bulk")
    try:
        inserted = _insert_idempotent(cur, table, columns, source, key=key)
    except (psycopg2.DataError, psycopg2.IntegrityError):
        cur.execute("ROLLBACK TO SAVEPOINT bulk")
    else:
        cur.execute("RELEASE SAVEPOINT bulk")
        return inserted, []
    source.text()  # the driver may have stopped reading at the error: produce the rest
    inserted, refused = 0, []
    for index, row in enumerate(source.rows):
        cur.execute("SAVEPOINT one")
        try:
            inserted += insert_idempotent(cur, table, columns, [row], key=key, line=line)
        except (psycopg2.DataError, psycopg2.IntegrityError) as e:
            cur.execute("ROLLBACK TO SAVEPOINT one")
            refused.append((index, f"PostgreSQL refused the row: {_first_line(e)}"))
        else:
            cur.execute("RELEASE SAVEPOINT one")
    return inserted, refused
