"""`python -m local new consumer NAME` in a copy of the repository: the scaffolded consumer passes its generated
unit tests, is built by ./build.sh, is read by Terraform, and receives, through the local stack's event source
mapping, the events a producer puts on its stream. No other file is edited."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from test.build.helpers import copy_tree, run_build

NAME = "audit_sink"
PYTHON = sys.executable

# Run inside the copy: moto, the errors stream, five events through error_source, then the new consumer's mapping
# drained; its handler's EMF lines are on stdout.
END_TO_END = r"""
import contextlib, io, json, os, sys
from local.moto import MotoServer
from local.postgres import free_port
from local.stack import FUNCTIONS, MAPPINGS, STREAMS, load_handler, mapping_for

name = sys.argv[1]
assert name in FUNCTIONS and name in [f for f, _, _ in MAPPINGS], "the local stack does not know the new consumer"
server = MotoServer(free_port()).start()
try:
    os.environ.update(STAGE="local", AWS_REGION="us-east-1", AWS_DEFAULT_REGION="us-east-1",
                      AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test", AWS_ENDPOINT_URL=server.url,
                      STREAM_NAME="errors")
    import boto3
    kinesis = boto3.client("kinesis", endpoint_url=server.url)
    kinesis.create_stream(StreamName="errors", ShardCount=STREAMS["errors"])
    kinesis.get_waiter("stream_exists").wait(StreamName="errors", WaiterConfig={"Delay": 0.2, "MaxAttempts": 50})
    events = [{"source": "checkout-api", "level": level, "message": f"event {n}",
               "occurred_at": "2026-11-22T09:15:02Z", "context": {"n": n}}
              for n, level in enumerate(["ERROR", "ERROR", "WARNING", "CRITICAL", "INFO"])]
    answer = load_handler(FUNCTIONS["error_source"])({"events": events}, None)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        esm = mapping_for(name, kinesis)
        esm.drain()
    lines = [json.loads(l) for l in out.getvalue().splitlines() if l.startswith("{") and '"_aws"' in l]
    print(json.dumps({"answer": answer, "metrics": [l for l in lines if l.get("Service") == name],
                      "invocations": esm.invocations}))
finally:
    server.stop()
"""


def _run(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DATABASE_"))}
    env["PYTHONPATH"] = str(repo)
    proc = subprocess.run([PYTHON, *args], cwd=repo, env=env, capture_output=True, text=True, timeout=600)
    if check:
        assert proc.returncode == 0, f"{args} exited {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the tracked files with the consumer scaffolded into it."""
    root = copy_tree(tmp_path_factory.mktemp("new-consumer") / "repo")
    before = json.loads((root / "pipeline.json").read_text())
    _run(root, "-m", "local", "new", "consumer", NAME, "--stream", "errors")
    after = json.loads((root / "pipeline.json").read_text())
    assert NAME not in before["functions"] and after["functions"][NAME]["kind"] == "consumers"
    assert [m["function"] for m in after["mappings"].values()].count(NAME) == 1
    return root


def test_bad_names_are_refused_in_one_line(repo: Path) -> None:
    for args, message in [
        (["consumer", "Audit-Sink"], "invalid name 'Audit-Sink'"),
        (["consumer", "class"], "invalid name 'class'"),
        (["consumer", NAME], f"a function named '{NAME}' exists already"),
        (["consumer", "error_sink"], "a function named 'error_sink' exists already"),
        (["consumer", "other", "--stream", "nope"], "unknown stream 'nope'"),
        (["widget", "other"], "unknown kind 'widget'"),
    ]:
        proc = _run(repo, "-m", "local", "new", *args, check=False)
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.startswith(f"new: {message}") and proc.stderr.count("\n") == 1, proc.stderr


def test_its_generated_unit_tests_pass_and_the_manifest_agrees_with_the_folders(repo: Path) -> None:
    proc = _run(
        repo, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"test/unit/consumers/{NAME}", "test/unit/manifest"
    )
    assert " passed" in proc.stdout and "failed" not in proc.stdout


def test_build_all_builds_it(repo: Path, tmp_path: Path) -> None:
    listed = _run(repo, "tools/lambda_zip.py", "--root", str(repo), "--list").stdout.split()
    assert f"consumers/{NAME}" in listed
    run_build(NAME, "--no-docker", root=repo, env={"TARGET_DIR": str(tmp_path)})
    meta = json.loads((tmp_path / f"{NAME}.json").read_text())
    assert meta["handler"] == f"consumers.{NAME}.handler.handler"
    with zipfile.ZipFile(tmp_path / f"{NAME}.zip") as zf:
        assert {f"consumers/{NAME}/handler.py", f"consumers/{NAME}/transform.py", "shared/kinesis.py"} <= set(
            zf.namelist()
        )


def test_terraform_deploys_it_with_its_mapping(repo: Path, tmp_path: Path) -> None:
    binary = shutil.which("terraform")
    if binary is None:
        pytest.skip("terraform is not on PATH")
    mirror = Path(os.environ.get("TF_PLUGIN_MIRROR", "/opt/tf-plugins"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TF_VAR_"))}
    env.update(CHECKPOINT_DISABLE="1", TF_IN_AUTOMATION="1", TF_INPUT="0", TF_DATA_DIR=str(tmp_path / "data"))
    if mirror.is_dir():
        (tmp_path / "m.tfrc").write_text(
            f'provider_installation {{\n  filesystem_mirror {{\n    path = "{mirror}"\n'
            '    include = ["registry.terraform.io/hashicorp/*"]\n  }\n'
            '  direct {\n    exclude = ["registry.terraform.io/hashicorp/*"]\n  }\n}\n'
        )
        env["TF_CLI_CONFIG_FILE"] = str(tmp_path / "m.tfrc")
    chdir = f"-chdir={repo / 'terraform'}"
    init = subprocess.run(
        [binary, chdir, "init", "-backend=false", "-no-color", "-lockfile=readonly"],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    if init.returncode != 0:
        pytest.skip(f"terraform init failed (no provider mirror or network?): {init.stderr[-1000:]}")
    expression = f'jsonencode([local.functions.{NAME}.kind, [for m in values(local.event_source_mappings) : m.stream if m.function == "{NAME}"]])'  # noqa: E501
    proc = subprocess.run(
        [binary, chdir, "console", "-no-color", f"-state={tmp_path / 'none.tfstate'}"],
        input=expression + "\n", env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0 and "Error" not in proc.stderr, proc.stderr
    assert json.loads(json.loads(proc.stdout.strip())) == ["consumers", ["errors"]]


def test_events_put_on_the_stream_reach_its_handler_through_the_local_mapping(repo: Path) -> None:
    proc = _run(repo, "-c", END_TO_END, NAME)
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    answer = result["answer"]
    body = json.loads(answer["body"]) if "body" in answer else answer
    assert answer["statusCode"] == 202 and len(body["accepted"]) == 5, answer
    assert result["invocations"] >= 1
    metrics = result["metrics"]
    assert sum(m["RecordsIn"] for m in metrics) == 5
    assert sum(m.get("ERROR", 0) for m in metrics) == 2 and sum(m["Invalid"] for m in metrics) == 0
