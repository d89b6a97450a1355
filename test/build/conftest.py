"""Fixtures for the build tests: one `./build.sh --all` per session, a fresh copy of the tree, Python 3.12."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from test.build.helpers import (
    PIP_CACHE_DIR,
    ROOT,
    RUNTIME,
    Built,
    copy_tree,
    dev_pins,
    find_python,
    function_folders,
    read_manifests,
    run_build,
)


@pytest.fixture(scope="session")
def built() -> Built:
    """`./build.sh --all` into the repository's target/, once for the session (docker-less path)."""
    if not function_folders():
        pytest.skip("no function folders with a handler.py yet")
    run_build("--all", "--no-docker")
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

    Installed once with pip --target (the pins from requirements-dev.txt) and kept under .cache/.
    """
    pins = dev_pins("boto3", "botocore")
    key = hashlib.sha256(f"{RUNTIME} {' '.join(pins)} v1".encode()).hexdigest()[:16]
    cache = Path(os.environ.get("BUILD_CACHE_DIR", str(ROOT / ".cache" / "build")))
    folder = cache / "lambda-runtime" / f"{RUNTIME}-{key}"
    if (folder / ".complete").is_file():
        return folder / "site"
    tmp = folder.with_name(f"{folder.name}.tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    command = [
        sys.executable, "-m", "pip", "install", "--quiet", "--no-compile", "--disable-pip-version-check",
        "--platform", "manylinux2014_x86_64", "--implementation", "cp",
        "--python-version", RUNTIME.removeprefix("python"), "--only-binary=:all:",
        "--cache-dir", PIP_CACHE_DIR, "--target", str(tmp / "site"), *pins,
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        pytest.fail(f"could not install {pins} for the emulated runtime:\n{result.stderr}")
    (tmp / ".complete").touch()
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)
    return folder / "site"
