"""Schema migrations: apply ``shared/sql/NNNN_name.sql`` in order, once each, under an advisory lock."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import psycopg2.extensions
from psycopg2 import sql

__all__ = [
    "LOGIN_ROLES",
    "SQL_DIR",
    "Migration",
    "apply",
    "available",
    "grant_iam_login",
    "pending",
    "scram_verifier",
    "set_login_passwords",
]

SQL_DIR = Path(__file__).parent / "sql"
_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
# Any constant works as long as every migrator uses the same one: it serialises concurrent invocations.
_LOCK_KEY = 0x6576_7069_7065  # "evpipe"
# The login role of each database function but migrate (which keeps the master user), and the group role it is
# granted (migration 0006).
LOGIN_ROLES = {"error_sink": "pipeline_writer", "read_table": "pipeline_reader", "reset_table": "pipeline_resetter"}


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


def grant_iam_login(cur: psycopg2.extensions.cursor) -> list[str]:
    """Make RDS IAM authentication the login method of every login role: ``GRANT rds_iam`` to each, when the
    server has that role (RDS does, plain PostgreSQL does not). Returns the roles granted, [] without rds_iam.
    Safe to repeat. A role granted rds_iam can no longer log in with a password."""
    cur.execute("SELECT 1 FROM pg_roles WHERE rolname = 'rds_iam'")
    if cur.fetchone() is None:
        return []
    for role in sorted(LOGIN_ROLES):
        cur.execute(sql.SQL("GRANT rds_iam TO {}").format(sql.Identifier(role)))
    return sorted(LOGIN_ROLES)


def scram_verifier(password: str, *, salt: bytes | None = None, iterations: int = 4096) -> str:
    """The SCRAM-SHA-256 verifier PostgreSQL stores for ``password`` (as psql's \\password sends it), so the
    server only ever sees the verifier. The password must be ASCII (SASLprep leaves it unchanged then)."""
    if not password.isascii():
        raise ValueError("the password must be ASCII")
    salt = os.urandom(16) if salt is None else salt
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    stored_key = hashlib.sha256(hmac.new(salted, b"Client Key", hashlib.sha256).digest()).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    b64 = base64.b64encode
    return f"SCRAM-SHA-256${iterations}:{b64(salt).decode()}${b64(stored_key).decode()}:{b64(server_key).decode()}"


def set_login_passwords(cur: psycopg2.extensions.cursor, passwords: Mapping[str, str]) -> list[str]:
    """Give each named login role the password it logs in with through RDS Proxy (the proxy's secret for it),
    and take rds_iam away from it where the server has that role: a role granted rds_iam cannot log in with a
    password. The password goes to the server as a SCRAM verifier only, so the statement log (log_statement =
    ddl) never holds it. Returns the roles set. Refuses a role that is not a login role, naming it."""
    unknown = sorted(set(passwords) - set(LOGIN_ROLES))
    if unknown:
        raise ValueError(f"not login roles: {', '.join(unknown)}")
    cur.execute("SELECT 1 FROM pg_roles WHERE rolname = 'rds_iam'")
    has_rds_iam = cur.fetchone() is not None
    for role in sorted(passwords):
        if has_rds_iam:
            cur.execute(sql.SQL("REVOKE rds_iam FROM {}").format(sql.Identifier(role)))
        verifier = scram_verifier(passwords[role])
        cur.execute(sql.SQL("ALTER ROLE {} WITH PASSWORD {}").format(sql.Identifier(role), sql.Literal(verifier)))
    return sorted(passwords)
