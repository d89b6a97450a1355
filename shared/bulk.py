"""Bulk writes inside a transaction: rows in COPY's text format, and the idempotent inserts built on COPY.

``insert_idempotent`` writes a batch once whatever happens to it (a first delivery, a replay, keys repeated
within it, a concurrent batch holding some of the same keys); ``insert_or_reject`` also sets aside the rows
PostgreSQL refuses, with their reason. Both run in the caller's transaction, the cursor of a
``shared.db.Database.run``, which owns connecting, committing and retrying.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import psycopg2
import psycopg2.errors
import psycopg2.extensions
from psycopg2 import sql

__all__ = ["DIRECT_COPY_WAIT_MS", "copy_line", "insert_idempotent", "insert_or_reject"]


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


def _one_row(cur: psycopg2.extensions.cursor) -> tuple[Any, ...]:
    """The row of a statement that always returns exactly one."""
    row = cur.fetchone()
    if row is None:
        raise psycopg2.ProgrammingError("the statement returned no row")
    return row


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


class _CopySource:
    """COPY input that psycopg2 reads a chunk at a time (``read(size)``).

    Rows are formatted, and for a lazy iterable produced, only when the driver asks for the next chunk, so
    the Python work behind them (de-aggregating, validating) runs while the server is still loading the
    chunk before: on two cores, or against a remote database, the two overlap instead of taking turns. It
    keeps every row it produced, for a second pass (the staged path, the backstop).

    An exception raised while producing rows is kept in ``error``: the driver can only report it as a failed
    COPY, which must not pass for a database failure; the inserts below raise it as it was.
    """

    def __init__(self, rows: Iterable[Sequence[Any]], line: Callable[[Sequence[Any]], str] = copy_line) -> None:
        self._rows = iter(rows)
        self._line = line
        self.rows: list[Sequence[Any]] = []
        self._peeked: list[Sequence[Any]] = []  # rows produced by empty(), not formatted yet
        self.error: BaseException | None = None

    def read(self, size: int = 8192) -> str:
        format_line = self._line
        try:
            lines, self._peeked = list(map(format_line, self._peeked)), []
            length = sum(map(len, lines))
            for row in self._rows:
                self.rows.append(row)
                line = format_line(row)
                lines.append(line)
                length += len(line)
                if length >= size > 0:
                    break
        except BaseException as e:
            self.error = e
            raise
        return "".join(lines)

    def empty(self) -> bool:
        """True when there are no rows at all; otherwise the first is produced (and kept, not formatted yet) so
        nothing is lost."""
        if not self.rows:
            try:
                for row in self._rows:
                    self.rows.append(row)
                    self._peeked.append(row)
                    break
            except BaseException as e:
                self.error = e
                raise
        return not self.rows

    def drain(self) -> list[Sequence[Any]]:
        """Every row, the rest produced now without formatting them: for a caller that will not COPY them all."""
        try:
            self.rows.extend(self._rows)
        except BaseException as e:
            self.error = e
            raise
        return self.rows

    def lines(self, rows: Iterable[Sequence[Any]]) -> str:
        """``rows`` in COPY's text format, with this source's formatter."""
        return "".join(map(self._line, rows))

    def copy(self, cur: psycopg2.extensions.cursor, statement: str) -> None:
        """``cur.copy_expert(statement, self)``; an error of the rows' own is raised as itself, not as the driver's."""
        try:
            # psycopg2 reads str chunks from any object with read(); its stubs ask for a file.
            cur.copy_expert(statement, cast(Any, self))
        except psycopg2.Error:
            if self.error is not None:
                raise self.error from None
            raise


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
    A replay (a retried batch, a stream read again) is told apart before anything is written, by one indexed
    probe of the first row's key: when that is stored, the COPY is not tried. When a key is already there or
    repeats within the batch, the COPY fails on the unique index; when it meets a concurrent batch writing the
    same keys in another order, PostgreSQL may end one of the two as a deadlock. Either way it is rolled back,
    with its locks. Then the keys not stored yet are looked up in one indexed query, and only those rows are
    copied, once each and in key order: a replay of a stored batch writes nothing and costs about what reading
    it costs. Should a concurrent writer store some of those keys in between, the rows go through a temp table
    and ``INSERT ... ON CONFLICT (key) DO NOTHING``.
    The caller learns how many were duplicates as ``len(rows) - inserted``. Any other error is the caller's.
    Must run inside the caller's transaction.
    """
    return _insert_idempotent(cur, table, columns, _CopySource(rows, line), key=key)


