"""Terraform reads the topology from pipeline.json through modules/manifest: a field missing or mistyped, a
reference to nothing, or a Terraform-computed value the manifest does not declare fails with a message naming it.
Each case runs on a copy of terraform/ and pipeline.json, so the repository is never written to."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from typing import Any

import pytest

from test.infra.helpers import ROOT, TERRAFORM_DIR

pytestmark = [pytest.mark.infra]
MANIFEST = json.loads((ROOT / "pipeline.json").read_text())


@pytest.fixture(scope="module")
def copy(terraform_bin: str, tf_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A copy of terraform/ beside a pipeline.json of the test's own, initialised once; returns a runner."""
    root = tmp_path_factory.mktemp("manifest-copy")
    shutil.copytree(TERRAFORM_DIR, root / "terraform", ignore=shutil.ignore_patterns(".terraform", "*.tfstate*"))
    env = dict(tf_env, TF_DATA_DIR=str(root / "data"))

    def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [terraform_bin, f"-chdir={root / 'terraform'}", *args],
            input=stdin, env=env, capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip

    (root / "pipeline.json").write_text(json.dumps(MANIFEST))
    init = run("init", "-backend=false", "-input=false", "-no-color", "-lockfile=readonly")
    assert init.returncode == 0, init.stderr

    def with_manifest(edit: Callable[[dict[str, Any]], None]) -> Callable[..., subprocess.CompletedProcess[str]]:
        data = json.loads(json.dumps(MANIFEST))
        edit(data)
        (root / "pipeline.json").write_text(json.dumps(data))
        return run

    return with_manifest


def _flat(text: str) -> str:
    return " ".join(text.split())


def test_the_manifest_as_committed_is_valid(copy: Any) -> None:
    proc = copy(lambda m: None)("validate", "-no-color")
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda m: m["functions"]["error_sink"].pop("timeout"),
            'element "error_sink": attribute "timeout" is required',
        ),
        (
            lambda m: m["mappings"]["error_alert_errors"].pop("bisect_batch_on_function_error"),
            'attribute "bisect_batch_on_function_error" is required',
        ),
        (lambda m: m["functions"]["migrate"].update(database="maybe"), "a bool is required"),
        (
            lambda m: m["mappings"]["error_alert_errors"].update(function="nope"),
            "every mapping's function and stream must be entries",
        ),
        (lambda m: m["functions"]["migrate"].update(kind="tools"), 'kind must be one of its "kinds"'),
    ],
)
def test_a_bad_manifest_fails_validate_naming_the_problem(copy: Any, edit: Any, message: str) -> None:
    proc = copy(edit)("validate", "-no-color")
    assert proc.returncode != 0
    assert message in _flat(proc.stderr), proc.stderr


def test_a_terraform_value_the_manifest_does_not_declare_fails_the_plan(copy: Any) -> None:
    """ALERT_THRESHOLD is computed in main.tf (var.alert_threshold): pipeline.json must list it for error_alert."""
    run = copy(lambda m: m["functions"]["error_alert"].update(terraform_environment=[]))
    proc = run("console", "-no-color", stdin="module.manifest.functions\n")  # console exits 0 either way
    assert "must list exactly the names local.terraform_environment" in _flat(proc.stderr), proc.stderr
