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