def _insert_idempotent(
    cur: psycopg2.extensions.cursor, table: str, columns: Sequence[str], source: _CopySource, *, key: Sequence[str]
) -> int:
    if source.empty():
        return 0
    target = sql.Identifier(table)
    cols = sql.SQL(", ").join(map(sql.Identifier, columns))
    copy_sql = sql.SQL("COPY {target} ({cols}) FROM STDIN").format(target=target, cols=cols).as_string(cur)
    positions = [columns.index(k) for k in key]
    # One indexed probe of the first row's key tells a replay from a first delivery before anything is written:
    # a direct COPY of a replay would format and send the whole batch only to fail on its first row.
    first = source.rows[0]
    if not _stored(cur, table, key, [first[i] for i in positions]) and _copy_under_savepoint(
        cur, lambda: source.copy(cur, copy_sql)
    ):
        return len(source.rows)
    # A replay (or a key repeated in the batch, or a concurrent writer of the same keys): find the keys not
    # stored yet with one indexed lookup, and COPY only their rows, in key order. A replay of a stored batch
    # ends here with nothing to write, for about the price of reading the batch.
    every = source.drain()  # the failed COPY may have stopped reading early; only the new rows are formatted
    new = _new_rows(cur, table, key, [[row[i] for row in every] for i in positions])
    if not new:
        return 0
    fresh: dict[tuple[Any, ...], Sequence[Any]] = {}
    for n in sorted(new):  # in batch order: the first row of a key repeated in the batch is the one kept
        row = every[n]
        fresh.setdefault(tuple(row[i] for i in positions), row)
    # Key order, with None last (never a stored key: the server refuses the row and the caller bisects to it).
    rows = [fresh[k] for k in sorted(fresh, key=lambda k: tuple((v is None, v) for v in k))]
    if _copy_under_savepoint(cur, lambda: cur.copy_expert(copy_sql, io.StringIO(source.lines(rows)))):
        return len(rows)
    return _insert_staged(cur, table, columns, rows, key=key)  # a concurrent writer got there in between


def _copy_under_savepoint(cur: psycopg2.extensions.cursor, copy: Callable[[], None]) -> bool:
    """Run a COPY into a table under a savepoint; False (rolled back, locks released) when a key was already
    there, or another transaction holds one of its keys uncommitted for longer than a moment.

    The COPY writes in arrival order, so two batches holding the same events in other orders could wait on
    each other; instead of waiting, it gives up after DIRECT_COPY_WAIT_MS (well before PostgreSQL's deadlock
    check, at one second by default) and its caller goes on in key order, the one order every waiting writer
    takes. So overlapping concurrent batches neither deadlock nor queue behind each other's whole COPY.
    """
    cur.execute(
        "SAVEPOINT direct_copy; SELECT s.old, set_config('lock_timeout', %s, true) "
        "FROM (SELECT current_setting('lock_timeout') AS old OFFSET 0) s",
        (f"{DIRECT_COPY_WAIT_MS}ms",),
    )
    (previous, _) = _one_row(cur)
    try:
        copy()
    except (psycopg2.errors.UniqueViolation, psycopg2.errors.LockNotAvailable, psycopg2.errors.DeadlockDetected):
        cur.execute("ROLLBACK TO SAVEPOINT direct_copy; RELEASE SAVEPOINT direct_copy")  # the SET goes too
        return False
    cur.execute("RELEASE SAVEPOINT direct_copy; SELECT set_config('lock_timeout', %s, true)", (previous,))
    return True


DIRECT_COPY_WAIT_MS = 50


@dataclass(frozen=True, slots=True)
class _KeyColumn:
    type: str  # its SQL type, to which a given key is cast
    partitions: bool  # whether the table is partitioned by it: a lookup then bounds it, so partitions prune


