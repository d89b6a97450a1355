"""The local stack's mappings (local/stack.py MAPPINGS) have Terraform's settings, so a local run behaves as
production will. Both come from pipeline.json: Terraform's values are read back from Terraform itself
(`terraform console` on local.event_source_mappings, with the variables' defaults), the local ones from
MAPPINGS, and they must agree on every setting except the overrides pipeline.json's "local" section names."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from local.esm import MappingConfig
from local.manifest import MAPPING_FIELDS
from local.stack import MANIFEST, MAPPINGS, ROOT, failure_queue

TERRAFORM_DIR = ROOT / "terraform"
MIRROR = Path(os.environ.get("TF_PLUGIN_MIRROR", "/opt/tf-plugins"))
# Terraform's name of each setting -> the emulator's MappingConfig field, and how Terraform's value reads there.
TF_TO_CONFIG = {
    "batch_size": ("batch_size", lambda v: v),
    "maximum_batching_window_in_seconds": ("window_s", lambda v: v),
    "parallelization_factor": ("parallelization", lambda v: v),
    "maximum_retry_attempts": ("max_retries", lambda v: v),
    "maximum_record_age_in_seconds": ("max_record_age_s", lambda v: v),
    "bisect_batch_on_function_error": ("bisect", lambda v: v),
    "report_batch_item_failures": ("report_item_failures", lambda v: v),
    "tumbling_window_in_seconds": ("tumbling_window_s", lambda v: v or 0),
    "starting_position": ("starting_position", lambda v: v),
    "starting_position_timestamp": (
        "starting_timestamp",
        lambda v: None if v is None else datetime.fromisoformat(v.replace("Z", "+00:00")).timestamp(),
    ),
}
OVERRIDES = MANIFEST["local"]["mapping_overrides"]


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Evaluate Terraform expressions in terraform/ (the variables at their defaults), as JSON."""
    binary = shutil.which("terraform")
    if binary is None:
        pytest.skip("terraform is not on PATH: the values cannot be read back from Terraform")
    work = tmp_path_factory.mktemp("tf-console")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TF_VAR_"))}
    env.update(CHECKPOINT_DISABLE="1", TF_IN_AUTOMATION="1", TF_INPUT="0", TF_DATA_DIR=str(work / "data"))
    if MIRROR.is_dir():
        config = work / "mirror.tfrc"
        config.write_text(
            f'provider_installation {{\n  filesystem_mirror {{\n    path = "{MIRROR}"\n'
            '    include = ["registry.terraform.io/hashicorp/*"]\n  }\n'
            '  direct {\n    exclude = ["registry.terraform.io/hashicorp/*"]\n  }\n}\n'
        )
        env["TF_CLI_CONFIG_FILE"] = str(config)
    run = [binary, f"-chdir={TERRAFORM_DIR}"]
    init = subprocess.run(
        [*run, "init", "-backend=false", "-input=false", "-no-color", "-lockfile=readonly"],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    if init.returncode != 0:
        pytest.skip(f"terraform init failed (no provider mirror or network?):\n{init.stderr[-2000:]}")

    def evaluate(expression: str) -> Any:
        proc = subprocess.run(
            [*run, "console", "-no-color", f"-state={work / 'none.tfstate'}"],
            input=f"jsonencode({expression})\n", env=env, capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        assert proc.returncode == 0, f"terraform console failed on {expression}:\n{proc.stderr[-4000:]}"
        return json.loads(json.loads(proc.stdout.strip()))

    return evaluate


@pytest.fixture(scope="module")
def terraform_mappings(console: Any) -> dict[str, dict[str, Any]]:
    """local.event_source_mappings as Terraform computes it, by function:stream."""
    return {f"{m['function']}:{m['stream']}": m for m in console("local.event_source_mappings").values()}


def disagreements(terraform: dict[str, Any], config: MappingConfig, overrides: dict[str, Any]) -> list[str]:
    """Every setting where the local mapping differs from Terraform's, unless an override names it (then the local
    value must be the override's)."""
    out = []
    for tf_name, (name, convert) in TF_TO_CONFIG.items():
        actual = getattr(config, name)
        if tf_name in overrides:
            expected, why = overrides[tf_name]["value"], "the local override"
        else:
            expected, why = convert(terraform[tf_name]), f"Terraform's {tf_name}"
        if actual != expected:
            out.append(f"{terraform['function']}: {name} is {actual!r}, {why} is {expected!r}")
    return out


def test_every_terraform_mapping_runs_locally_and_no_other(terraform_mappings: dict[str, Any]) -> None:
    """Terraform's event_source_mappings and the local MAPPINGS are the same (function, stream) pairs."""
    assert set(terraform_mappings) == {f"{f}:{s}" for f, s, _ in MAPPINGS}


def test_local_mappings_have_terraforms_settings(terraform_mappings: dict[str, Any]) -> None:
    """Every setting of every mapping agrees, except the overrides named in pipeline.json's local section."""
    assert set(TF_TO_CONFIG) == set(MAPPING_FIELDS) - {"function", "stream"}, "a mapping setting is not compared"
    problems = [
        p for f, s, config in MAPPINGS for p in disagreements(terraform_mappings[f"{f}:{s}"], config, OVERRIDES)
    ]
    assert problems == []


def test_a_local_value_terraform_does_not_have_is_found(terraform_mappings: dict[str, Any]) -> None:
    """A guard for the comparison itself: a changed setting, or an override not applied, is reported."""
    function, stream, config = MAPPINGS[0]
    terraform = terraform_mappings[f"{function}:{stream}"]
    assert disagreements(terraform, replace(config, batch_size=config.batch_size + 1), OVERRIDES)
    assert disagreements(terraform, replace(config, bisect=not config.bisect), OVERRIDES)
    unapplied = replace(config, window_s=terraform["maximum_batching_window_in_seconds"])
    assert disagreements(terraform, unapplied, OVERRIDES)


def test_the_local_record_age_is_the_stage_variables_default(terraform_mappings: dict[str, Any], console: Any) -> None:
    """A null record age in pipeline.json is the stage's var.maximum_record_age_in_seconds; the local override is
    that variable's default, so the local stack retries as long as a stage that keeps the default."""
    default = console("var.maximum_record_age_in_seconds")
    assert OVERRIDES["maximum_record_age_in_seconds"]["value"] == default
    for key, m in MANIFEST["mappings"].items():
        if m["maximum_record_age_in_seconds"] is None:
            assert terraform_mappings[f"{m['function']}:{m['stream']}"]["maximum_record_age_in_seconds"] == default, key


def test_the_outage_settings_retry_until_the_record_age_within_retention(
    terraform_mappings: dict[str, Any], console: Any
) -> None:
    """Outages: unlimited retries bounded by the maximum record age, itself within the stream's retention."""
    retention_hours = console("var.stream_retention_hours")
    for values in terraform_mappings.values():
        assert values["maximum_retry_attempts"] == -1
        assert 60 <= values["maximum_record_age_in_seconds"] <= retention_hours * 3600


def test_every_local_mapping_fails_over_to_its_local_queue() -> None:
    """The on-failure override: each mapping's destination is its own local SQS queue, which `up` creates."""
    for function, stream, config in MAPPINGS:
        assert config.destination is not None and config.destination.endswith(f":{failure_queue(function, stream)}")


def test_terraform_takes_the_topology_from_pipeline_json_only() -> None:
    """No second copy: main.tf reads pipeline.json and holds no function or mapping settings of its own, and the
    function module passes every mapping setting through."""
    main = (TERRAFORM_DIR / "main.tf").read_text()
    assert 'jsondecode(file("${path.module}/../pipeline.json"))' in main
    for setting in [*MAPPING_FIELDS, "memory_size", "description"]:
        assert not re.search(rf"^\s*{setting}\s*=\s*[-\d\"]", main, re.M), f"main.tf sets {setting} itself"
    module = (TERRAFORM_DIR / "modules" / "function" / "main.tf").read_text()
    assert "bisect_batch_on_function_error = each.value.bisect_batch_on_function_error" in module
    assert "function_response_types        = each.value.function_response_types" in module
