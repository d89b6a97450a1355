"""No secret reaches a log line: a consumer run with a database password, at DEBUG, failing and succeeding."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from typing import Any

import pytest

from local.stack import ROOT
from test.support import error_event, kinesis_event, wire

pytestmark = pytest.mark.integration

SCRIPT = """
import json, sys
from consumers.error_sink import handler
event = json.loads(sys.stdin.read())
try:
    print(json.dumps(handler.handler(event, None)))
except Exception:
    handler.LOG.exception("batch failed")
    raise
"""


def _run(env: dict[str, str], event: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", SCRIPT], input=json.dumps(event), cwd=ROOT, env=env,
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_the_password_never_appears_in_any_output(local_stack):
    password = f"pw-{uuid.uuid4().hex}"
    host_port = local_stack.database_url.split("@")[1].split("/")[0]
    arn = local_stack.client("secretsmanager").create_secret(
        Name=f"evpipe/{uuid.uuid4().hex[:8]}", SecretString=json.dumps({"username": "postgres", "password": password})
    )["ARN"]
    base = {k: v for k, v in {**os.environ, **local_stack.env}.items() if k != "DATABASE_URL"}
    env = {**base, "LOG_LEVEL": "DEBUG", "DATABASE_SECRET_ARN": arn, "DATABASE_NAME": "postgres",
           "DATABASE_HOST": host_port.split(":")[0], "DATABASE_PORT": host_port.split(":")[1],
           "DATABASE_SSLMODE": "disable"}  # fmt: skip
    event = kinesis_event([("k", wire(error_event(1))), ("bad", b"{")])

    ok = _run(env, event)
    assert ok.returncode == 0, ok.stderr
    assert '"batchItemFailures": []' in ok.stdout

    down = _run({**env, "DATABASE_PORT": "1"}, event)  # the database unreachable: errors get logged
    assert down.returncode != 0
    assert "DatabaseError" in down.stdout + down.stderr

    url = _run({**base, "LOG_LEVEL": "DEBUG", "DATABASE_URL": f"postgresql://postgres:{password}@127.0.0.1:1/x"}, event)
    assert url.returncode != 0 and "cannot connect to PostgreSQL" in url.stdout + url.stderr

    for run in (ok, down, url):
        assert password not in run.stdout
        assert password not in run.stderr


@pytest.mark.parametrize(
    "userinfo",
    [
        "postgres:{pw}%zz",  # a bad %-escape: libpq echoed the whole password in "invalid percent-encoded token"
        "postgres:pa/{pw}",  # a raw '/': libpq read "pa" as the port and the rest as the database name
        "postgres:p@{pw}",  # a raw '@': libpq tried the password's tail as the host name
        "postgres:pa?{pw}",  # a raw '?': the rest became the query
    ],
)
def test_a_malformed_url_never_echoes_its_password(local_stack, userinfo):
    password = f"pw-{uuid.uuid4().hex}"
    host_port = local_stack.database_url.split("@")[1].split("/")[0]
    url = f"postgresql://{userinfo.format(pw=password)}@{host_port}/postgres"
    env = {**os.environ, **local_stack.env, "LOG_LEVEL": "DEBUG", "DATABASE_URL": url}
    run = _run(env, kinesis_event([("k", wire(error_event(1)))]))
    assert run.returncode != 0
    assert "ConfigError: invalid configuration: DATABASE_URL" in run.stderr
    assert password not in run.stdout + run.stderr
    assert password[3:11] not in run.stdout + run.stderr  # not even a piece of it


def test_a_percent_encoded_password_connects(local_stack, db):
    # The embedded server trusts local connections, so the password is not checked; what counts is that a
    # password full of reserved characters, encoded, leaves the URL parseable and the connection working.
    password = f"p@ss/w?rd#%:{uuid.uuid4().hex}"
    encoded = "".join(c if c.isalnum() or c in "-." else f"%{ord(c):02X}" for c in password)
    host_port = local_stack.database_url.split("@")[1].split("/")[0]
    env = {**os.environ, **local_stack.env, "LOG_LEVEL": "DEBUG"}
    env["DATABASE_URL"] = f"postgresql://postgres:{encoded}@{host_port}/postgres"
    ok = _run(env, kinesis_event([("k", wire(error_event(1)))]))
    assert ok.returncode == 0, ok.stderr
    assert '"batchItemFailures": []' in ok.stdout
    assert password not in ok.stdout + ok.stderr and encoded not in ok.stdout + ok.stderr
