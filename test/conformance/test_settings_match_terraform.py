"""The local stack's mappings (local/stack.py MAPPINGS) have Terraform's settings, so a local run
behaves as production will. Terraform's values are read from terraform/main.tf (the
event_source_mappings locals) and terraform/variables.tf (defaults of the variables they use)."""

from __future__ import annotations

import re

from local.stack import MAPPINGS, ROOT

# Local-only differences, each named as an override in local/stack.py.
OVERRIDES = {"window_s"}
TF_TO_CONFIG = {
    "batch_size": "batch_size",
    "maximum_batching_window_in_seconds": "window_s",
    "parallelization_factor": "parallelization",
    "maximum_retry_attempts": "max_retries",
    "maximum_record_age_in_seconds": "max_record_age_s",
    "tumbling_window_in_seconds": "tumbling_window_s",
}


def _variable_default(name: str) -> int:
    text = (ROOT / "terraform" / "variables.tf").read_text()
    block = re.search(rf'variable "{name}" \{{(.*?)\n\}}', text, re.S)
    assert block, f"variable {name} not in terraform/variables.tf"
    default = re.search(r"^\s*default\s*=\s*(-?\d+)", block.group(1), re.M)
    assert default, f"variable {name} has no numeric default"
    return int(default.group(1))


def _terraform_mappings() -> dict[str, dict[str, object]]:
    text = (ROOT / "terraform" / "main.tf").read_text()
    body = re.search(r"event_source_mappings = \{(.*?)\n  \}\n", text, re.S)
    assert body, "event_source_mappings not found in terraform/main.tf"
    out: dict[str, dict[str, object]] = {}
    for block in re.finditer(r"(\w+) = \{(.*?)\n    \}", body.group(1), re.S):
        fields = dict(re.findall(r"^\s*(\w+)\s*=\s*(.+?)\s*$", block.group(2), re.M))
        values: dict[str, object] = {}
        for key, raw in fields.items():
            if raw.startswith("var."):
                values[key] = _variable_default(raw[4:])
            elif raw == "null":
                values[key] = None
            elif re.fullmatch(r"-?\d+", raw):
                values[key] = int(raw)
            else:
                values[key] = raw.strip('"')
        out[f"{values['function']}:{values['stream']}"] = values
    return out


def _module_constants() -> dict[str, object]:
    text = (ROOT / "terraform" / "modules" / "function" / "main.tf").read_text()
    mapping = re.search(r'resource "aws_lambda_event_source_mapping" "this" \{(.*?)\n\}', text, re.S)
    assert mapping
    body = mapping.group(1)
    return {
        "bisect": "bisect_batch_on_function_error = true" in body,
        "report_item_failures": '"ReportBatchItemFailures"' in body,
        "destination": "on_failure {" in body,
    }


def test_every_terraform_mapping_runs_locally_and_no_other():
    """Terraform's event_source_mappings and the local MAPPINGS are the same (function, stream) pairs."""
    assert set(_terraform_mappings()) == {f"{f}:{s}" for f, s, _ in MAPPINGS}


def test_local_mappings_have_terraforms_settings():
    """Every setting of every mapping agrees, except the overrides named in local/stack.py."""
    terraform, constants = _terraform_mappings(), _module_constants()
    for function, stream, config in MAPPINGS:
        tf = terraform[f"{function}:{stream}"]
        for tf_name, name in TF_TO_CONFIG.items():
            if name in OVERRIDES:
                continue
            expected = tf[tf_name] if tf[tf_name] is not None else 0
            actual = getattr(config, name)
            assert actual == expected, f"{function}: {name} is {actual}, Terraform's {tf_name} is {expected}"
        assert config.bisect is constants["bisect"] is True, function
        assert config.report_item_failures is constants["report_item_failures"] is True, function
        assert constants["destination"] and config.destination, f"{function}: no on-failure destination"


def test_the_outage_settings_retry_until_the_record_age_within_retention():
    """Outages: unlimited retries bounded by the maximum record age, itself within the stream's retention."""
    age = _variable_default("maximum_record_age_in_seconds")
    retention_hours = _variable_default("stream_retention_hours")
    assert 60 <= age <= retention_hours * 3600
    for values in _terraform_mappings().values():
        assert values["maximum_retry_attempts"] == -1
        assert values["maximum_record_age_in_seconds"] == age


def test_the_parser_reads_what_main_tf_says():
    """A guard for the test itself: the parsed values are the ones written in terraform/main.tf."""
    sink = _terraform_mappings()["error_sink:errors"]
    assert sink["batch_size"] == 100 and sink["parallelization_factor"] == 2
    assert _terraform_mappings()["error_alert:errors"]["tumbling_window_in_seconds"] == 60
