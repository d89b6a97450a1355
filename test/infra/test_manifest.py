"""Terraform reads the topology from pipeline.json through modules/manifest: a field missing or mistyped, a
reference to nothing, or a Terraform-computed value the manifest does not declare fails with a message naming it.
Each case runs on a copy of terraform/ and pipeline.json, so the repository is never written to."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Callable
from typing import Any

import pytest

from test.infra.helpers import ROOT, TERRAFORM_DIR

pytestmark = [pytest.mark.infra]
MANIFEST = json.loads((ROOT / "pipeline.json").read_text())
MAPPING = "error_alert_errors"
MAPPING_FIELDS = sorted(MANIFEST["mappings"][MAPPING])
# The mapping fields whose null means something: the stage's record age, no window, no AT_TIMESTAMP start.
NULLABLE_MAPPING_FIELDS = {"maximum_record_age_in_seconds", "tumbling_window_in_seconds", "starting_position_timestamp"}


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
        (lambda m: m["functions"]["migrate"].update(database="maybe"), "a bool is required"),
        (
            lambda m: m["mappings"]["error_alert_errors"].update(function="nope"),
            'every mapping\'s function and stream must be entries of "functions" and "streams": '
            "error_alert_errors (function nope, stream errors)",
        ),
        (lambda m: m["functions"]["migrate"].update(timeout=None), "function migrate: timeout must not be null"),
        (
            lambda m: m["mappings"].update(second=dict(m["mappings"]["error_sink_errors"])),
            "one mapping at most: error_sink_errors (error_sink:errors), second (error_sink:errors)",
        ),
        (lambda m: m["functions"]["migrate"].update(kind="tools"), 'kind must be one of its "kinds"'),
    ],
)
def test_a_bad_manifest_fails_validate_naming_the_problem(copy: Any, edit: Any, message: str) -> None:
    proc = copy(edit)("validate", "-no-color")
    assert proc.returncode != 0
    assert message in _flat(proc.stderr), proc.stderr


# A sample of the fields (each case is a terraform run): the references, a setting, one whose null is allowed.
@pytest.mark.parametrize(
    "field", ["function", "stream", "batch_size", "starting_position", "tumbling_window_in_seconds"]
)
def test_a_mapping_without_a_field_fails_validate_naming_the_mapping_and_field(copy: Any, field: str) -> None:
    """Every mapping field is required, the nullable ones too: none has a default to fall back to."""
    proc = copy(lambda m: m["mappings"][MAPPING].pop(field))("validate", "-no-color")
    assert proc.returncode != 0
    expected = f'attribute "mappings": element "{MAPPING}": attribute "{field}" is required'
    assert expected in _flat(proc.stderr), proc.stderr


def test_mapping_fields_set_to_null_fail_validate_naming_each(copy: Any) -> None:
    """A JSON null passes the type check (it converts to any type); the manifest refuses it, for every field whose
    null means nothing, rather than let the provider put its default in its place."""
    refused = sorted(set(MAPPING_FIELDS) - NULLABLE_MAPPING_FIELDS)
    proc = copy(lambda m: m["mappings"][MAPPING].update(dict.fromkeys(refused)))("validate", "-no-color")
    assert proc.returncode != 0
    message = _flat(proc.stderr)
    assert ", ".join(f"mapping {MAPPING}: {field}" for field in refused) + " must not be null" in message, message


def test_the_nullable_mapping_fields_may_be_null(copy: Any) -> None:
    proc = copy(lambda m: m["mappings"][MAPPING].update(dict.fromkeys(NULLABLE_MAPPING_FIELDS)))(
        "validate", "-no-color"
    )
    assert proc.returncode == 0, proc.stderr


def test_no_mapping_setting_has_a_default_in_terraform() -> None:
    """The settings come from pipeline.json only: the manifest and main.tf neither try() nor lookup() them, and
    modules/function's event_sources gives none of them a default (optional()) to fall back to."""
    for path in [TERRAFORM_DIR / "main.tf", *sorted((TERRAFORM_DIR / "modules" / "manifest").glob("*.tf"))]:
        code = "\n".join(line.split("#")[0] for line in path.read_text().splitlines())
        assert "try(" not in code and "can(" not in code, f"{path.relative_to(ROOT)} defaults a value with try()/can()"
    manifest_outputs = (TERRAFORM_DIR / "modules" / "manifest" / "outputs.tf").read_text()
    assert "lookup(m" not in manifest_outputs and "lookup(f" not in manifest_outputs

    variables = (TERRAFORM_DIR / "modules" / "function" / "variables.tf").read_text()
    block = variables[variables.index('variable "event_sources"') :]
    block = block[: block.index("\n}\n")]
    settings = (set(MAPPING_FIELDS) - {"function", "report_batch_item_failures"}) | {"function_response_types"}
    for setting in settings:
        assert re.search(rf"^\s*{setting}\s*=\s*(?:string|number|bool|list\(string\))(?:\s|$)", block, re.M), (
            f"modules/function's event_sources: {setting} is not a required attribute"
        )


def test_a_terraform_value_the_manifest_does_not_declare_fails_the_plan(copy: Any) -> None:
    """ALERT_THRESHOLD is computed in main.tf (var.alert_threshold): pipeline.json must list it for error_alert."""
    run = copy(lambda m: m["functions"]["error_alert"].update(terraform_environment=[]))
    proc = run("console", "-no-color", stdin="module.manifest.functions\n")  # console exits 0 either way
    assert "must list exactly the names local.terraform_environment" in _flat(proc.stderr), proc.stderr
