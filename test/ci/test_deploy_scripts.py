"""The deploy jobs' scripts: OIDC credentials, shipping only the build's zips, and installing Terraform."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from test.support import AMAZON_TRUST_ROOTS, SYSTEM_CERTS
from tools import ca_bundle

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "tools"
TOKEN = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJwcm9qZWN0X3BhdGg6Z3JvdXAvZXZlbnQtcGlwZWxpbmUifQ."  # unsigned; moto takes it


@pytest.fixture
def scratch() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="evpipe-ci-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def run(command: list[str], env: dict[str, str], cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False)


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without AWS settings, CI markers or Terraform state settings."""
    drop = ("AWS_", "TF_STATE_", "TF_LOCAL_STATE", "GITLAB_", "CI_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    return env | {"PYTHON": sys.executable} | extra


BUNDLE = "shared/certs/rds-global-bundle.pem"


def fake_checkout(scratch: Path, zips: dict[str, list[str]], manifest_sha: dict[str, str] | None = None) -> Path:
    """A folder laid out like the repository, with ci_terraform.sh and function zips (name -> members) in target/."""
    (scratch / "tools").mkdir()
    shutil.copy2(SCRIPTS / "ci_terraform.sh", scratch / "tools")
    (scratch / "terraform" / "environments").mkdir(parents=True)
    (scratch / "terraform" / "environments" / "qa.tfvars").write_text('stage = "qa"\n')
    (scratch / "target").mkdir()
    for name, members in zips.items():
        path = scratch / "target" / f"{name}.zip"
        with zipfile.ZipFile(path, "w") as zf:
            for member in members:
                zf.writestr(member, "x")
        sha = (manifest_sha or {}).get(name, hashlib.sha256(path.read_bytes()).hexdigest())
        manifest = {"name": name, "handler": f"utilities.{name}.handler.handler", "zip": path.name, "sha256": sha}
        (scratch / "target" / f"{name}.json").write_text(json.dumps(manifest))
    return scratch


@pytest.fixture
def terraform_on_path() -> None:
    if shutil.which("terraform") is None:
        pytest.skip("terraform is not on PATH (tools/install_terraform.sh installs it)")


# ------------------------------------------------------------------------------------------ ci_deploy.sh


@pytest.mark.integration
@pytest.mark.usefixtures("terraform_on_path")
def test_deploy_assumes_the_stage_role_with_the_job_token_and_nothing_else(local_stack: Any, scratch: Path) -> None:
    # GIVEN a GitLab job's ID token, the QA role, and stray static keys in the environment
    checkout = fake_checkout(scratch, {})
    shutil.copy2(SCRIPTS / "ci_deploy.sh", checkout / "tools")
    env = clean_env(
        GITLAB_CI="true",
        GITLAB_OIDC_TOKEN=TOKEN,
        AWS_ROLE_ARN="arn:aws:iam::123456789012:role/event-pipeline-deploy-qa",
        AWS_ENDPOINT_URL=local_stack.endpoint_url,  # moto's STS answers AssumeRoleWithWebIdentity
        AWS_ACCESS_KEY_ID="AKIASTRAYSTATICKEY00",
        AWS_SECRET_ACCESS_KEY="stray",
        CI_PROJECT_ID="42",
        CI_PIPELINE_ID="7",
        CI_JOB_ID="9",
    )
    # WHEN the deploy starts (in a checkout with no built zips, so it stops before Terraform)
    proc = run([str(checkout / "tools" / "ci_deploy.sh"), "qa"], env, cwd=checkout)
    # THEN it acts as the assumed role, named after the job, and the token appears nowhere in its output
    output = proc.stdout + proc.stderr
    assert "as arn:aws:sts::123456789012:assumed-role/event-pipeline-deploy-qa/gitlab-42-7-9" in output, output
    assert "no built zips in target/" in output
    assert TOKEN not in output
    assert proc.returncode == 1


def test_deploy_in_a_gitlab_job_without_an_id_token_refuses() -> None:
    proc = run([str(SCRIPTS / "ci_deploy.sh"), "qa"], clean_env(GITLAB_CI="true"))
    assert proc.returncode == 1
    assert "no GITLAB_OIDC_TOKEN in this GitLab job" in proc.stderr


def test_deploy_with_a_token_but_no_role_names_the_variable_to_set() -> None:
    proc = run([str(SCRIPTS / "ci_deploy.sh"), "prod"], clean_env(GITLAB_CI="true", GITLAB_OIDC_TOKEN=TOKEN))
    assert proc.returncode == 1
    assert "set the CI/CD variable AWS_ROLE_ARN_PROD" in proc.stderr


@pytest.mark.parametrize("args", [[], ["staging"], ["qa", "extra"]])
def test_deploy_bad_arguments_print_usage(args: list[str]) -> None:
    proc = run([str(SCRIPTS / "ci_deploy.sh"), *args], clean_env())
    assert proc.returncode == 2
    assert "Usage: tools/ci_deploy.sh STAGE" in proc.stderr


# ------------------------------------------------------------------------------------------ ci_terraform.sh


@pytest.mark.usefixtures("terraform_on_path")
def test_plan_refuses_a_zip_that_is_not_the_builds(scratch: Path) -> None:
    checkout = fake_checkout(scratch, {"error_source": [BUNDLE], "migrate": [BUNDLE]}, {"migrate": "0" * 64})
    proc = run([str(checkout / "tools" / "ci_terraform.sh"), "plan", "qa"], clean_env(), cwd=checkout)
    assert proc.returncode == 1
    assert "target/migrate.zip does not match the sha256 in target/migrate.json" in proc.stderr


@pytest.mark.usefixtures("terraform_on_path")
def test_plan_without_built_zips_says_where_they_come_from(scratch: Path) -> None:
    checkout = fake_checkout(scratch, {})
    proc = run([str(checkout / "tools" / "ci_terraform.sh"), "plan", "qa"], clean_env(), cwd=checkout)
    assert proc.returncode == 1
    assert "no built zips in target/: run make ci-build, or fetch the build job's artifacts" in proc.stderr


@pytest.mark.usefixtures("terraform_on_path")
def test_plan_refuses_function_zips_without_the_rds_ca_bundle(scratch: Path) -> None:
    checkout = fake_checkout(scratch, {"error_source": [BUNDLE], "migrate": ["shared/config.py"]})
    proc = run([str(checkout / "tools" / "ci_terraform.sh"), "plan", "qa"], clean_env(), cwd=checkout)
    assert proc.returncode == 1
    assert f"target/migrate.zip has no {BUNDLE}" in proc.stderr
    assert "error_source.zip" not in proc.stderr


@pytest.mark.usefixtures("terraform_on_path")
def test_plan_without_remote_state_refuses_before_touching_terraform(scratch: Path) -> None:
    checkout = fake_checkout(scratch, {"error_source": [BUNDLE]})
    proc = run([str(checkout / "tools" / "ci_terraform.sh"), "plan", "qa"], clean_env(), cwd=checkout)
    assert proc.returncode == 1
    assert "no remote state for qa: set TF_STATE_BUCKET" in proc.stderr
    assert not (checkout / "terraform" / "backend_override.tf").exists()


# ------------------------------------------------------------------------------------------ install_terraform.sh


def fake_release(scratch: Path, version: str, *, listed_sha: str | None = None) -> str:
    """A release folder like HashiCorp's, holding a 'terraform' that prints its version; its file:// URL."""
    release = scratch / "releases" / version
    release.mkdir(parents=True)
    name = f"terraform_{version}_linux_amd64.zip"
    with zipfile.ZipFile(release / name, "w") as zf:
        zf.writestr("terraform", f"#!/bin/sh\necho 'Terraform v{version}'\n")
    sha = listed_sha or hashlib.sha256((release / name).read_bytes()).hexdigest()
    (release / f"terraform_{version}_SHA256SUMS").write_text(f"{sha}  {name}\n{'1' * 64}  other.zip\n")
    return (scratch / "releases").as_uri()


def installer_env(scratch: Path, releases: str, version: str) -> dict[str, str]:
    """PATH with the system's tools and this interpreter as python3, but no terraform."""
    bin_dir = scratch / "bin"
    bin_dir.mkdir()
    (bin_dir / "python3").symlink_to(sys.executable)
    return clean_env(
        PATH=f"{bin_dir}:/usr/bin:/bin",
        TERRAFORM_VERSION=version,
        TERRAFORM_RELEASES=releases,
        TERRAFORM_INSTALL_DIR=str(scratch / "installed"),
        TERRAFORM_DOWNLOADS=str(scratch / "downloads"),
    )


@pytest.fixture
def x86_64() -> None:
    if os.uname().machine not in ("x86_64", "amd64"):
        pytest.skip("the fake release holds an amd64 zip only")
    if not Path("/usr/bin/sha256sum").exists():
        pytest.skip("sha256sum is not in /usr/bin")


@pytest.mark.usefixtures("x86_64")
def test_installs_terraform_when_the_checksum_matches(scratch: Path) -> None:
    env = installer_env(scratch, fake_release(scratch, "9.9.9"), "9.9.9")
    proc = run([str(SCRIPTS / "install_terraform.sh")], env, cwd=scratch)
    assert proc.returncode == 0, proc.stderr
    assert "installed Terraform v9.9.9" in proc.stdout
    assert os.access(scratch / "installed" / "terraform", os.X_OK)


@pytest.mark.usefixtures("x86_64")
def test_refuses_a_terraform_zip_whose_checksum_differs(scratch: Path) -> None:
    env = installer_env(scratch, fake_release(scratch, "9.9.9", listed_sha="f" * 64), "9.9.9")
    proc = run([str(SCRIPTS / "install_terraform.sh")], env, cwd=scratch)
    assert proc.returncode == 1
    assert "does not match its SHA256SUMS entry: refusing to install it" in proc.stderr
    assert not (scratch / "installed" / "terraform").exists()


# ------------------------------------------------------------------------------------------ fetch_rds_ca.sh


ATS_ROOTS = AMAZON_TRUST_ROOTS
NOT_A_CERTIFICATE = "-----BEGIN CERTIFICATE-----\nQQ==\n-----END CERTIFICATE-----\n"


def rds_bundle(scratch: Path, count: int) -> Path:
    """A stand-in for the RDS CA bundle: count self-signed CA certificates, made here."""
    folder = scratch / "rds-ca"
    folder.mkdir()
    pems = []
    for n in range(count):
        run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-subj", f"/CN=test RDS root {n}", "-days", "2", "-keyout", f"{n}.key", "-out", f"{n}.pem"],
            clean_env(), cwd=folder,
        )  # fmt: skip
        pems.append((folder / f"{n}.pem").read_text())
    served = scratch / "global-bundle.pem"
    served.write_text("".join(pems))
    return served


