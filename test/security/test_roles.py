"""Least privilege on the real PostgreSQL: each function's login role can do its job and nothing more.

Migration 0006 creates the group roles and the login roles; these tests connect as the login roles (the embedded
server trusts local connections, so no password is needed) and check both what is allowed and what is refused.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg2
import psycopg2.errors
import pytest

from local.stack import ROOT
from shared import migrations
from test.support import counts, error_event, kinesis_event, wire

pytestmark = pytest.mark.integration

SINK = """
import json, sys
from consumers.error_sink import handler
print(json.dumps(handler.handler(json.loads(sys.stdin.read()), None)))
"""


def _url(local_stack: Any, role: str) -> str:
    return local_stack.database_url.replace("postgresql://postgres@", f"postgresql://{role}@")


@pytest.fixture
def connect(local_stack: Any) -> Iterator[Any]:
    opened: list[Any] = []

    def open_as(role: str) -> Any:
        conn = psycopg2.connect(_url(local_stack, role))
        conn.autocommit = True
        opened.append(conn)
        return conn

    yield open_as
    for conn in opened:
        conn.close()


def _refused(conn: Any, statement: str, params: tuple[Any, ...] = ()) -> None:
    with pytest.raises(psycopg2.errors.InsufficientPrivilege), conn.cursor() as cur:
        cur.execute(statement, params)


def _run(local_stack: Any, role: str, args: list[str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **local_stack.env, "DATABASE_URL": _url(local_stack, role)}
    return subprocess.run(
        [sys.executable, *args], input=stdin, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
    )


def _invoke(local_stack: Any, role: str, function: str, event: dict[str, Any]) -> dict[str, Any]:
    out = _run(local_stack, role, ["-m", "local", "invoke", function, json.dumps(event)])
    assert out.returncode == 0, out.stderr
    start = out.stdout.rfind("\n{\n") + 1  # the reply, printed last, after any log lines
    reply: dict[str, Any] = json.loads(out.stdout[start:])
    return reply


def test_every_login_role_has_exactly_its_group(db):
    with db.cursor() as cur:
        cur.execute(
            "SELECT m.rolname, g.rolname, m.rolcanlogin, g.rolcanlogin FROM pg_auth_members a"
            " JOIN pg_roles m ON m.oid = a.member JOIN pg_roles g ON g.oid = a.roleid"
            " WHERE m.rolname IN ('error_sink', 'read_table', 'reset_table') ORDER BY 1"
        )
        assert cur.fetchall() == [
            ("error_sink", "pipeline_writer", True, False),
            ("read_table", "pipeline_reader", True, False),
            ("reset_table", "pipeline_resetter", True, False),
        ]
        cur.execute("SELECT rolname FROM pg_roles WHERE rolname LIKE 'pipeline_%' AND (rolsuper OR rolcreaterole)")
        assert cur.fetchall() == []


def test_the_sink_role_writes_first_deliveries_replays_and_dead_letters(local_stack, db):
    event = kinesis_event([(f"k{i}", wire(error_event(i))) for i in range(5)] + [("bad", b"{")])
    for duplicates in (0, 5):  # the second run is a replay: the lookup of stored keys, nothing written
        out = _run(local_stack, "error_sink", ["-c", SINK], json.dumps(event))
        assert out.returncode == 0, out.stderr
        response = json.loads(out.stdout.splitlines()[-1])
        assert response["batchItemFailures"] == [] and response["duplicatesSkipped"] == duplicates
        assert f'"DuplicatesSkipped":{duplicates}' in out.stdout
    assert counts(db) == (5, 1)


def test_the_sink_role_cannot_read_truncate_delete_or_drop(connect, db):
    sink = connect("error_sink")
    _refused(sink, "SELECT message FROM errors")
    _refused(sink, "SELECT raw FROM dead_letters")
    _refused(sink, "TRUNCATE errors")
    _refused(sink, "TRUNCATE dead_letters")
    _refused(sink, "DELETE FROM errors")
    _refused(sink, "UPDATE errors SET message = 'x'")
    _refused(sink, "DROP TABLE errors")
    _refused(sink, "ALTER TABLE errors ADD COLUMN x int")
    _refused(sink, "CREATE TABLE public.mine (x int)")
    _refused(sink, "SELECT reset_table_row_count('errors')")


def test_the_reader_role_reads_and_cannot_write(local_stack, connect, db):
    with db.cursor() as cur:
        cur.execute(
            "INSERT INTO errors (event_id, source, level, message, occurred_at, received_at, shard_id,"
            " sequence_number, sub_sequence_number) VALUES (%s, 's', 'ERROR', 'm', now(), now(), 'sh', '1', 0)",
            (str(uuid.uuid4()),),
        )
    reader = connect("read_table")
    with reader.cursor() as cur:
        cur.execute("SELECT count(*) FROM errors")
        assert cur.fetchone() == (1,)
    _refused(reader, "INSERT INTO errors (event_id) VALUES (%s)", (str(uuid.uuid4()),))
    _refused(reader, "INSERT INTO dead_letters (reason) VALUES ('x')")
    _refused(reader, "UPDATE errors SET message = 'x'")
    _refused(reader, "DELETE FROM errors")
    _refused(reader, "TRUNCATE errors")
    _refused(reader, "DROP TABLE errors")
    _refused(reader, "CREATE TEMP TABLE t (x int)")
    assert len(_invoke(local_stack, "read_table", "read_table", {"table": "errors"})["rows"]) == 1
    summary = _invoke(local_stack, "read_table", "read_table", {"table": "dead_letters", "summary": True})
    assert summary["summary"]["total"] == 0
    assert counts(db) == (1, 0)


def test_the_reset_role_truncates_and_cannot_read_or_write(local_stack, sink, connect, db):
    sink(kinesis_event([("k", wire(error_event(1))), ("bad", b"{")]), None)
    resetter = connect("reset_table")
    _refused(resetter, "SELECT * FROM errors")
    _refused(resetter, "SELECT count(*) FROM dead_letters")
    _refused(resetter, "INSERT INTO errors (event_id) VALUES (%s)", (str(uuid.uuid4()),))
    _refused(resetter, "DELETE FROM errors")
    _refused(resetter, "DROP TABLE errors")
    _refused(resetter, "TRUNCATE schema_migrations")
    with (
        pytest.raises(psycopg2.errors.RaiseException, match="counts only errors and dead_letters"),
        resetter.cursor() as cur,
    ):
        cur.execute("SELECT reset_table_row_count('schema_migrations')")
    reply = _invoke(local_stack, "reset_table", "reset_table", {"table": "errors", "confirm": "errors"})
    assert reply == {"statusCode": 200, "table": "errors", "removed": 1}
    assert counts(db) == (0, 1)


def test_iam_login_is_granted_only_where_rds_iam_exists(local_stack, db):
    # Plain PostgreSQL has no rds_iam role: nothing is granted, and the step says so. RDS has it: every login
    # role gets it. The role is created here for the second half and dropped again.
    with db.cursor() as cur:
        assert migrations.grant_iam_login(cur) == []
        cur.execute("CREATE ROLE rds_iam NOLOGIN")
        try:
            assert migrations.grant_iam_login(cur) == ["error_sink", "read_table", "reset_table"]
            cur.execute(
                "SELECT m.rolname FROM pg_auth_members a JOIN pg_roles m ON m.oid = a.member"
                " WHERE a.roleid = 'rds_iam'::regrole ORDER BY 1"
            )
            assert [r[0] for r in cur.fetchall()] == ["error_sink", "read_table", "reset_table"]
            assert migrations.grant_iam_login(cur) == ["error_sink", "read_table", "reset_table"]  # idempotent
        finally:
            cur.execute("DROP ROLE rds_iam")


def test_migrate_grants_iam_login_when_the_settings_ask(local_stack, db):
    def migrate(**env: str) -> dict[str, Any]:
        full = {**os.environ, **local_stack.env, **env}
        out = subprocess.run(
            [sys.executable, "-m", "local", "invoke", "migrate", "{}"],
            cwd=ROOT, env=full, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert out.returncode == 0, out.stderr
        reply: dict[str, Any] = json.loads(out.stdout[out.stdout.rfind("\n{\n") + 1 :])
        return reply

    assert "iam_logins" not in migrate()
    assert migrate(DATABASE_IAM_LOGINS="1")["iam_logins"] == []  # plain PostgreSQL: nothing to grant
    with db.cursor() as cur:
        cur.execute("CREATE ROLE rds_iam NOLOGIN")
    try:
        assert migrate(DATABASE_IAM_LOGINS="1")["iam_logins"] == ["error_sink", "read_table", "reset_table"]
    finally:
        with db.cursor() as cur:
            cur.execute("DROP ROLE rds_iam")


def test_login_passwords_for_the_proxy_are_stored_as_verifiers_and_end_iam_logins(local_stack, db):
    # Behind RDS Proxy a login role logs in to PostgreSQL with the password in its secret: migrate stores it as a
    # SCRAM verifier (never the password) and takes rds_iam away, which would refuse password logins.
    with db.cursor() as cur:
        cur.execute("CREATE ROLE rds_iam NOLOGIN")
        try:
            assert migrations.grant_iam_login(cur) == ["error_sink", "read_table", "reset_table"]
            assert migrations.set_login_passwords(cur, {"error_sink": "a" * 40, "read_table": "b" * 40}) == [
                "error_sink",
                "read_table",
            ]
            cur.execute(
                "SELECT m.rolname FROM pg_auth_members a JOIN pg_roles m ON m.oid = a.member"
                " WHERE a.roleid = 'rds_iam'::regrole ORDER BY 1"
            )
            assert [r[0] for r in cur.fetchall()] == ["reset_table"]
            cur.execute("SELECT rolname, rolpassword FROM pg_authid WHERE rolname IN ('error_sink', 'read_table')")
            stored = dict(cur.fetchall())
            assert all(v.startswith("SCRAM-SHA-256$4096:") for v in stored.values()), stored
            assert "a" * 40 not in stored["error_sink"]
            with pytest.raises(ValueError, match="not login roles: pipeline_admin"):
                migrations.set_login_passwords(cur, {"pipeline_admin": "c" * 40})
        finally:
            cur.execute("REVOKE rds_iam FROM reset_table")
            cur.execute("ALTER ROLE error_sink PASSWORD NULL")
            cur.execute("ALTER ROLE read_table PASSWORD NULL")
            cur.execute("DROP ROLE rds_iam")


def test_migrate_sets_login_passwords_from_the_proxys_secrets(local_stack, db):
    import boto3

    secrets = boto3.client(
        "secretsmanager",
        endpoint_url=local_stack.endpoint_url,
        region_name=local_stack.env["AWS_REGION"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    arns = {
        role: secrets.create_secret(
            Name=f"test-db-login-{role}-{uuid.uuid4().hex[:8]}",
            SecretString=json.dumps({"username": role, "password": f"{role}-{'x' * 30}"}),
        )["ARN"]
        for role in ("error_sink", "reset_table")
    }

    def migrate(**env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "local", "invoke", "migrate", "{}"],
            cwd=ROOT, env={**os.environ, **local_stack.env, **env}, capture_output=True, text=True, timeout=60,
            check=False,
        )  # fmt: skip

    try:
        out = migrate(DATABASE_LOGIN_SECRETS=json.dumps(arns))
        assert out.returncode == 0, out.stderr
        reply = json.loads(out.stdout[out.stdout.rfind("\n{\n") + 1 :])
        assert reply["password_logins"] == ["error_sink", "reset_table"]
        with db.cursor() as cur:
            cur.execute("SELECT rolname FROM pg_authid WHERE rolpassword LIKE 'SCRAM-SHA-256$4096:%' ORDER BY 1")
            assert [r[0] for r in cur.fetchall()] == ["error_sink", "reset_table"]
        # One way only: IAM logins and proxy passwords exclude each other.
        refused = migrate(DATABASE_LOGIN_SECRETS=json.dumps(arns), DATABASE_IAM_LOGINS="1")
        assert refused.returncode != 0
        assert "cannot be combined with DATABASE_IAM_LOGINS=1" in refused.stdout + refused.stderr
    finally:
        with db.cursor() as cur:
            cur.execute("ALTER ROLE error_sink PASSWORD NULL")
            cur.execute("ALTER ROLE reset_table PASSWORD NULL")
