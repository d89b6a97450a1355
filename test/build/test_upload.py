"""make upload (tools/upload.py): uploads a built zip to an existing function (on a moto server) and checks what
Lambda reports."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from local.moto import MotoServer
from local.postgres import free_port
from test.build.helpers import ROOT, Built

pytestmark = pytest.mark.build

REGION = "us-east-1"
NAME = "error_source"


@pytest.fixture(scope="module")
def moto_env() -> Iterator[dict[str, str]]:
    server = MotoServer(free_port()).start()
    try:
        yield {
            "AWS_ENDPOINT_URL": server.url,
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
        }
    finally:
        server.stop()


@pytest.fixture(scope="module")
def lambda_client(moto_env: dict[str, str]) -> Any:
    return boto3.client(
        "lambda",
        endpoint_url=moto_env["AWS_ENDPOINT_URL"],
        region_name=REGION,
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


@pytest.fixture(scope="module")
def role_arn(moto_env: dict[str, str]) -> str:
    iam = boto3.client(
        "iam",
        endpoint_url=moto_env["AWS_ENDPOINT_URL"],
        region_name=REGION,
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    arn: str = iam.create_role(RoleName="deploy-test", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    return arn


def placeholder_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("placeholder.py", "")
    return buf.getvalue()


def create_function(client: Any, role_arn: str, function_name: str, manifest: dict[str, Any], **overrides: Any) -> None:
    """The function as Terraform would leave it: the zip's handler, runtime and architecture, older code."""
    spec = {
        "FunctionName": function_name,
        "Runtime": manifest["runtime"],
        "Handler": manifest["handler"],
        "Architectures": [manifest["architecture"]],
        "Role": role_arn,
        "Code": {"ZipFile": placeholder_zip()},
    }
    client.create_function(**{**spec, **overrides})