_KEY_COLUMNS: dict[tuple[str, str], _KeyColumn] = {}  # (table, column) -> what the catalog says, read once


def _key_columns(cur: psycopg2.extensions.cursor, table: str, key: Sequence[str]) -> list[_KeyColumn]:
    missing = [column for column in key if (table, column) not in _KEY_COLUMNS]
    if missing:
        cur.execute(
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod), EXISTS ("
            "  SELECT 1 FROM pg_partitioned_table p WHERE p.partrelid = a.attrelid AND a.attnum = ANY(p.partattrs)) "
            "FROM pg_attribute a WHERE a.attrelid = %s::regclass AND a.attname = ANY(%s) AND NOT a.attisdropped",
            (table, missing),
        )
        _KEY_COLUMNS.update({(table, name): _KeyColumn(kind, bounded) for name, kind, bounded in cur.fetchall()})
    return [_KEY_COLUMNS[(table, column)] for column in key]


def _stored(cur: psycopg2.extensions.cursor, table: str, key: Sequence[str], value: Sequence[Any]) -> bool:
    """Whether ``table`` holds a row with this one key: an index probe, in the one partition it can be in."""
    types = _key_columns(cur, table, key)
    match = [sql.SQL("{} = %s::{}").format(sql.Identifier(k), sql.SQL(t.type)) for k, t in zip(key, types, strict=True)]
    _execute_keys(
        cur,
        sql.SQL("SELECT EXISTS (SELECT 1 FROM {table} WHERE {match})").format(
            table=sql.Identifier(table), match=sql.SQL(" AND ").join(match)
        ),
        list(value),
    )
    return bool(_one_row(cur)[0])


def _execute_keys(cur: psycopg2.extensions.cursor, statement: sql.Composable, params: Sequence[Any]) -> None:
    """Execute a statement whose parameters are keys of the batch. A key psycopg2 cannot send (a NUL in a
    string) is the data's fault, as it would be in the COPY: it is raised as a DataError, which the callers
    refuse and bisect like any row the server refuses, rather than as a ValueError that fails the batch."""
    try:
        cur.execute(statement, params)
    except ValueError as e:
        raise psycopg2.DataError(f"a key cannot be sent to PostgreSQL: {e}") from e


def _array(values: Sequence[Any]) -> Any:
    """``values`` as one array literal (``{"a","b"}``) when they are all text or integers, else as they are.

    psycopg2 sends a list as ``ARRAY['a', 'b', ...]``: an expression the server parses and plans element by
    element, and which Python builds a quoted literal at a time. One literal string is a single parameter."""
    if not values:
        return "{}"
    try:
        text = '","'.join(values)
    except TypeError:
        if not all(v.__class__ is int for v in values):
            return list(values)  # let psycopg2 adapt what it knows (datetimes, UUIDs, bytes, None)
        return "{" + ",".join(map(str, values)) + "}"
    # The separators hold two quotes each: any more, or a backslash, and every element is escaped.
    if "\\" in text or text.count('"') != 2 * (len(values) - 1):
        text = '","'.join(v.replace("\\", "\\\\").replace('"', '\\"') for v in values)
    return '{"' + text + '"}'


