"""One way to get a PostgreSQL connection (DATABASE_URL or a Secrets Manager secret) and run work in a transaction.

The connection is opened lazily, kept across warm invocations, and opened again when it is found broken.
psycopg2 errors are re-raised as DatabaseError so the handler's caller (Lambda) retries the batch. What is
written inside a transaction, COPY and the idempotent inserts, is shared.bulk's.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any, TypeVar

import psycopg2
import psycopg2.errors
import psycopg2.extensions

from shared import aws, dsn
from shared.config import DatabaseSettings, Settings
from shared.exceptions import DatabaseError

__all__ = ["Database", "for_function", "secret_dsn"]


def secret_dsn(settings: DatabaseSettings, secret_string: str) -> dict[str, Any]:
    """Connection keywords from an RDS-managed secret (``username``, ``password``) plus host and name."""
    return {
        **dsn.secret_keywords(settings.host, settings.port, settings.name, secret_string),
        "sslmode": settings.sslmode,
        **({"sslrootcert": settings.sslrootcert} if settings.sslrootcert else {}),
    }


# Sent with every connection: TCP keepalives, so a peer that vanished (a failover, a frozen Lambda) is noticed
# in under a minute instead of the kernel's two hours, and a server-side limit on a transaction left idle, so
# the locks of an invocation that timed out mid-transaction are released for the retry that follows.
SESSION_OPTIONS: dict[str, Any] = {
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
    "options": "-c idle_in_transaction_session_timeout=30000",
}
MIN_STATEMENT_MS = 100  # the smallest statement and lock timeout an attempt is given


_T = TypeVar("_T")  # what a transaction's work returns, and so Database.run


class Database:
    """A lazily opened, reused connection; work runs in one transaction, retried only when that is safe.

    ``run(work, time_left_s=...)`` is the one way to use it. An attempt is retried when the database could not
    be reached or the connection was lost (so nothing committed), and on a deadlock or serialization failure
    (the transaction was rolled back, the connection is kept), with full-jitter backoff for as long as the time
    left allows: a failover of a minute or two costs a slower invocation, not a failed one. Every statement of
    an attempt is bounded by the time left (``statement_timeout`` and ``lock_timeout``), so a lock held by an
    orphaned transaction cannot make an invocation outlive its timeout. ``work`` must build everything it writes
    afresh on each call: a retried attempt calls it again from the start.
    """

    def __init__(
        self,
        settings: DatabaseSettings,
        *,
        secret_reader: Callable[[str], str] | None = None,
        token_maker: dsn.TokenMaker | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self._settings = settings
        self._secret_reader = secret_reader
        self._token_maker = token_maker
        self._conn: psycopg2.extensions.connection | None = None
        self._clock = clock
        self._sleep = sleep
        self._jitter = jitter
        self.retries = 0  # attempts retried over this object's life, for metrics and tests

    def _connect(self, **extra: Any) -> psycopg2.extensions.connection:
        """Open a connection with keywords only (shared.dsn), never a URL; ``extra`` adds libpq options.

        Keywords the settings give (a DATABASE_URL query, say) win over these defaults and ``extra``.
        """
        options = {
            "connect_timeout": self._settings.connect_timeout,
            "application_name": "event-pipeline",
            **SESSION_OPTIONS,
            **extra,
        }
        keywords = dsn.keywords(self._settings, secret_reader=self._secret_reader, token_maker=self._token_maker)
        try:
            connection: psycopg2.extensions.connection = psycopg2.connect(**{**options, **keywords})
            return connection
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

    def run(self, work: Callable[[psycopg2.extensions.cursor], _T], *, time_left_s: float = 0.0) -> _T:
        """Run ``work(cursor)`` in one transaction and commit; retry as the class says while time is left.

        With no time left (the default, for callers without a deadline) a stale reused connection and a
        deadlock are still retried once, at once, and statements are not bounded.
        """
        deadline = self._clock() + time_left_s if time_left_s > 0 else None
        attempt = 0
        while True:
            reused = self._conn is not None and not self._conn.closed
            try:
                return self._attempt(work, deadline)
            except _Transient as transient:
                error = transient.error
                if deadline is None:
                    if attempt > 0 or not (reused or transient.rolled_back):
                        raise _as_database_error(error) from error
                    delay = 0.0
                else:
                    delay = self._jitter() * min(_MAX_BACKOFF_S, _BASE_BACKOFF_S * 2**attempt)
                    if self._clock() + delay + MIN_STATEMENT_MS / 1000 >= deadline:
                        raise _as_database_error(error) from error
            attempt += 1
            self.retries += 1
            if delay:
                self._sleep(delay)

    def _attempt(self, work: Callable[[psycopg2.extensions.cursor], _T], deadline: float | None) -> _T:
        try:
            conn = self.connection()
        except DatabaseError as e:  # not reachable (yet): an outage, a failover, a restart
            raise _Transient(e, rolled_back=False) from e
        try:
            with conn, conn.cursor() as cur:  # commits on success, rolls back on any exception
                if deadline is not None:
                    bound = max(MIN_STATEMENT_MS, int((deadline - self._clock()) * 1000))
                    cur.execute("SET LOCAL statement_timeout = %s; SET LOCAL lock_timeout = %s", (bound, bound))
                return work(cur)
        except psycopg2.errors.TransactionRollbackError as e:  # deadlock, serialization failure: safe to redo
            raise _Transient(e, rolled_back=True) from e
        except (psycopg2.OperationalError, psycopg2.InterfaceError) as e:
            if conn.closed:  # the connection is gone with whatever the transaction did: safe to redo
                self.close()
                raise _Transient(e, rolled_back=False) from e
            # The server is there and refused the statement (a timeout, a cancel): not a lost connection.
            raise DatabaseError(f"PostgreSQL failed mid-transaction: {_first_line(e)}") from e
        except psycopg2.DatabaseError as e:
            # libpq can report a server that went away mid-query as a plain DatabaseError ("server closed the
            # connection unexpectedly"), with no SQLSTATE: the server refused nothing, the connection is not to
            # be trusted. An error with a SQLSTATE (bad data, a constraint) is the server's answer: the caller's.
            if conn.closed or e.pgcode is None:
                self.close()
                raise _Transient(e, rolled_back=False) from e
            raise


_BASE_BACKOFF_S = 0.1
_MAX_BACKOFF_S = 5.0


class _Transient(Exception):
    """An attempt that did not commit and may be made again: carries the error, and whether the connection lives."""

    def __init__(self, error: BaseException, *, rolled_back: bool) -> None:
        super().__init__(str(error))
        self.error = error
        self.rolled_back = rolled_back


def _as_database_error(error: BaseException) -> DatabaseError:
    if isinstance(error, DatabaseError):
        return error
    return DatabaseError(f"PostgreSQL failed mid-transaction: {_first_line(error)}")


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