def deploy(*args: str, env: dict[str, str], target: Path) -> subprocess.CompletedProcess[str]:
    """python -m tools.upload ARGS, what `make upload NAME=... STAGE=...` runs."""
    return subprocess.run(
        [sys.executable, "-m", "tools.upload", *args],
        cwd=ROOT,
        env={**os.environ, **env, "TARGET_DIR": str(target)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def code_sha256(path: Path) -> str:
    return base64.b64encode(hashlib.sha256(path.read_bytes()).digest()).decode()


def test_deploy_uploads_the_zip_and_waits_until_updated(
    built: Built, moto_env: dict[str, str], lambda_client: Any, role_arn: str
) -> None:
    # GIVEN an existing function, named as Terraform names it, running other code
    function_name = f"event-pipeline-qa-{NAME}"
    create_function(lambda_client, role_arn, function_name, built.manifests[NAME])

    # WHEN the zip is deployed
    result = deploy(NAME, "qa", env=moto_env, target=built.target)

    # THEN Lambda runs the zip's bytes, and the update finished
    assert result.returncode == 0, result.stderr
    config = lambda_client.get_function_configuration(FunctionName=function_name)
    assert config["CodeSha256"] == code_sha256(built.zip(NAME)) == built.manifests[NAME]["source_code_hash"]
    assert config["LastUpdateStatus"] == "Successful"
    assert f"{function_name} updated" in result.stdout

    # AND deploying the same zip again changes nothing
    again = deploy(NAME, "qa", env=moto_env, target=built.target)
    assert again.returncode == 0, again.stderr
    assert "already runs this zip" in again.stdout


def test_project_prefix_names_the_function(
    built: Built, moto_env: dict[str, str], lambda_client: Any, role_arn: str
) -> None:
    create_function(lambda_client, role_arn, f"other-project-dev-{NAME}", built.manifests[NAME])
    result = deploy(NAME, "dev", env={**moto_env, "PROJECT": "other-project"}, target=built.target)
    assert result.returncode == 0, result.stderr
    config = lambda_client.get_function_configuration(FunctionName=f"other-project-dev-{NAME}")
    assert config["CodeSha256"] == code_sha256(built.zip(NAME))


def test_missing_function_is_named(built: Built, moto_env: dict[str, str]) -> None:
    result = deploy(NAME, "nowhere", env=moto_env, target=built.target)
    assert result.returncode == 1
    assert f"there is no Lambda function event-pipeline-nowhere-{NAME}" in result.stderr


def test_function_with_another_runtime_is_refused_unless_forced(
    built: Built, moto_env: dict[str, str], lambda_client: Any, role_arn: str
) -> None:
    function_name = f"event-pipeline-old-{NAME}"
    create_function(lambda_client, role_arn, function_name, built.manifests[NAME], Runtime="python3.11")
    refused = deploy(NAME, "old", env=moto_env, target=built.target)
    assert refused.returncode == 1
    assert "Runtime is python3.11 there, python3.12 in the zip" in refused.stderr
    before = lambda_client.get_function_configuration(FunctionName=function_name)["CodeSha256"]
    assert before != code_sha256(built.zip(NAME))

    forced = deploy("--force", NAME, "old", env=moto_env, target=built.target)
    assert forced.returncode == 0, forced.stderr
    after = lambda_client.get_function_configuration(FunctionName=function_name)["CodeSha256"]
    assert after == code_sha256(built.zip(NAME))


def test_zip_not_built_yet_is_named(moto_env: dict[str, str], tmp_path: Path) -> None:
    result = deploy(NAME, "qa", env=moto_env, target=tmp_path)
    assert result.returncode == 1
    assert f"build it first with ./build.sh {NAME}" in result.stderr


def test_zip_changed_after_the_build_is_refused(built: Built, moto_env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / f"{NAME}.zip").write_bytes(built.zip(NAME).read_bytes() + b"\0")
    (tmp_path / f"{NAME}.json").write_bytes((built.target / f"{NAME}.json").read_bytes())
    result = deploy(NAME, "qa", env=moto_env, target=tmp_path)
    assert result.returncode == 1
    assert "changed after the build?" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "the following arguments are required: name, stage"),
        ([NAME], "the following arguments are required: stage"),
        ([NAME, "QA stage"], "invalid stage 'QA stage'"),
        (["error-source", "qa"], "invalid name 'error-source'"),
        (["--bogus", NAME, "qa"], "unrecognized arguments: --bogus"),
    ],
)
def test_bad_arguments_print_usage(moto_env: dict[str, str], tmp_path: Path, args: list[str], message: str) -> None:
    result = deploy(*args, env=moto_env, target=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr
    assert "usage: make upload NAME=name STAGE=stage [FORCE=1]" in result.stderr


def test_make_upload_runs_it(built: Built, moto_env: dict[str, str], lambda_client: Any, role_arn: str) -> None:
    # GIVEN an existing function; WHEN the documented command uploads to it (setup taken as done: -o)
    function_name = f"event-pipeline-make-{NAME}"
    create_function(lambda_client, role_arn, function_name, built.manifests[NAME])
    env = {**os.environ, **moto_env, "TARGET_DIR": str(built.target)}
    result = subprocess.run(
        ["make", "--no-print-directory", "-o", ".venv/.installed", "upload", f"NAME={NAME}", "STAGE=make"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    # THEN the function runs the zip
    assert result.returncode == 0, result.stdout + result.stderr
    config = lambda_client.get_function_configuration(FunctionName=function_name)
    assert config["CodeSha256"] == code_sha256(built.zip(NAME))


def test_a_database_zip_without_the_rds_ca_bundle_is_refused(
    built: Built, moto_env: dict[str, str], tmp_path: Path
) -> None:
    # GIVEN read_table's zip as a --without-rds-ca build left it: no bundle inside
    for suffix in (".zip", ".json"):
        shutil.copy2(built.target / f"read_table{suffix}", tmp_path / f"read_table{suffix}")
    with zipfile.ZipFile(tmp_path / "read_table.zip") as zf:
        assert "shared/certs/rds-global-bundle.pem" not in zf.namelist()
    # WHEN it is uploaded; THEN it is refused before Lambda is called, with the way to a deployable zip
    result = deploy("read_table", "qa", env=moto_env, target=tmp_path)
    assert result.returncode == 1
    assert "read_table cannot verify the database without it: run `make rds-ca`" in result.stderr