def _new_rows(
    cur: psycopg2.extensions.cursor, table: str, key: Sequence[str], values: Sequence[Sequence[Any]]
) -> list[int]:
    """Positions of the rows whose key (``values``: one list per key column) ``table`` does not hold yet: none
    for a replay, so a stored batch's lookup sends nothing back.

    PostgreSQL compares the keys, each cast to its column's type, so a key's text need not be spelt as the
    server would print it (a timestamp, a UUID in capitals) to be found. A key column the table is partitioned
    by is also bounded by the batch's least and greatest value, so only the partitions those span are read:
    without bounds the planner may hash the whole table, every partition of it, to match one batch.
    """
    types = _key_columns(cur, table, key)
    given = [sql.Identifier(f"k{i}") for i in range(len(key))]
    names = [sql.SQL("t.{}").format(sql.Identifier(k)) for k in key]
    values_given = [sql.SQL("u.{}").format(g) for g in given]
    match = [sql.SQL("({}) = ({})").format(sql.SQL(", ").join(names), sql.SQL(", ").join(values_given))]
    match += [
        sql.SQL("{t} BETWEEN (SELECT min(b.{g}) FROM u b) AND (SELECT max(b.{g}) FROM u b)").format(t=t, g=g)
        for t, g, column in zip(names, given, types, strict=True)
        if column.partitions
    ]
    _execute_keys(
        cur,
        sql.SQL(
            "WITH u AS MATERIALIZED (SELECT * FROM unnest({arrays}) WITH ORDINALITY AS u({given}, n)) "
            "SELECT u.n - 1 FROM u WHERE NOT EXISTS (SELECT 1 FROM {table} t WHERE {match})"
        ).format(
            arrays=sql.SQL(", ").join(sql.SQL("%s::{}[]").format(sql.SQL(t.type)) for t in types),
            given=sql.SQL(", ").join(given),
            table=sql.Identifier(table),
            match=sql.SQL(" AND ").join(match),
        ),
        [_array(v) for v in values],
    )
    return [n for (n,) in cur.fetchall()]


def _insert_staged(
    cur: psycopg2.extensions.cursor,
    table: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    key: Sequence[str],
) -> int:
    """``INSERT ... ON CONFLICT (key) DO NOTHING`` of rows through a temp table, in key order."""
    target = sql.Identifier(table)
    cols = sql.SQL(", ").join(map(sql.Identifier, columns))
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
        io.StringIO("".join(map(copy_line, rows))),
    )
    cur.execute(
        sql.SQL(
            "INSERT INTO {target} ({cols}) SELECT DISTINCT ON ({keys}) {cols} FROM {stage} ORDER BY {keys} "
            "ON CONFLICT ({keys}) DO NOTHING"
        ).format(target=target, cols=cols, keys=keys, stage=stage)
    )
    inserted: int = cur.rowcount
    # Emptied at once, not at commit: a transaction may stage again, and rows left behind would be read again.
    cur.execute(sql.SQL("TRUNCATE {stage}").format(stage=stage))
    return inserted


_REFUSALS = (psycopg2.DataError, psycopg2.IntegrityError)


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
    row from failing (and so blocking) a whole shard. A refused batch is split in halves, and each half
    tried again, down to the rows refused alone: k bad rows among n cost about 2k log n small inserts, not
    n. Returns (rows inserted, [(row index, reason)]).
    """
    source = _CopySource(rows, line)
    cur.execute("SAVEPOINT bulk")
    try:
        inserted = _insert_idempotent(cur, table, columns, source, key=key)
    except _REFUSALS as e:
        cur.execute("ROLLBACK TO SAVEPOINT bulk; RELEASE SAVEPOINT bulk")
        source.drain()  # the driver may have stopped reading at the error: produce the rest
        refused: list[tuple[int, str]] = []
        inserted = _bisect(cur, table, columns, source.rows, 0, e, key, line, refused)
        return inserted, sorted(refused)
    cur.execute("RELEASE SAVEPOINT bulk")
    return inserted, []


def _bisect(
    cur: psycopg2.extensions.cursor,
    table: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    offset: int,
    error: psycopg2.Error,
    key: Sequence[str],
    line: Callable[[Sequence[Any]], str],
    refused: list[tuple[int, str]],
) -> int:
    """Insert ``rows``, which PostgreSQL refused with ``error``, by halves; refused rows go to ``refused``."""
    if len(rows) == 1:
        refused.append((offset, f"PostgreSQL refused the row: {_first_line(error)}"))
        return 0
    inserted, middle = 0, len(rows) // 2
    for start, part in ((offset, rows[:middle]), (offset + middle, rows[middle:])):
        cur.execute("SAVEPOINT part")
        try:
            inserted += insert_idempotent(cur, table, columns, part, key=key, line=line)
        except _REFUSALS as e:
            cur.execute("ROLLBACK TO SAVEPOINT part; RELEASE SAVEPOINT part")
            inserted += _bisect(cur, table, columns, part, start, e, key, line, refused)
        else:
            cur.execute("RELEASE SAVEPOINT part")
    return inserted
