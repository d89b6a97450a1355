"""Each zip works on Lambda's Python runtime: unpacked alone, resolved like the runtime, invoked on a fixture event.

Every zip is unpacked into an empty folder and run by Python 3.12 in isolated mode without
site-packages, with nothing on sys.path but that folder, a folder holding boto3/botocore (what the
runtime provides) and the standard library, against the local stack.
"""

from __future__ import annotations

import json
import os
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import pytest

from test.build.helpers import ROOT, Built, function_folders

pytestmark = pytest.mark.build

FUNCTIONS = function_folders()
BOOTSTRAP = Path(__file__).with_name("lambda_bootstrap.py")
EVENTS = ROOT / "test" / "events"
# The fixture each function is invoked on; otherwise the first in test/events/<name>/, otherwise `{}`.
EVENT_FOR = {
    "error_source": "error_source/direct_invoke.json",
    "error_sink": "error_sink/kinesis_aggregated.json",
}
# migrate first: the others need the schema (the local stack applies it too; applying twice is a no-op).
ORDER = ["migrate", "error_source", "error_sink"]


def fixture_event(name: str) -> Path | None:
    if name in EVENT_FOR:
        return EVENTS / EVENT_FOR[name]
    found = sorted((EVENTS / name).glob("*.json"))
    return found[0] if found else None


def invoke_from_zip(
    zip_path: Path, handler: str, event_file: Path, *, python: str, runtime_dir: Path, env: dict[str, str], work: Path
) -> dict[str, Any]:
    task = work / "task"
    task.mkdir()
    with zipfile.ZipFile(zip_path) as zf:
        zf.extractall(task)
    result_file = work / "result.json"
    name = zip_path.stem
    child_env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "TZ": "UTC",
        "LAMBDA_TASK_ROOT": str(task),
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",
        "AWS_LAMBDA_FUNCTION_NAME": f"event-pipeline-local-{name}",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        **env,
    }
    proc = subprocess.run(
        [python, "-I", "-S", str(BOOTSTRAP), str(task), str(runtime_dir), handler, str(event_file), str(result_file)],
        cwd=task,
        env=child_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0 and result_file.exists(), f"bootstrap failed:\n{proc.stderr}"
    result: dict[str, Any] = json.loads(result_file.read_text(encoding="utf-8"))
    result["log"] = proc.stdout + proc.stderr
    return result


@pytest.mark.parametrize("name", sorted(FUNCTIONS, key=lambda n: (ORDER.index(n) if n in ORDER else len(ORDER), n)))
def test_zip_runs_alone_on_python312(
    built: Built,
    lambda_python: str,
    lambda_runtime_dir: Path,
    local_stack: Any,
    tmp_path: Path,
    name: str,
) -> None:
    # GIVEN the zip, unpacked alone, and a fixture event
    event_file = fixture_event(name)
    if event_file is None:
        event_file = tmp_path / "event.json"
        event_file.write_text("{}", encoding="utf-8")
    handler = built.manifests[name]["handler"]

    # WHEN Python 3.12 resolves the handler string like the runtime and invokes it against the local stack
    result = invoke_from_zip(
        built.zip(name),
        handler,
        event_file,
        python=lambda_python,
        runtime_dir=lambda_runtime_dir,
        env=dict(local_stack.env),
        work=tmp_path,
    )

    # THEN it ran on 3.12, from the unpacked zip only, and answered as the function should
    assert result["ok"], f"{handler} failed: {result.get('error')}\n{result.get('traceback')}\n{result['log']}"
    assert result["python"].startswith("3.12.")
    assert result["module_file"].startswith(str(tmp_path / "task")), result["module_file"]
    assert result["strays"] == {}, "modules imported from outside the zip and the runtime"
    response = result["response"]
    if name == "error_source":
        assert response["statusCode"] == 202, response
        assert response["accepted"], response
    elif name == "error_sink":
        assert response["batchItemFailures"] == [], response
    elif isinstance(response, dict) and "statusCode" in response:
        assert response["statusCode"] < 400, response