@pytest.fixture
def repository(scratch: Path) -> Path:
    """A folder laid out like https://www.amazontrust.com/repository/, holding the five roots."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed (tools/install_packages.sh openssl)")
    missing = [name for name in ATS_ROOTS.values() if not (SYSTEM_CERTS / name).is_file()]
    if missing:
        pytest.skip(f"this machine's CA store lacks {missing} (Debian: apt-get install ca-certificates)")
    folder = scratch / "amazontrust"
    folder.mkdir()
    for served, system in ATS_ROOTS.items():
        shutil.copyfile(SYSTEM_CERTS / system, folder / served)
    return folder


def fetch(scratch: Path, rds_bundle: Path, repository: Path) -> subprocess.CompletedProcess[str]:
    (scratch / "tools").mkdir(exist_ok=True)
    shutil.copy2(SCRIPTS / "fetch_rds_ca.sh", scratch / "tools")
    env = clean_env(RDS_CA_URL=rds_bundle.as_uri(), AMAZON_TRUST_URL=repository.as_uri())
    return run([str(scratch / "tools" / "fetch_rds_ca.sh")], env, cwd=scratch)


def test_fetches_the_rds_ca_bundle_and_the_proxys_roots_into_shared_certs(scratch: Path, repository: Path) -> None:
    # GIVEN an RDS CA bundle of two certificates and Amazon Trust Services' five roots, served from files
    served = rds_bundle(scratch, 2)
    # WHEN the bundle is fetched
    proc = fetch(scratch, served, repository)
    # THEN shared/certs/ holds the RDS bundle followed by every root, so verify-full works through the proxy too
    assert proc.returncode == 0, proc.stderr
    assert "7 certificates in shared/certs/rds-global-bundle.pem" in proc.stdout
    bundle = (scratch / BUNDLE).read_text()
    assert bundle.startswith(served.read_text())
    for served_name in ATS_ROOTS:
        assert (repository / served_name).read_text().strip() in bundle, served_name
    # AND it is what the build and the upload take as deployable
    assert ca_bundle.problem(bundle) is None


def test_the_bundle_loads_in_openssl_and_trusts_amazon_root_ca_1(scratch: Path, repository: Path) -> None:
    """What RDS Proxy presents chains to Amazon Root CA 1: with the bundle as the trust store, that root verifies."""
    assert fetch(scratch, rds_bundle(scratch, 1), repository).returncode == 0
    root = SYSTEM_CERTS / ATS_ROOTS["AmazonRootCA1.pem"]
    proc = run(["openssl", "verify", "-CAfile", str(scratch / BUNDLE), str(root)], clean_env())
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_refuses_a_root_whose_key_is_not_the_published_one(scratch: Path, repository: Path) -> None:
    # GIVEN a repository whose "Amazon Root CA 1" is another certificate (Root CA 2's)
    shutil.copyfile(repository / "AmazonRootCA2.pem", repository / "AmazonRootCA1.pem")
    served = rds_bundle(scratch, 1)
    # WHEN the bundle is fetched; THEN it is refused by name, and nothing is written
    proc = fetch(scratch, served, repository)
    assert proc.returncode == 1
    assert "AmazonRootCA1.pem: its public key" in proc.stderr
    assert "is not the one Amazon Trust Services publishes" in proc.stderr
    assert not (scratch / "shared" / "certs").exists() or not any((scratch / "shared" / "certs").iterdir())


def test_refuses_a_download_that_is_not_a_certificate_bundle(scratch: Path, repository: Path) -> None:
    served = scratch / "error.html"
    served.write_text("<html>Service Unavailable</html>")
    proc = fetch(scratch, served, repository)
    assert proc.returncode == 1
    assert "did not give a PEM bundle of certificates" in proc.stderr
    assert not (scratch / "shared" / "certs").exists() or not any((scratch / "shared" / "certs").iterdir())


def test_refuses_a_missing_root(scratch: Path, repository: Path) -> None:
    (repository / "SFSRootCAG2.pem").unlink()
    served = rds_bundle(scratch, 1)
    proc = fetch(scratch, served, repository)
    assert proc.returncode == 1
    assert "could not download SFSRootCAG2.pem" in proc.stderr
    assert not (scratch / BUNDLE).exists()


def test_refuses_an_rds_bundle_openssl_cannot_load(scratch: Path, repository: Path) -> None:
    # GIVEN an RDS bundle whose one "certificate" is not one: libpq would refuse the whole file at connect time
    served = scratch / "global-bundle.pem"
    served.write_text(NOT_A_CERTIFICATE)
    # WHEN it is fetched; THEN it is refused now, and nothing is written
    proc = fetch(scratch, served, repository)
    assert proc.returncode == 1
    assert "the combined bundle does not load in OpenSSL" in proc.stderr
    assert not (scratch / BUNDLE).exists()
