"""Helpers for the build tests: running build.sh, reading its manifests, copying the tree, finding Python."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAYER = "dependencies-layer"
MAX_ZIP_BYTES = 10_000_000
RUNTIME = "python3.12"
PIP_CACHE_DIR = os.environ.get("PIP_CACHE_DIR", str(ROOT / ".cache" / "pip"))


@dataclass(frozen=True)
class Built:
    """What one build run wrote: its target folder and each output's manifest, by name."""

    target: Path
    manifests: dict[str, dict[str, Any]]

    def zip(self, name: str) -> Path:
        return self.target / f"{name}.zip"


def function_folders(root: Path = ROOT) -> dict[str, str]:
    """Every function the build should find, as pipeline.json lists it: name -> folder relative to root (kind/name)."""
    functions = json.loads((root / "pipeline.json").read_text(encoding="utf-8"))["functions"]
    return {name: f"{f['kind']}/{name}" for name, f in sorted(functions.items())}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run_script(
    script: str,
    *args: str,
    root: Path = ROOT,
    env: Mapping[str, str] | None = None,
    check: bool = True,
    umask: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run root/<script> with args (pip's download cache shared with the main tree's)."""
    full_env = {**os.environ, "PIP_CACHE_DIR": PIP_CACHE_DIR, **(env or {})}
    command = [str(root / script), *args]
    if umask is not None:
        command = ["bash", "-c", f'umask {umask} && exec "$@"', "bash", *command]
    result = subprocess.run(command, cwd=root, env=full_env, capture_output=True, text=True, timeout=600)
    if check and result.returncode != 0:
        pytest.fail(f"{script} {' '.join(args)} exited {result.returncode}:\n{result.stderr}\n{result.stdout}")
    return result


def run_build(*args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return run_script("build.sh", *args, **kwargs)


def read_manifests(target: Path) -> dict[str, dict[str, Any]]:
    return {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in sorted(target.glob("*.json"))}


def copy_tree(dest: Path) -> Path:
    """The working tree as a fresh clone would have it (plus uncommitted work), with new mtimes.

    Files are those git tracks or would track, so git-ignored ones (target/, .cache/, .venv/) stay
    behind; each gets an mtime in 2030, unlike any file in the original.
    """
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for raw in filter(None, listed):
        rel = os.fsdecode(raw)
        src = ROOT / rel
        if not src.is_file():  # deleted, not yet staged
            continue
        out = dest / rel
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, out)
        shutil.copymode(src, out)
        os.utime(out, (1_900_000_000, 1_900_000_000))
    return dest


def find_python(version: str) -> str | None:
    """An interpreter for version ("3.12"): $LAMBDA_PYTHON, pythonX.Y on PATH, or a pyenv install (build.sh's own
    choice for its import test)."""
    from tools.build import find_python as find

    return find(version)
