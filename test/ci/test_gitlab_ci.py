"""The pipeline file (.gitlab-ci.yml) as gitlab-ci-local 4.73.0 reads and runs it (make ci-tools installs it).

Which jobs a pipeline gets on the default branch, on a feature branch and for a merge request; the
settings the deploys rely on; and the check, test and build jobs going green with the shell executor.
Every job runs in a throwaway git repository holding the working tree as `git add -A` would commit it,
on branch main, so the runs never touch this checkout or see its build output.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from test.support import AMAZON_TRUST_ROOTS, SYSTEM_CERTS

ROOT = Path(__file__).resolve().parents[2]
PIPELINE = ROOT / ".gitlab-ci.yml"
GCL_VERSION = "4.73.0"
# Set for the jobs gitlab-ci-local runs, so the test job's pytest never starts gitlab-ci-local again.
NESTED = "EVPIPE_IN_GITLAB_CI_LOCAL"
# What the test job runs under gitlab-ci-local: pure tests, the utilities against the embedded
# PostgreSQL, and the smoke test against a local stack. The whole suite is CI's own test run.
PYTEST_SUBSET = "test/unit test/integration/utilities test/ci/test_smoke.py -p no:cacheprovider"
DEPLOYS = ("deploy_qa", "deploy_prod")
# Settings of the local stack a test session may have put in os.environ: not for the jobs.
STACK_SETTINGS = ("AWS_", "DATABASE_", "STAGE", "STREAM_NAME", "ALERT_", "PYTEST_CURRENT_TEST")


def find_gitlab_ci_local() -> str | None:
    for candidate in (
        os.environ.get("GITLAB_CI_LOCAL"),
        str(ROOT / ".cache" / "gcl" / "node_modules" / ".bin" / "gitlab-ci-local"),
        shutil.which("gitlab-ci-local"),
    ):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


@pytest.fixture(scope="module")
def gcl() -> str:
    if os.environ.get(NESTED):
        pytest.skip("already inside a job that gitlab-ci-local runs")
    path = find_gitlab_ci_local()
    if path is None:
        pytest.skip(f"gitlab-ci-local is not installed: make ci-tools installs {GCL_VERSION} under .cache/gcl")
    if shutil.which("rsync") is None:
        pytest.skip("gitlab-ci-local needs rsync: make ci-tools (Debian: apt-get install rsync)")
    version = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=60, check=False)
    assert version.stdout.strip() == GCL_VERSION, f"{path} is {version.stdout.strip()!r}: make ci-tools"
    return path


def git(cwd: Path, *args: str) -> str:
    command = ["git", "-c", "user.name=ci", "-c", "user.email=ci@localhost", "-c", "init.defaultBranch=main", *args]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=60, check=True).stdout


@pytest.fixture(scope="module")
def checkout(gcl: str) -> Iterator[Path]:
    """A repository on main with the working tree's files (tracked, and new ones not ignored).

    It borrows this checkout's .venv and .cache (pip, build, checkov, Terraform plugins) the way a
    GitLab job restores its caches, so no job spends minutes installing what is already here.
    """
    path = Path(tempfile.mkdtemp(prefix="evpipe-gcl-"))
    # The test job starts PostgreSQL from .venv: as root it runs as another user, who must get through.
    path.chmod(0o755)
    listed = git(ROOT, "ls-files", "-z", "--cached", "--others", "--exclude-standard").split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():  # a tracked file deleted in the working tree is left out, as git add -A would
            (path / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, path / name)
    git(path, "init", "-q", "-b", "main")
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "working tree")
    # Bring .venv up to date from here first: pip run through the link would write scripts whose
    # first line names the checkout's path, which is gone once the test ends.
    subprocess.run(["make", "setup"], cwd=ROOT, capture_output=True, text=True, timeout=900, check=True)
    for name in (".venv", ".cache"):
        (ROOT / name).mkdir(exist_ok=True)
        (path / name).symlink_to(ROOT / name)
    yield path
    shutil.rmtree(path, ignore_errors=True)  # the links go, not what they point to


@pytest.fixture(scope="module")
def feature_branch(checkout: Path) -> Iterator[Path]:
    """A clone of ``checkout`` (so origin/HEAD says the default branch is main) on a feature branch."""
    path = Path(tempfile.mkdtemp(prefix="evpipe-gcl-feature-"))
    git(path.parent, "clone", "-q", str(checkout), str(path))
    git(path, "checkout", "-q", "-b", "feature/login-form")
    yield path
    shutil.rmtree(path, ignore_errors=True)


def job_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(STACK_SETTINGS)}


def gitlab_ci_local(gcl: str, cwd: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    command = [gcl, "--no-color", "--max-job-name-padding", "0", *args]
    return subprocess.run(
        command,
        cwd=cwd,
        env=job_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def listed(gcl: str, cwd: Path, *args: str) -> dict[str, dict[str, Any]]:
    """Jobs the pipeline would have, by name (gitlab-ci-local --list-json, less those with when: never)."""
    proc = gitlab_ci_local(gcl, cwd, "--list-json", *args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {job["name"]: job for job in json.loads(proc.stdout) if job["when"] != "never"}


def listed_names(gcl: str, cwd: Path, *args: str) -> set[str]:
    """Job names in gitlab-ci-local --list's table (which leaves out jobs with when: never)."""
    proc = gitlab_ci_local(gcl, cwd, "--list", *args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = proc.stdout.splitlines()[1:]  # under the header
    return {row.split()[0] for row in rows if row.strip()}


# ------------------------------------------------------------------------------------------ which jobs, where


def test_default_branch_deploys_to_qa_then_offers_production_by_hand(gcl: str, checkout: Path) -> None:
    jobs = listed(gcl, checkout)
    assert list(jobs) == ["check", "test", "build", "deploy_qa", "deploy_prod"]
    assert [jobs[name]["stage"] for name in jobs] == ["check", "test", "build", "deploy_qa", "deploy_prod"]
    assert jobs["deploy_qa"]["when"] == "on_success"
    assert jobs["deploy_prod"]["when"] == "manual"
    assert listed_names(gcl, checkout) == set(jobs)


def test_production_ships_the_builds_artifacts_after_qa(gcl: str, checkout: Path) -> None:
    jobs = listed(gcl, checkout)
    needs = {need["job"]: need["artifacts"] for need in jobs["deploy_prod"]["needs"]}
    assert needs == {"build": True, "deploy_qa": False}
    qa_needs = {need["job"]: need["artifacts"] for need in jobs["deploy_qa"]["needs"]}
    assert qa_needs == {"check": False, "test": False, "build": True}


def test_feature_branch_checks_tests_and_builds_but_never_deploys(gcl: str, feature_branch: Path) -> None:
    assert set(listed(gcl, feature_branch)) == {"check", "test", "build"}
    assert listed_names(gcl, feature_branch) == {"check", "test", "build"}


def test_merge_request_pipeline_never_deploys(gcl: str, feature_branch: Path) -> None:
    # A merge request pipeline has no CI_COMMIT_BRANCH; GitLab sets the merge request's variables.
    mr = [
        "--variable",
        "CI_PIPELINE_SOURCE=merge_request_event",
        "--variable",
        "CI_MERGE_REQUEST_IID=12",
        "--variable",
        "CI_MERGE_REQUEST_TARGET_BRANCH_NAME=main",
        "--unset-variable",
        "CI_COMMIT_BRANCH",
        "--ignore-predefined-vars",
        "CI_PIPELINE_SOURCE,CI_MERGE_REQUEST_IID,CI_MERGE_REQUEST_TARGET_BRANCH_NAME",
    ]
    assert set(listed(gcl, feature_branch, *mr)) == {"check", "test", "build"}


# ------------------------------------------------------------------------------------------ job settings


@pytest.fixture(scope="module")
def expanded(gcl: str, checkout: Path) -> dict[str, Any]:
    """The pipeline with extends, anchors and defaults resolved (gitlab-ci-local --preview)."""
    proc = gitlab_ci_local(gcl, checkout, "--preview")
    assert proc.returncode == 0, proc.stderr[-3000:]
    document: dict[str, Any] = yaml.safe_load(proc.stdout)
    return document


def test_deploys_are_serialised_per_environment_and_never_interrupted(expanded: dict[str, Any]) -> None:
    raw = yaml.safe_load(PIPELINE.read_text())
    assert raw["default"]["interruptible"] is True
    assert expanded["deploy_qa"]["resource_group"] == "qa"
    assert expanded["deploy_prod"]["resource_group"] == "production"
    for name in ("check", "test", "build"):
        assert "interruptible" not in expanded[name], f"{name} should keep the default (interruptible)"
        assert "resource_group" not in expanded[name]
    for name in DEPLOYS:
        assert expanded[name]["interruptible"] is False


def test_deploys_get_role_credentials_from_an_id_token_and_the_file_holds_no_secret(
    expanded: dict[str, Any],
) -> None:
    for name, role in (("deploy_qa", "$AWS_ROLE_ARN_QA"), ("deploy_prod", "$AWS_ROLE_ARN_PROD")):
        assert expanded[name]["id_tokens"]["GITLAB_OIDC_TOKEN"]["aud"]
        assert expanded[name]["variables"]["AWS_ROLE_ARN"] == role
    text = PIPELINE.read_text()
    assert not re.search(r"AKIA[0-9A-Z]{16}|AWS_SECRET_ACCESS_KEY\s*:|aws_secret_access_key", text)


def test_jobs_call_the_shared_entry_points_and_deploys_never_build(expanded: dict[str, Any]) -> None:
    assert expanded["check"]["script"] == ["make ci-check"]
    assert expanded["test"]["script"] == ["make ci-test"]
    assert expanded["build"]["script"] == ["make ci-build"]
    assert expanded["build"]["artifacts"]["paths"] == ["target/*.zip", "target/*.json"]
    for name in DEPLOYS:
        commands = " ".join(expanded[name]["before_script"] + expanded[name]["script"])
        assert "make deploy" in commands
        assert "build" not in commands


def test_pip_and_terraform_caches(expanded: dict[str, Any]) -> None:
    def cached(job: str) -> set[str]:
        return {path for cache in expanded[job]["cache"] for path in cache["paths"]}

    assert {".cache/pip/", ".cache/terraform/plugins/"} <= cached("check")
    assert ".cache/pip/" in cached("test") and ".cache/pip/" in cached("build")
    assert {".cache/pip/", ".cache/terraform/plugins/"} <= cached("deploy_qa")
    for job in expanded:
        if isinstance(expanded[job], dict) and "cache" in expanded[job]:
            assert not any("tfplan" in path or path == ".cache/terraform/" for path in cached(job)), job


# ------------------------------------------------------------------------------------------ running the jobs


@pytest.fixture
def ca_bundle_url() -> Iterator[dict[str, str]]:
    """Stand-ins for what the build job downloads (this machine may have no internet): the RDS CA bundle (one
    self-signed CA made here) and Amazon Trust Services' roots (this machine's copies, from ca-certificates)."""
    system, roots = SYSTEM_CERTS, AMAZON_TRUST_ROOTS
    if shutil.which("openssl") is None or not all((system / name).is_file() for name in roots.values()):
        pytest.skip("the build job's stand-in downloads need openssl and the Amazon roots in /etc/ssl/certs")
    folder = Path(tempfile.mkdtemp(prefix="evpipe-ca-"))
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-subj", "/CN=stand-in RDS root", "-days", "2", "-keyout", "key.pem", "-out", "global-bundle.pem"],
        cwd=folder, capture_output=True, timeout=60, check=True,
    )  # fmt: skip
    (folder / "amazontrust").mkdir()
    for served, name in roots.items():
        shutil.copyfile(system / name, folder / "amazontrust" / served)
    yield {
        "RDS_CA_URL": (folder / "global-bundle.pem").as_uri(),
        "AMAZON_TRUST_URL": (folder / "amazontrust").as_uri(),
    }
    shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.slow
