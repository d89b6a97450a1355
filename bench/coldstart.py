"""Cold start: the import time of each handler module in fresh processes, against ``import boto3`` alone."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

from bench.report import Figure

__all__ = ["ENV", "handler_modules", "import_seconds", "run"]

ROOT = Path(__file__).resolve().parent.parent
TARGET = 1.6
# What any handler may read at import, as Lambda would set it. Nothing is contacted at import: the endpoint
# and the database are unreachable on purpose, so a handler that dialled out at import would show up slow.
ENV = {
    "STAGE": "bench",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test",
    "AWS_SESSION_TOKEN": "test",
    "AWS_ENDPOINT_URL": "http://127.0.0.1:1",
    "STREAM_NAME": "errors",
    "DATABASE_URL": "postgresql://postgres@127.0.0.1:1/postgres",
    "DATABASE_SSLMODE": "disable",
    "ALERT_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:errors",
    "LOG_LEVEL": "WARNING",
    "RETENTION_DAYS": "30",
}
_PROBE = "import sys, time\nt = time.perf_counter()\nimport {module}\nprint(time.perf_counter() - t)\n"


def handler_modules() -> list[str]:
    """Every function's handler module, from pipeline.json: a new function is measured without editing this file."""
    functions = json.loads((ROOT / "pipeline.json").read_text())["functions"]
    return [f"{f['kind']}.{name}.handler" for name, f in sorted(functions.items())]


def import_seconds(module: str) -> float:
    """Seconds ``import module`` takes in a fresh interpreter (interpreter start-up itself excluded)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DATABASE_"))} | ENV
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run(
        [sys.executable, "-c", _PROBE.format(module=module)], env=env, cwd=ROOT, capture_output=True, text=True
    )
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"import {module} failed: {last}")
    return float(done.stdout.strip().splitlines()[-1])


def run(*, repeats: int) -> list[Figure]:
    modules = handler_modules()
    samples: dict[str, list[float]] = {m: [] for m in ["boto3", *modules]}
    failed: dict[str, str] = {}
    import_seconds("boto3")  # a first, untimed run warms the page cache and writes any missing .pyc
    for _ in range(repeats):
        for module in samples:  # interleaved, so drift hits every module alike
            if module in failed:
                continue
            try:
                samples[module].append(import_seconds(module))
            except RuntimeError as e:
                failed[module] = str(e)
    base = statistics.median(samples["boto3"])
    out = [Figure("cold start: import boto3", f"{base * 1000:.0f} ms", "1.00x", note=f"median of {repeats}")]
    for module in modules:
        if module in failed:
            out.append(Figure(f"cold start: {module}", "import failed", "", f"<= {TARGET}x", False, failed[module]))
            continue
        value = statistics.median(samples[module])
        ratio = value / base
        out.append(
            Figure(f"cold start: {module}", f"{value * 1000:.0f} ms", f"{ratio:.2f}x", f"<= {TARGET}x", ratio <= TARGET)
        )
    return out
