"""Schema migrations: apply ``shared/sql/NNNN_name.sql`` in order, once each, under an advisory lock."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import psycopg2.extensions

__all__ = ["SQL_DIR", "Migration", "apply", "available", "pending"]

SQL_DIR = Path(__file__).parent / "sql"
_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
# Any constant works as long as every migrator uses the same one: it serialises concurrent invocations.
_LOCK_KEY = 0x6576_7069_7065  # "evpipe"


@dataclass(frozen=True, slots=True)
class Migration:
    version: str
    name: str
    sql: str


def available(folder: Path = SQL_DIR) -> list[Migration]:
    """Migrations on disk, in version order; a badly named file or a repeated version is an error."""
    found: dict[str, Migration] = {}
    for path in sorted(folder.glob("*.sql")):
        match = _NAME.match(path.name)
        if not match:
            raise ValueError(f"migration file {path.name} must be named NNNN_name.sql")
        version = match.group(1)
        if version in found:
            raise ValueError(f"migration version {version} appears twice: {found[version].name}, {path.name}")
        found[version] = Migration(version, path.name, path.read_text(encoding="utf-8"))
    return [found[v] for v in sorted(found)]


def pending(applied: set[str], migrations: list[Migration]) -> list[Migration]:
    return [m for m in migrations if m.version not in applied]


def apply(cur: psycopg2.extensions.cursor, migrations: list[Migration]) -> list[str]:
    """Apply what is pending inside the caller's transaction; return the versions applied."""
    cur.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
    cur.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version text PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
    )
    cur.execute("SELECT version FROM schema_migrations")
    applied = {row[0] for row in cur.fetchall()}
    done = []
    for migration in pending(applied, migrations):
        cur.execute(migration.sql)
        cur.execute(
            "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
            (migration.version, migration.name),
        )
        done.append(migration.version)
    return done