@pytest.mark.timeout(900)  # the three jobs, each a fresh checkout's setup, run in turn: minutes on a busy machine
def test_check_test_and_build_jobs_go_green(gcl: str, checkout: Path, ca_bundle_url: dict[str, str]) -> None:
    if shutil.which("terraform") is None:
        pytest.skip("terraform is not on PATH, and the check job's terraform validate needs it")
    proc = gitlab_ci_local(
        gcl,
        checkout,
        "--force-shell-executor",
        # gitlab-ci-local 4.73.0 gives a job that names an image CI_PROJECT_DIR=/builds/<group>/<project>
        # even when the shell executor runs it here: point it at the folder the job really runs in.
        "--variable",
        f"CI_PROJECT_DIR={checkout}",
        "--ignore-predefined-vars",
        "CI_PROJECT_DIR",
        "--variable",
        f"PYTEST_ARGS={PYTEST_SUBSET}",
        "--variable",
        f"RDS_CA_URL={ca_bundle_url['RDS_CA_URL']}",
        "--variable",
        f"AMAZON_TRUST_URL={ca_bundle_url['AMAZON_TRUST_URL']}",
        "--variable",
        f"{NESTED}=1",
        "check",
        "test",
        "build",
        timeout=900,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-6000:]
    for job in ("check", "test", "build"):
        assert re.search(rf"PASS\s+{job}\b", output), f"{job} did not pass:\n{output[-4000:]}"

    # build left one zip and one manifest per function, and the test job a JUnit report with no failures
    zips = sorted(p.stem for p in (checkout / "target").glob("*.zip"))
    assert {"error_source", "error_sink", "migrate", "read_table", "reset_table"} <= set(zips)
    assert all((checkout / "target" / f"{name}.json").is_file() for name in zips)
    with zipfile.ZipFile(checkout / "target" / "migrate.zip") as migrate:
        assert "shared/certs/rds-global-bundle.pem" in migrate.namelist()
    report = ET.parse(checkout / "target" / "reports" / "junit.xml").getroot()  # noqa: S314  # pytest's own report
    suite = report if report.tag == "testsuite" else report.find("testsuite")
    assert suite is not None
    assert int(suite.get("tests", 0)) > 100
    assert suite.get("failures") == "0" and suite.get("errors") == "0"
    names = {case.get("classname", "") for case in suite.iter("testcase")}
    assert "test.ci.test_smoke" in names and "test.integration.utilities.test_utilities" in names

    # What the jobs left in the caches they shared with this checkout works once the checkout is gone
    checkov = ROOT / ".cache" / "checkov-venv" / "bin" / "checkov"
    interpreter = checkov.read_text().splitlines()[0].removeprefix("#!")
    assert not interpreter.startswith(str(checkout)), f"{checkov} runs {interpreter}, inside the throwaway checkout"
