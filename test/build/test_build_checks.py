"""build.sh's two checks on what it ships: the RDS CA bundle in database functions' zips, and every handler
importing from its finished zip alone with the runtime's Python (a copied folder still naming the original fails)."""

from __future__ import annotations

import json
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from test.build.helpers import copy_tree, find_python, run_build
from test.support import AMAZON_TRUST_ROOTS, SYSTEM_CERTS

pytestmark = pytest.mark.build

BUNDLE = "shared/certs/rds-global-bundle.pem"
# The Amazon Trust Services roots: what tools/fetch_rds_ca.sh appends to the RDS CA bundle, so RDS Proxy's
# certificate verifies (Amazon Root CA 1 first).
ROOTS = list(AMAZON_TRUST_ROOTS.values())


@pytest.fixture
def roots() -> str:
    missing = [name for name in ROOTS if not (SYSTEM_CERTS / name).is_file()]
    if missing:
        pytest.skip(f"this machine's CA store lacks {missing} (Debian: apt-get install ca-certificates)")
    return "".join((SYSTEM_CERTS / name).read_text() for name in ROOTS)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A copy of the tree as a fresh clone has it: no target/, and no RDS CA bundle (it is git-ignored)."""
    root = copy_tree(tmp_path / "repo")
    assert not (root / BUNDLE).exists()
    return root


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("build.sh: error:")]


def test_a_database_function_without_the_rds_ca_bundle_is_refused_in_one_line(repo: Path, tmp_path: Path) -> None:
    # GIVEN read_table, which pipeline.json says reaches the database, and no bundle in shared/certs/
    assert json.loads((repo / "pipeline.json").read_text())["functions"]["read_table"]["database"] is True
    target = tmp_path / "target"

    # WHEN it is built
    result = run_build("read_table", "--no-docker", root=repo, env={"TARGET_DIR": str(target)}, check=False)

    # THEN the build refuses, in one line that names the function, the file and the command that fetches it
    assert result.returncode == 1, result.stderr
    [line] = error_lines(result.stderr)
    assert "read_table" in line and BUNDLE in line and "run `make rds-ca`" in line
    assert not target.exists() or sorted(p.name for p in target.iterdir()) == []


def test_a_function_without_the_database_builds_without_the_bundle(repo: Path, tmp_path: Path) -> None:
    manifest = json.loads((repo / "pipeline.json").read_text())["functions"]
    assert manifest["error_alert"]["database"] is False
    result = run_build("error_alert", "--no-docker", root=repo, env={"TARGET_DIR": str(tmp_path)}, check=False)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "error_alert.zip").is_file()


def test_with_the_bundle_the_database_function_ships_it(repo: Path, tmp_path: Path, roots: str) -> None:
    (repo / BUNDLE).parent.mkdir(parents=True)
    (repo / BUNDLE).write_text(roots)
    result = run_build("read_table", "--no-docker", root=repo, env={"TARGET_DIR": str(tmp_path)}, check=False)
    assert result.returncode == 0, result.stderr
    with zipfile.ZipFile(tmp_path / "read_table.zip") as zf:
        assert zf.read(BUNDLE).decode() == roots


def test_a_bundle_without_the_proxys_roots_is_refused_naming_them(repo: Path, tmp_path: Path, roots: str) -> None:
    # GIVEN a bundle fetched before the proxy's roots were added: certificates, but only Amazon Root CA 1 of them
    (repo / BUNDLE).parent.mkdir(parents=True)
    (repo / BUNDLE).write_text((SYSTEM_CERTS / ROOTS[0]).read_text())
    # WHEN a database function is built; THEN it is refused, naming the roots it lacks and the command to run
    result = run_build("read_table", "--no-docker", root=repo, env={"TARGET_DIR": str(tmp_path)}, check=False)
    assert result.returncode == 1, result.stderr
    [line] = error_lines(result.stderr)
    assert "lacks the Amazon Trust Services roots RDS Proxy needs (Amazon Root CA 2," in line, line
    assert "Amazon Root CA 1" not in line and "run `make rds-ca`" in line


def test_a_handler_module_without_its_handler_function_fails_the_build(
    repo: Path, tmp_path: Path, lambda_python: str
) -> None:
    # GIVEN error_alert's handler module defining handle instead of the handler pipeline.json names
    handler = repo / "consumers" / "error_alert" / "handler.py"
    handler.write_text(handler.read_text().replace("def handler(", "def handle("))
    # WHEN it is built; THEN the import test fails, naming the function it did not find
    env = {"TARGET_DIR": str(tmp_path), "LAMBDA_PYTHON": lambda_python}
    result = run_build("error_alert", "--no-docker", root=repo, env=env, check=False)
    assert result.returncode == 1, result.stderr
    [line] = error_lines(result.stderr)
    assert "consumers.error_alert.handler has no function handler" in line, line


def test_without_rds_ca_builds_it_anyway_and_says_so(repo: Path, tmp_path: Path) -> None:
    result = run_build(
        "read_table", "--no-docker", "--without-rds-ca", root=repo, env={"TARGET_DIR": str(tmp_path)}, check=False
    )
    assert result.returncode == 0, result.stderr
    assert f"--without-rds-ca: read_table built although {BUNDLE} is missing" in result.stderr
    with zipfile.ZipFile(tmp_path / "read_table.zip") as zf:
        assert BUNDLE not in zf.namelist()


def test_a_copied_function_whose_import_names_the_original_fails_the_build(
    repo: Path, tmp_path: Path, lambda_python: str
) -> None:
    # GIVEN consumers/error_alert copied to consumers/alert_copy, listed in pipeline.json, its handler unchanged:
    # it still imports consumers.error_alert.transform, which the new zip does not carry
    shutil.copytree(repo / "consumers" / "error_alert", repo / "consumers" / "alert_copy")
    manifest = json.loads((repo / "pipeline.json").read_text())
    manifest["functions"]["alert_copy"] = dict(manifest["functions"]["error_alert"])
    (repo / "pipeline.json").write_text(json.dumps(manifest, indent=2))
    assert "from consumers.error_alert import" in (repo / "consumers" / "alert_copy" / "handler.py").read_text()
    target = tmp_path / "target"
    target.mkdir()

    # WHEN it is built (with the Python 3.12 the import test finds; the fixture skips where there is none)
    env = {"TARGET_DIR": str(target), "LAMBDA_PYTHON": lambda_python}
    result = run_build("alert_copy", "./consumers/alert_copy", "--no-docker", root=repo, env=env, check=False)

    # THEN the build fails, naming the zip and the module it could not import, and writes no zip
    assert result.returncode == 1, result.stderr
    [line] = error_lines(result.stderr)
    assert "alert_copy.zip: importing consumers.alert_copy.handler with Python 3.12" in line, line
    assert "ModuleNotFoundError: No module named 'consumers.error_alert'" in line, line
    assert sorted(p.name for p in target.iterdir()) == []

    # AND once its import names its own package, the same build passes the import test
    handler = repo / "consumers" / "alert_copy" / "handler.py"
    handler.write_text(handler.read_text().replace("consumers.error_alert", "consumers.alert_copy"))
    fixed = run_build("alert_copy", "./consumers/alert_copy", "--no-docker", root=repo, env=env, check=False)
    assert fixed.returncode == 0, fixed.stderr
    assert "import test: 1 handler(s) import from their zips alone with Python 3.12" in fixed.stderr


def test_the_import_test_runs_the_interpreter_itself_not_a_shim_in_front_of_it(
    tmp_path: Path, lambda_python: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a shim in front of Python 3.12, as pyenv puts one: it finds the interpreter through the environment,
    # which the import test does not pass on (it runs the interpreter with a bare one)
    shim = tmp_path / "python3.12"
    shim.write_text('#!/bin/sh\n[ -n "$SHIM_TARGET" ] || exit 1\nexec "$SHIM_TARGET" "$@"\n')
    shim.chmod(0o755)
    monkeypatch.setenv("SHIM_TARGET", lambda_python)
    monkeypatch.setenv("LAMBDA_PYTHON", str(shim))
    # WHEN the build looks for its interpreter; THEN it gets the one the shim runs, which works without it
    found = find_python("3.12")
    assert found is not None and Path(found) != shim
    real = subprocess.run([lambda_python, "-c", "import sys; print(sys.executable)"], capture_output=True, text=True)
    assert found == real.stdout.strip()
    probe = subprocess.run([found, "-c", "print(1)"], env={"PATH": "/usr/bin:/bin"}, capture_output=True, text=True)
    assert probe.stdout.strip() == "1", probe.stderr
