"""The local CLI as a user runs it: demo end to end, and invoke on fixture events."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from local.postgres import free_port
from local.stack import ROOT

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_demo_shows_every_accepted_event_landing_once(state_dir):
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    out = subprocess.run(
        [sys.executable, "-m", "local", "--state-dir", str(state_dir), "--port", str(free_port()), "demo"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "error_source answered 202: 5 accepted" in out.stdout
    assert "errors table holds 5 rows (dead letters: 0)" in out.stdout
    assert "every accepted event landed exactly once" in out.stdout
    assert "stack stopped" in out.stdout


@pytest.mark.parametrize(
    ("function", "event", "expect"),
    [
        ("producers/error_source", "error_source/http_post.json", '"statusCode": 202'),
        ("error_source", "error_source/direct_invoke.json", '"rejected"'),
        ("consumers.error_sink.handler.handler", "error_sink/kinesis_plain.json", '"batchItemFailures": []'),
    ],
)
def test_invoke_runs_a_handler_on_an_event_file(local_stack, function, event, expect):
    out = subprocess.run(
        [sys.executable, "-m", "local", "invoke", function, str(ROOT / "test" / "events" / event)],
        cwd=ROOT,
        env={**os.environ, **local_stack.env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert expect in out.stdout
    json.loads(out.stdout[out.stdout.index("{\n") :])  # the response is printed as JSON


def test_invoke_names_an_unknown_function(local_stack):
    out = subprocess.run(
        [sys.executable, "-m", "local", "invoke", "nope", "x.json"],
        cwd=ROOT,
        env={**os.environ, **local_stack.env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode != 0
    assert "unknown function 'nope'" in out.stderr
