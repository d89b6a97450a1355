"""Fixtures for the build tests: one `./build.sh --all` per session, a fresh copy of the tree, Python 3.12."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from test.build.helpers import (
    PIP_CACHE_DIR,
    ROOT,
    RUNTIME,
    Built,
    copy_tree,
    find_python,
    function_folders,
    read_manifests,
    run_build,
)
from tools import build as build_tool


@pytest.fixture(scope="session")
def built() -> Built:
    """`./build.sh --all` into the repository's target/, once for the session (docker-less path).

    Without the RDS CA bundle (a test machine has no internet to fetch it): these zips are never deployed.
    """
    if not function_folders():
        pytest.skip("no function folders with a handler.py yet")
    run_build("--all", "--no-docker", "--without-rds-ca")
    target = ROOT / "target"
    return Built(target, read_manifests(target))


@pytest.fixture(scope="session")
def fresh_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the tree as a fresh clone has it: new mtimes, no target/, no .cache/."""
    return copy_tree(tmp_path_factory.mktemp("fresh-clone") / "repo")


@pytest.fixture(scope="session")
def lambda_python() -> str:
    """The interpreter matching the zips' runtime, python3.12."""
    version = RUNTIME.removeprefix("python")
    exe = find_python(version)
    if exe is None:
        pytest.skip(
            f"no Python {version} here (tried $LAMBDA_PYTHON, python{version} on PATH, pyenv's versions/); "
            f"install one (`pyenv install {version}`) to import-test the zips"
        )
    return exe


@pytest.fixture(scope="session")
def lambda_runtime_dir() -> Path:
    """boto3 and botocore for cp312 in a folder of their own, standing in for Lambda's /var/runtime.

    The folder build.sh's import test uses (tools/build.py installs it once, pinned as in requirements-dev.txt).
    """
    cache = Path(os.environ.get("BUILD_CACHE_DIR", str(ROOT / ".cache" / "build")))
    try:
        return build_tool.runtime_site(RUNTIME, cache, Path(PIP_CACHE_DIR))
    except build_tool.Failure as e:
        pytest.fail(f"could not install boto3/botocore for the emulated runtime: {e}")
