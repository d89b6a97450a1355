"""Zip sizes, read from the build's target/*.json (written by ./build.sh; this never builds)."""

from __future__ import annotations

import json
from pathlib import Path

from bench.report import Figure

__all__ = ["run"]

ROOT = Path(__file__).resolve().parent.parent
LIMIT = 10_000_000  # build.sh's MAX_ZIP_BYTES default: Lambda's limit for a direct zip upload, with margin


def _newest_input() -> float:
    inputs = [ROOT / "requirements.txt"]
    for folder in ("shared", "producers", "consumers", "utilities"):
        inputs += (ROOT / folder).rglob("*.py")
    return max(p.stat().st_mtime for p in inputs if p.exists())


def run() -> list[Figure]:
    found = sorted((ROOT / "target").glob("*.json"))
    if not found:
        return [Figure("zips", "not built", "", f"<= {LIMIT / 1e6:.0f} MB", None, "run `make build` first")]
    newest = _newest_input()
    out = []
    for path in found:
        try:
            info = json.loads(path.read_text())
            size = int(info["size"])
        except (ValueError, KeyError, TypeError):
            continue
        stale = "built before the latest change to its inputs: rebuild for a current size"
        name = info.get("name", path.stem)
        out.append(
            Figure(
                f"zip: {name}",
                f"{size / 1e6:.2f} MB",
                f"{size / LIMIT:.2f}x",
                "<= 10 MB",
                size <= LIMIT,
                stale if path.stat().st_mtime < newest else "",
            )
        )
    return out or [Figure("zips", "not built", "", "<= 10 MB", None, "target/ holds no readable build records")]
