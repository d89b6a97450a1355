"""Terraform: the local rehearsal against a moto server, checkov, and the stage tfvars.

The rehearsal applies the real root module (QA settings plus environments/local.tfvars)
to a moto server of its own, checks the result with boto3, re-plans expecting no
changes, and destroys. Terraform's data dir, state and plans live in a temp folder,
so the repository is never written to.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from test.infra.helpers import REGION, ROOT, TERRAFORM_DIR

# The rehearsal's first test carries plan and apply, its last the destroy: allow for them.
pytestmark = [pytest.mark.infra, pytest.mark.timeout(900)]

TARGET_DIR = ROOT / "target"
ENVIRONMENTS = TERRAFORM_DIR / "environments"
QA_TFVARS = ENVIRONMENTS / "qa.tfvars"
LOCAL_TFVARS = ENVIRONMENTS / "local.tfvars"
STAGE = "qa"

# Only these checks may fail with the QA settings: the deliberate QA relaxations
# (log retention under a year, single-AZ database, no deletion protection).
QA_RELAXATIONS = {"CKV_AWS_338", "CKV_AWS_157", "CKV_AWS_293"}


# ---------------------------------------------------------------------------
# Terraform runner
# ---------------------------------------------------------------------------


@dataclass
class Terraform:
    """Runs terraform in terraform/ with the test's environment, recording how long each step took."""

    binary: str
    env: dict[str, str]
    work: Path
    timings: dict[str, float] = field(default_factory=dict)

    def run(
        self, step: str, *args: str, ok: tuple[int, ...] = (0,), timeout: int = 600
    ) -> subprocess.CompletedProcess[str]:
        started = time.monotonic()
        proc = subprocess.run(
            [self.binary, f"-chdir={TERRAFORM_DIR}", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        self.timings[step] = self.timings.get(step, 0.0) + time.monotonic() - started
        if proc.returncode not in ok:
            pytest.fail(
                f"terraform {step} exited {proc.returncode}\n--- stdout ---\n{proc.stdout[-6000:]}"
                f"\n--- stderr ---\n{proc.stderr[-6000:]}",
                pytrace=False,
            )
        return proc

    def report(self) -> str:
        return ", ".join(f"{step} {seconds:.1f}s" for step, seconds in self.timings.items())


@pytest.fixture(scope="module")
def terraform(terraform_bin: str, tf_env: dict[str, str], tf_work: Path) -> Iterator[Terraform]:
    """An initialised working directory (providers from the local mirror when it exists)."""
    tf = Terraform(terraform_bin, tf_env, tf_work)
    # readonly: the committed lock file is used as is and never rewritten.
    tf.run("init", "init", "-input=false", "-no-color", "-lockfile=readonly")
    yield tf
    print(f"\nterraform timings: {tf.report()}")


# ---------------------------------------------------------------------------
# Function zips
# ---------------------------------------------------------------------------


def function_folders() -> dict[str, Path]:
    """Every function pipeline.json lists, by name (what ./build.sh --all builds and Terraform deploys)."""
    functions = json.loads((ROOT / "pipeline.json").read_text())["functions"]
    return {name: ROOT / f["kind"] / name for name, f in functions.items()}


def missing_artifacts(names: list[str]) -> list[str]:
    return [
        f"target/{name}{suffix}"
        for name in names
        for suffix in (".zip", ".json")
        if not (TARGET_DIR / f"{name}{suffix}").is_file()
    ]


def build_missing(names: list[str]) -> None:
    """Run ./build.sh --all when any zip or metadata file is missing (skip if there is no build.sh yet).

    Without the RDS CA bundle (no internet here to fetch it): these zips only ever reach a moto server.
    """
    if not missing_artifacts(names):
        return
    build = ROOT / "build.sh"
    if not build.is_file():
        pytest.skip(f"{', '.join(missing_artifacts(names))} missing and ./build.sh does not exist yet")
    proc = subprocess.run(
        ["bash", str(build), "--all", "--without-rds-ca"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if proc.returncode != 0:
        pytest.fail(f"./build.sh --all failed ({proc.returncode}):\n{proc.stderr[-4000:]}", pytrace=False)
    if still := missing_artifacts(names):
        pytest.fail(f"./build.sh --all did not produce {', '.join(still)}", pytrace=False)


@pytest.fixture(scope="module")
def artifacts(tf_work: Path) -> dict[str, dict[str, Any]]:
    """target/<name>.json of every function, with the zips copied into the work folder.

    Terraform hashes the zips at plan time and again at apply time; a rebuild of
    target/ in between (another test run) would make the apply fail, so the rehearsal
    deploys a private copy, checked against its metadata.
    """
    names = sorted(function_folders())
    if not names:
        pytest.skip("no function folders with a handler.py yet")
    build_missing(names)
    copy = tf_work / "artifacts"
    copy.mkdir(exist_ok=True)
    metadata: dict[str, dict[str, Any]] = {}
    for name in names:
        for _attempt in range(5):
            meta = json.loads((TARGET_DIR / f"{name}.json").read_text())
            shutil.copyfile(TARGET_DIR / f"{name}.zip", copy / f"{name}.zip")
            if hashlib.sha256((copy / f"{name}.zip").read_bytes()).hexdigest() == sha256_hex(meta):
                break
            time.sleep(1)  # caught a rebuild between the two files
        else:
            pytest.fail(f"target/{name}.zip does not match the sha256 in target/{name}.json", pytrace=False)
        metadata[name] = meta
    return metadata


def sha256_hex(metadata: dict[str, Any]) -> str:
    digest = str(metadata["sha256"])
    if re.fullmatch(r"[0-9a-fA-F]{64}", digest):
        return digest.lower()
    return base64.b64decode(digest).hex()


def lambda_code_sha256(metadata: dict[str, Any]) -> str:
    """The zip's SHA-256 as Lambda reports it (base64); build metadata may carry hex or base64."""
    return base64.b64encode(bytes.fromhex(sha256_hex(metadata))).decode()


# ---------------------------------------------------------------------------
# The rehearsal: plan, apply, (checks), destroy
# ---------------------------------------------------------------------------


@dataclass
class Rehearsal:
    terraform: Terraform
    endpoint: str
    outputs: dict[str, Any]
    plan_args: list[str]

    def client(self, service: str) -> Any:
        import boto3

        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )


@pytest.fixture(scope="module")
def rehearsal(terraform: Terraform, moto_endpoint: str, artifacts: dict[str, dict[str, Any]]) -> Iterator[Rehearsal]:
    """The root module planned and applied to moto; destroyed (and checked gone) afterwards."""
    state = terraform.work / "terraform.tfstate"
    plan = terraform.work / "apply.tfplan"
    common = [f"-state={state}", "-input=false", "-no-color", "-parallelism=20"]
    plan_args = [
        f"-var-file={QA_TFVARS}",
        f"-var-file={LOCAL_TFVARS}",
        f"-var=aws_endpoint_url={moto_endpoint}",
        f"-var=artifacts_dir={terraform.work / 'artifacts'}",
        *common,
    ]
    terraform.run("plan", "plan", *plan_args, f"-out={plan}")
    try:
        terraform.run("apply", "apply", *common, str(plan))
        outputs = json.loads(terraform.run("output", "output", f"-state={state}", "-json").stdout)
        yield Rehearsal(terraform, moto_endpoint, {k: v["value"] for k, v in outputs.items()}, plan_args)
    finally:
        terraform.run("destroy", "destroy", *plan_args, "-auto-approve")

    # Nothing of the stage is left behind.
    left = Rehearsal(terraform, moto_endpoint, {}, plan_args)
    functions = left.client("lambda").list_functions()["Functions"]
    assert [f["FunctionName"] for f in functions if f["FunctionName"].startswith(f"event-pipeline-{STAGE}-")] == []
    assert left.client("kinesis").list_streams()["StreamNames"] == []
    assert left.client("sns").list_topics()["Topics"] == []
    groups = left.client("logs").describe_log_groups()["logGroups"]
    assert [g["logGroupName"] for g in groups if g["logGroupName"] in local_log_subscriptions()] == []


# ---------------------------------------------------------------------------
# Static checks
# ---------------------------------------------------------------------------


def test_fmt_is_clean(terraform_bin: str, tf_env: dict[str, str]) -> None:
    proc = subprocess.run(
        [terraform_bin, f"-chdir={TERRAFORM_DIR}", "fmt", "-check", "-recursive", "-diff", "-no-color"],
        env=tf_env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, f"terraform fmt -recursive terraform would change:\n{proc.stdout}"


def test_validate_passes(terraform: Terraform) -> None:
    proc = terraform.run("validate", "validate", "-json", "-no-color", ok=(0, 1))
    result = json.loads(proc.stdout)
    assert result["valid"], json.dumps(result["diagnostics"], indent=2)
    assert result["warning_count"] == 0, json.dumps(result["diagnostics"], indent=2)


def tfvars_keys(path: Path) -> set[str]:
    """Top-level assignments of a tfvars file (names at the start of a line, before '=')."""
    return set(re.findall(r"^([A-Za-z_][A-Za-z0-9_-]*)\s*=", path.read_text(), flags=re.MULTILINE))


def tfvars_value(path: Path, key: str) -> str:
    """The value of a simple assignment (a string, number or bool, at any depth) in a tfvars file."""
    match = re.search(rf'^\s*{re.escape(key)}\s*=\s*"?([^"#\s]+)"?', path.read_text(), flags=re.MULTILINE)
    assert match, f"{path.name} does not set {key}"
    return match.group(1)


def local_log_subscriptions() -> set[str]:
    """Log group names subscribed in local.tfvars (the keys of log_subscriptions)."""
    block = re.search(r"^log_subscriptions\s*=\s*\{(.*?)^\}", LOCAL_TFVARS.read_text(), flags=re.MULTILINE | re.DOTALL)
    assert block, "local.tfvars does not set log_subscriptions: the subscription filter would not be rehearsed"
    return set(re.findall(r'^\s*"([^"]+)"\s*=\s*\{', block.group(1), flags=re.MULTILINE))


def test_qa_and_prod_tfvars_set_the_same_variables() -> None:
    qa, prod = tfvars_keys(ENVIRONMENTS / "qa.tfvars"), tfvars_keys(ENVIRONMENTS / "prod.tfvars")
    assert qa, "qa.tfvars sets nothing"
    assert qa == prod, f"only in qa: {sorted(qa - prod)}; only in prod: {sorted(prod - qa)}"


def test_the_database_ends_idle_transactions_and_dead_clients_as_the_functions_sessions_ask() -> None:
    """The server-side limits in the parameter group are the ones shared.db asks of every session it opens,
    so an orphaned transaction's locks go whoever opened it (a person's psql, a forgotten script)."""
    from shared.db import SESSION_OPTIONS

    text = (TERRAFORM_DIR / "modules" / "database" / "main.tf").read_text()
    group = text[text.index('resource "aws_db_parameter_group"') :]
    group = group[: group.index("\n}\n")]
    params = dict(re.findall(r'name\s*=\s*"([^"]+)"\s*\n\s*value\s*=\s*"([^"]+)"', group))
    client = dict(re.findall(r"-c (\w+)=(\d+)", SESSION_OPTIONS["options"]))
    assert params["idle_in_transaction_session_timeout"] == client["idle_in_transaction_session_timeout"]
    for name in ("idle", "interval", "count"):
        assert params[f"tcp_keepalives_{name}"] == str(SESSION_OPTIONS[f"keepalives_{name}"])


def test_tfvars_only_set_declared_variables() -> None:
    declared = set(re.findall(r'^variable\s+"([^"]+)"', (TERRAFORM_DIR / "variables.tf").read_text(), re.MULTILINE))
    for name in ("qa", "prod", "local"):
        unknown = tfvars_keys(ENVIRONMENTS / f"{name}.tfvars") - declared
        assert not unknown, f"{name}.tfvars sets undeclared variables {sorted(unknown)}"


# ---------------------------------------------------------------------------
# checkov
# ---------------------------------------------------------------------------


def find_checkov() -> str | None:
    """checkov from $CHECKOV, PATH, or the project's own venv under .cache/ (see terraform/README.md)."""
    for candidate in (
        os.environ.get("CHECKOV"),
        shutil.which("checkov"),
        str(ROOT / ".cache" / "checkov-venv" / "bin" / "checkov"),
    ):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


@pytest.fixture(scope="module")
def checkov() -> str:
    path = find_checkov()
    if path is None:
        pytest.skip(
            "checkov not found: set CHECKOV=/path/to/checkov or put it on PATH "
            "(python -m venv .cache/checkov-venv && .cache/checkov-venv/bin/pip install checkov)"
        )
    return path


@functools.cache
def run_checkov(checkov: str, var_file: Path | None) -> dict[str, Any]:
    """checkov's terraform results for terraform/, optionally with a tfvars file (once per run)."""
    args = [checkov, "-d", str(TERRAFORM_DIR), "--framework", "terraform", "--skip-download", "-o", "json"]
    if var_file is not None:
        args += ["--var-file", str(var_file)]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode in (0, 1), f"checkov crashed ({proc.returncode}):\n{proc.stderr[-4000:]}"
    report = json.loads(proc.stdout)
    if isinstance(report, list):  # one entry per framework
        report = next(r for r in report if r.get("check_type") == "terraform")
    return dict(report["results"]) | {"summary": report.get("summary", {})}


def describe(checks: list[dict[str, Any]]) -> str:
    return "\n".join(f"{c['check_id']} {c['resource']} ({c['file_path']}): {c['check_name']}" for c in checks)


@pytest.mark.slow
@pytest.mark.parametrize("tfvars", [None, "prod.tfvars"], ids=["defaults", "prod"])
def test_checkov_has_no_failed_checks(checkov: str, tfvars: str | None) -> None:
    results = run_checkov(checkov, ENVIRONMENTS / tfvars if tfvars else None)
    print(f"\ncheckov ({tfvars or 'defaults'}): {results['summary']}")
    assert results["failed_checks"] == [], describe(results["failed_checks"])
    assert results["passed_checks"], "checkov passed nothing: did it scan terraform/?"


@pytest.mark.slow
def test_checkov_qa_fails_only_on_intended_relaxations(checkov: str) -> None:
    results = run_checkov(checkov, QA_TFVARS)
    print(f"\ncheckov (qa): {results['summary']}")
    unexpected = [c for c in results["failed_checks"] if c["check_id"] not in QA_RELAXATIONS]
    assert unexpected == [], describe(unexpected)


@pytest.mark.slow
def test_every_checkov_skip_gives_a_reason(checkov: str) -> None:
    skip = re.compile(r"checkov:skip=([A-Z0-9_]+)(?::(.*))?")
    found = 0
    for path in sorted(TERRAFORM_DIR.rglob("*.tf")):
        if ".terraform" in path.parts:
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            for match in skip.finditer(line):
                found += 1
                where = f"{path.relative_to(ROOT)}:{number}"
                assert re.fullmatch(r"CKV2?_AWS_\d+", match.group(1)), f"{where}: unknown check id {match.group(1)}"
                assert (match.group(2) or "").strip(), f"{where}: skip of {match.group(1)} gives no reason"
                assert line.lstrip().startswith("#checkov:skip="), f"{where}: write skips as '#checkov:skip=ID:reason'"

    results = run_checkov(checkov, None)
    assert len({(c["check_id"], c["resource"]) for c in results["skipped_checks"]}) >= found > 0
    for check in results["skipped_checks"]:
        assert (check.get("check_result", {}).get("suppress_comment") or "").strip(), describe([check])


# ---------------------------------------------------------------------------
# The rehearsal's checks
# ---------------------------------------------------------------------------


@pytest.mark.slow
def test_streams_exist_encrypted(rehearsal: Rehearsal) -> None:
    kinesis = rehearsal.client("kinesis")
    assert rehearsal.outputs["stream_names"], "no streams"
    assert rehearsal.outputs["stream_names"]["errors"] == f"event-pipeline-{STAGE}-errors"
    for name in rehearsal.outputs["stream_names"].values():
        summary = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
        assert summary["StreamStatus"] == "ACTIVE"
        assert summary["EncryptionType"] == "KMS"
        assert summary["KeyId"] == rehearsal.outputs["kms_key_arn"]
        assert summary["StreamModeDetails"]["StreamMode"] == tfvars_value(QA_TFVARS, "stream_mode")
        assert summary["RetentionPeriodHours"] == int(tfvars_value(QA_TFVARS, "stream_retention_hours"))


@pytest.mark.slow
def test_functions_run_the_built_zips(rehearsal: Rehearsal, artifacts: dict[str, dict[str, Any]]) -> None:
    lam = rehearsal.client("lambda")
    deployed = rehearsal.outputs["function_names"]
    assert set(deployed) <= set(artifacts), f"functions without a zip: {sorted(set(deployed) - set(artifacts))}"
    expected = {"error_source", "log_source", "error_sink", "error_alert", "migrate", "read_table", "reset_table"}
    assert expected <= set(deployed)
    for name, function_name in deployed.items():
        assert function_name == f"event-pipeline-{STAGE}-{name}"
        config = lam.get_function(FunctionName=function_name)["Configuration"]
        meta = artifacts[name]
        assert config["CodeSha256"] == lambda_code_sha256(meta), f"{name}: deployed code is not target/{name}.zip"
        assert config["Handler"] == meta["handler"]
        assert config["Runtime"] == meta["runtime"]
        assert config["Architectures"] == [meta["architecture"]]
        assert config["Environment"]["Variables"]["STAGE"] == STAGE
        assert config["KMSKeyArn"] == rehearsal.outputs["kms_key_arn"]
        assert config["TracingConfig"]["Mode"] == "Active"


@pytest.mark.slow
def test_functions_are_wired_to_streams_and_vpc(rehearsal: Rehearsal) -> None:
    lam = rehearsal.client("lambda")
    names = rehearsal.outputs["function_names"]
    source = lam.get_function(FunctionName=names["error_source"])
    assert source["Configuration"]["Environment"]["Variables"]["STREAM_NAME"] == f"event-pipeline-{STAGE}-errors"
    assert not source["Configuration"].get("VpcConfig", {}).get("SubnetIds")
    reserved = int(tfvars_value(QA_TFVARS, "error_source"))  # in reserved_concurrency
    assert source["Concurrency"]["ReservedConcurrentExecutions"] == reserved
    assert "error_source" in rehearsal.outputs["function_urls"]
    assert lam.get_function_url_config(FunctionName=names["error_source"])["AuthType"] == "AWS_IAM"
    for name in ("error_sink", "migrate", "read_table", "reset_table"):
        vpc = lam.get_function(FunctionName=names[name])["Configuration"]["VpcConfig"]
        assert len(vpc["SubnetIds"]) >= 2, f"{name} is not in the private subnets"
        assert vpc["SecurityGroupIds"], f"{name} has no security group"
    shards = int(tfvars_value(QA_TFVARS, "stream_shard_count"))  # qa's stream is PROVISIONED
    # A stream consumer's reserved concurrency is shards x parallelization factor (connections.tf).
    expected = {"log_source": int(tfvars_value(QA_TFVARS, "log_source")), "error_alert": shards * 1}
    for name in ("log_source", "error_alert"):  # no database: outside the VPC, like error_source
        config = lam.get_function(FunctionName=names[name])
        assert not config["Configuration"].get("VpcConfig", {}).get("SubnetIds"), f"{name} should not be in the VPC"
        assert config["Concurrency"]["ReservedConcurrentExecutions"] == expected[name]
    sink = lam.get_function(FunctionName=names["error_sink"])
    assert sink["Concurrency"]["ReservedConcurrentExecutions"] == shards * 2


def environment(rehearsal: Rehearsal, name: str) -> dict[str, str]:
    """A deployed function's environment variables, by short name."""
    function_name = rehearsal.outputs["function_names"][name]
    config = rehearsal.client("lambda").get_function(FunctionName=function_name)["Configuration"]
    return dict(config["Environment"]["Variables"])


@pytest.mark.slow
def test_log_source_writes_to_the_errors_stream(rehearsal: Rehearsal) -> None:
    assert environment(rehearsal, "log_source") == {"STAGE": STAGE, "STREAM_NAME": f"event-pipeline-{STAGE}-errors"}


@pytest.mark.slow
def test_error_alert_publishes_to_an_encrypted_fifo_topic(rehearsal: Rehearsal) -> None:
    topic = rehearsal.outputs["topic_arns"]["alerts"]
    assert topic.endswith(f":event-pipeline-{STAGE}-alerts.fifo")  # the handler sends dedup ids to .fifo topics
    assert environment(rehearsal, "error_alert") == {
        "STAGE": STAGE,
        "ALERT_TOPIC_ARN": topic,
        "ALERT_THRESHOLD": tfvars_value(QA_TFVARS, "alert_threshold"),
    }
    attributes = rehearsal.client("sns").get_topic_attributes(TopicArn=topic)["Attributes"]
    assert attributes["FifoTopic"] == "true"
    assert attributes["ContentBasedDeduplication"] == "false"  # only the handler's MessageDeduplicationId counts
    assert attributes["KmsMasterKeyId"] == rehearsal.outputs["kms_key_arn"]


@pytest.mark.slow
def test_two_readers_of_the_errors_stream_each_with_their_own_settings(rehearsal: Rehearsal) -> None:
    lam = rehearsal.client("lambda")
    names, errors = rehearsal.outputs["function_names"], rehearsal.outputs["stream_arns"]["errors"]
    readers = {
        m["FunctionArn"].rsplit(":", 1)[1]: m
        for m in lam.list_event_source_mappings(EventSourceArn=errors)["EventSourceMappings"]
    }
    assert set(readers) == {names["error_sink"], names["error_alert"]}
    sink, alert = readers[names["error_sink"]], readers[names["error_alert"]]
    assert sink["UUID"] != alert["UUID"]  # a checkpoint each
    assert sink["DestinationConfig"] != alert["DestinationConfig"]  # an on-failure queue each
    assert not sink.get("TumblingWindowInSeconds")
    assert alert["TumblingWindowInSeconds"] == 60
    assert alert["ParallelizationFactor"] == 1  # one window state per shard
    # The reliability settings, for the windowed reader too.
    assert alert["BisectBatchOnFunctionError"] is True
    assert alert["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert alert["MaximumRetryAttempts"] == -1  # retried until MaximumRecordAgeInSeconds
    assert alert["MaximumRecordAgeInSeconds"] == 21600
    assert alert["DestinationConfig"]["OnFailure"]["Destination"].endswith(
        f":event-pipeline-{STAGE}-error_alert-errors-failures"
    )


@pytest.mark.slow
def test_log_groups_are_subscribed_to_log_source(rehearsal: Rehearsal) -> None:
    logs, lam = rehearsal.client("logs"), rehearsal.client("lambda")
    function_name = rehearsal.outputs["function_names"]["log_source"]
    function_arn = rehearsal.outputs["function_arns"]["log_source"]
    groups = local_log_subscriptions()
    assert groups and set(rehearsal.outputs["log_subscription_filters"]) == groups
    statements = json.loads(lam.get_policy(FunctionName=function_name)["Policy"])["Statement"]
    for group in groups:
        filters = logs.describe_subscription_filters(logGroupName=group)["subscriptionFilters"]
        assert [(f["filterName"], f["destinationArn"]) for f in filters] == [
            (f"event-pipeline-{STAGE}-log_source", function_arn)
        ]
        assert filters[0]["filterPattern"] == "?ERROR ?WARN ?CRITICAL"
        # CloudWatch Logs may invoke log_source for this group only.
        group_arn = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"][0]["logGroupArn"]
        allowed = [s for s in statements if s["Condition"]["ArnLike"]["AWS:SourceArn"] == f"{group_arn}:*"]
        assert len(allowed) == 1, statements
        assert allowed[0]["Principal"] == {"Service": "logs.amazonaws.com"}
        assert allowed[0]["Action"] == "lambda:InvokeFunction"
        assert allowed[0]["Condition"]["StringEquals"]["AWS:SourceAccount"] == group_arn.split(":")[4]
    assert len(statements) == len(groups)  # nothing else may invoke it


@pytest.mark.slow
def test_log_source_failed_deliveries_go_to_an_encrypted_queue(rehearsal: Rehearsal) -> None:
    # CloudWatch Logs invokes asynchronously: after Lambda's retries a delivery would be dropped.
    lam, sqs = rehearsal.client("lambda"), rehearsal.client("sqs")
    config = lam.get_function_event_invoke_config(FunctionName=rehearsal.outputs["function_names"]["log_source"])
    assert config["MaximumRetryAttempts"] == 2
    assert config["MaximumEventAgeInSeconds"] == 21600
    assert config["DestinationConfig"]["OnFailure"]["Destination"] == queue_arn(rehearsal, "log_source-async")
    queue_url = rehearsal.outputs["on_failure_queue_urls"]["log_source-async"]
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["KmsMasterKeyId"])["Attributes"]
    assert attributes["KmsMasterKeyId"] == rehearsal.outputs["kms_key_arn"]


@pytest.mark.slow
def test_every_event_source_mapping_is_reliable(rehearsal: Rehearsal) -> None:
    lam, sqs = rehearsal.client("lambda"), rehearsal.client("sqs")
    mappings = lam.list_event_source_mappings()["EventSourceMappings"]
    assert len(mappings) == len(rehearsal.outputs["event_source_mapping_uuids"]) >= 1
    for mapping in mappings:
        where = f"{mapping['FunctionArn']} <- {mapping['EventSourceArn']}"
        assert mapping["BisectBatchOnFunctionError"] is True, where
        assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"], where
        assert mapping["MaximumRetryAttempts"] == -1, where  # an outage is retried until the records age out
        assert 60 <= mapping["MaximumRecordAgeInSeconds"] <= 604800, where
        assert mapping["StartingPosition"] == "TRIM_HORIZON", where
        assert mapping["ParallelizationFactor"] >= 1, where
        assert mapping["MaximumBatchingWindowInSeconds"] >= 0, where
        destination = mapping["DestinationConfig"]["OnFailure"]["Destination"]
        assert destination.startswith("arn:aws:sqs:"), where
        attributes = sqs.get_queue_attributes(
            QueueUrl=sqs.get_queue_url(QueueName=destination.rsplit(":", 1)[1])["QueueUrl"],
            AttributeNames=["KmsMasterKeyId"],
        )["Attributes"]
        assert attributes["KmsMasterKeyId"] == rehearsal.outputs["kms_key_arn"], where


def as_list(value: str | list[str]) -> list[str]:
    return value if isinstance(value, list) else [value]


def role_grants(rehearsal: Rehearsal, name: str) -> dict[str, set[str]]:
    """What a function's least-privilege policy allows: action => resources."""
    role = rehearsal.outputs["function_names"][name]
    document = rehearsal.client("iam").get_role_policy(RoleName=role, PolicyName="least-privilege")["PolicyDocument"]
    if isinstance(document, str):
        document = json.loads(document)
    grants: dict[str, set[str]] = {}
    for statement in document["Statement"]:
        assert statement["Effect"] == "Allow", f"{name}: {statement}"
        for action in as_list(statement["Action"]):
            grants.setdefault(action, set()).update(as_list(statement["Resource"]))
    return grants


@pytest.mark.slow
def test_roles_grant_no_wildcard_resources(rehearsal: Rehearsal) -> None:
    for name in rehearsal.outputs["function_names"]:
        for action, resources in role_grants(rehearsal, name).items():
            if "*" in resources:
                assert action.startswith("xray:"), f"{name}: {action} on *"

    writes = role_grants(rehearsal, "error_source")["kinesis:PutRecords"]
    assert writes == {rehearsal.outputs["stream_arns"]["errors"]}


def baseline_grants(rehearsal: Rehearsal, name: str) -> dict[str, set[str]]:
    """What every role gets: its own log group, X-Ray, and decrypting with the stage key."""
    group = f"arn:aws:logs:{REGION}:123456789012:log-group:/aws/lambda/{rehearsal.outputs['function_names'][name]}:*"
    return {
        "logs:CreateLogStream": {group},
        "logs:PutLogEvents": {group},
        "xray:PutTraceSegments": {"*"},
        "xray:PutTelemetryRecords": {"*"},
        "kms:Decrypt": {rehearsal.outputs["kms_key_arn"]},
    }


def queue_arn(rehearsal: Rehearsal, key: str) -> str:
    sqs = rehearsal.client("sqs")
    url = rehearsal.outputs["on_failure_queue_urls"][key]
    return str(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"])


@pytest.mark.slow
def test_log_source_may_only_write_to_the_errors_stream(rehearsal: Rehearsal) -> None:
    stream, key = rehearsal.outputs["stream_arns"]["errors"], rehearsal.outputs["kms_key_arn"]
    assert role_grants(rehearsal, "log_source") == baseline_grants(rehearsal, "log_source") | {
        "kinesis:PutRecord": {stream},
        "kinesis:PutRecords": {stream},
        "kinesis:DescribeStreamSummary": {stream},
        "kinesis:ListShards": {stream},
        "kms:GenerateDataKey": {key},
        "sqs:SendMessage": {queue_arn(rehearsal, "log_source-async")},  # the async on-failure destination
    }


@pytest.mark.slow
def test_error_alert_may_only_read_the_stream_and_publish_alerts(rehearsal: Rehearsal) -> None:
    stream, key = rehearsal.outputs["stream_arns"]["errors"], rehearsal.outputs["kms_key_arn"]
    reads = (
        "kinesis:DescribeStream", "kinesis:DescribeStreamSummary", "kinesis:GetRecords",
        "kinesis:GetShardIterator", "kinesis:ListShards", "kinesis:SubscribeToShard",
    )  # fmt: skip
    assert role_grants(rehearsal, "error_alert") == baseline_grants(rehearsal, "error_alert") | {
        **{action: {stream} for action in reads},
        "kms:GenerateDataKey": {key},
        "sqs:SendMessage": {queue_arn(rehearsal, "error_alert-errors")},
        "sns:Publish": {rehearsal.outputs["topic_arns"]["alerts"]},
    }


@pytest.mark.slow
def test_maintain_runs_daily_with_the_stage_retention_and_database_access_only(rehearsal: Rehearsal) -> None:
    names = rehearsal.outputs["function_names"]
    env = environment(rehearsal, "maintain")
    assert env["RETENTION_DAYS"] == tfvars_value(QA_TFVARS, "retention_days")
    assert "DATABASE_USER" not in env  # the schema owner, as migrate: only the owner may create partitions
    vpc = rehearsal.client("lambda").get_function(FunctionName=names["maintain"])["Configuration"]["VpcConfig"]
    assert len(vpc["SubnetIds"]) >= 2
    # The same access as migrate, its other database-only utility: nothing on streams, topics or queues.
    migrate = baseline_grants(rehearsal, "migrate")
    extra = {a: r for a, r in role_grants(rehearsal, "migrate").items() if migrate.get(a) != r}
    assert role_grants(rehearsal, "maintain") == baseline_grants(rehearsal, "maintain") | extra
    events = rehearsal.client("events")
    rule = events.describe_rule(Name=f"event-pipeline-{STAGE}-maintain")
    assert rule["ScheduleExpression"].startswith("cron(") and rule["State"] == "ENABLED"
    targets = events.list_targets_by_rule(Rule=rule["Name"])["Targets"]
    assert [t["Arn"].rsplit(":", 1)[1] for t in targets] == [names["maintain"]]
    policy = json.loads(rehearsal.client("lambda").get_policy(FunctionName=names["maintain"])["Policy"])
    (statement,) = policy["Statement"]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert statement["Condition"]["ArnLike"]["AWS:SourceArn"] == rule["Arn"]


@pytest.mark.slow
def test_monitoring_covers_every_function_and_queue(rehearsal: Rehearsal) -> None:
    cloudwatch, lam = rehearsal.client("cloudwatch"), rehearsal.client("lambda")
    prefix = f"event-pipeline-{STAGE}-"
    alarms = cloudwatch.describe_alarms(AlarmNamePrefix=prefix)["MetricAlarms"]
    by_metric: dict[str, list[dict[str, Any]]] = {}
    for alarm in alarms:
        by_metric.setdefault(alarm["MetricName"], []).append(alarm)
        assert alarm["AlarmActions"] == [rehearsal.outputs["alarm_topic_arn"]], alarm["AlarmName"]

    def watched(metric: str) -> set[str]:
        return {d["Value"] for a in by_metric.get(metric, []) for d in a["Dimensions"]}

    functions = set(rehearsal.outputs["function_names"].values())
    consumers = {m["FunctionArn"].rsplit(":", 1)[1] for m in lam.list_event_source_mappings()["EventSourceMappings"]}
    assert watched("Errors") == functions
    assert watched("Throttles") == functions
    assert watched("IteratorAge") == consumers
    assert len(consumers) == 2
    assert len(by_metric["ApproximateNumberOfMessagesVisible"]) == len(rehearsal.outputs["on_failure_queue_urls"])
    assert watched("ApproximateNumberOfMessagesVisible") == {
        url.rsplit("/", 1)[1] for url in rehearsal.outputs["on_failure_queue_urls"].values()
    }
    # error_sink's EMF metric: namespace EventPipeline, one dimension Service = the short name.
    # error_alert routes nothing to dead_letters, so it has no such alarm.
    assert watched("DeadLetters") == {"error_sink"}
    for alarm in by_metric["DeadLetters"]:
        assert alarm["Namespace"] == "EventPipeline"
        assert [d["Name"] for d in alarm["Dimensions"]] == ["Service"]
    body = cloudwatch.get_dashboard(DashboardName=rehearsal.outputs["dashboard_name"])["DashboardBody"]
    for name in ("RecordsIn", "RowsWritten", "DuplicatesSkipped", "DeadLetters", "IteratorAge"):
        assert f'"{name}"' in body, f"dashboard lacks {name}"


def expected_alarm_names() -> set[str]:
    """Every alarm's name as pipeline.json's functions and mappings give it: stable across refactorings, since
    CloudWatch keys an alarm (and its history) by its name."""
    manifest = json.loads((ROOT / "pipeline.json").read_text())
    functions, mappings = manifest["functions"], manifest["mappings"].values()
    prefix = f"event-pipeline-{STAGE}-"
    names = {f"{prefix}{f}-{what}" for f in functions for what in ("errors", "throttles")}
    names |= {f"{prefix}{m['function']}-iterator-age" for m in mappings}
    names |= {f"{prefix}{m['function']}-{m['stream']}-dlq-depth" for m in mappings}
    names |= {f"{prefix}{f}-async-dlq-depth" for f, v in functions.items() if v["async"]}
    names |= {f"{prefix}{f}-dead-letters" for f, v in functions.items() if v["dead_letters"]}
    return names | {f"{prefix}log_source-fields-dropped"}


@pytest.mark.slow
def test_alarm_names_are_the_subject_and_what_is_watched(rehearsal: Rehearsal) -> None:
    alarms = rehearsal.client("cloudwatch").describe_alarms(AlarmNamePrefix=f"event-pipeline-{STAGE}-")
    assert {a["AlarmName"] for a in alarms["MetricAlarms"]} == expected_alarm_names()


@pytest.mark.slow
def test_mappings_are_keyed_by_their_name_in_pipeline_json(rehearsal: Rehearsal) -> None:
    mappings = json.loads((ROOT / "pipeline.json").read_text())["mappings"]
    assert set(rehearsal.outputs["event_source_mapping_uuids"]) == set(mappings)
    state = rehearsal.terraform.run(
        "state list", "state", "list", f"-state={rehearsal.terraform.work / 'terraform.tfstate'}"
    )
    addresses = set(state.stdout.split())
    for name, m in mappings.items():
        function = f'module.function["{m["function"]}"]'
        assert f'{function}.aws_lambda_event_source_mapping.this["{name}"]' in addresses
        assert f'{function}.aws_sqs_queue.on_failure["{name}"]' in addresses


@pytest.mark.slow
def test_every_moved_block_leads_to_an_address_of_the_stage(rehearsal: Rehearsal) -> None:
    """A `to` with a typo would leave the moved object orphaned: destroyed, and its replacement created."""
    moved = re.findall(
        r"^moved\s*\{\s*from\s*=\s*(\S+)\s*to\s*=\s*(\S+)\s*\}", (TERRAFORM_DIR / "moved.tf").read_text(), re.M
    )
    assert moved, "no moved blocks found in moved.tf"
    state = rehearsal.terraform.run(
        "state list", "state", "list", f"-state={rehearsal.terraform.work / 'terraform.tfstate'}"
    )
    addresses = set(state.stdout.split())
    assert [to for _, to in moved if to not in addresses] == []
    assert [source for source, _ in moved if source in addresses] == []


@pytest.mark.slow
def test_replan_shows_no_changes(rehearsal: Rehearsal) -> None:
    proc = rehearsal.terraform.run("re-plan", "plan", *rehearsal.plan_args, "-detailed-exitcode", ok=(0, 2))
    assert proc.returncode == 0, f"the second plan wants changes:\n{proc.stdout[-6000:]}"
