"""Cold start: the import time of each handler module in fresh processes, against ``import boto3`` alone.

Handlers build their AWS clients on first use (shared.aws.LazyClient), so the import no longer pays for
botocore. That cost moves to the first invocation that reaches AWS; the "first use" figures show it: the
import plus every lazy client built (shared.aws.warm()), in the same process, with no target.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

from bench.report import Figure

__all__ = ["ENV", "handler_modules", "import_seconds", "probe", "run"]

ROOT = Path(__file__).resolve().parent.parent
TARGET = 1.2
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
# The import, then the clients it left to build (none when it never imported shared.aws): what the first
# invocation to reach AWS pays on top. Printed: import seconds, import + clients seconds, clients built.
_PROBE = """import sys, time
t = time.perf_counter()
import {module}
imported = time.perf_counter() - t
aws = sys.modules.get("shared.aws")
built = aws.warm() if aws is not None else 0
print(imported, time.perf_counter() - t, built)
"""


def handler_modules() -> list[str]:
    """Every function's handler module, from pipeline.json: a new function is measured without editing this file."""
    functions = json.loads((ROOT / "pipeline.json").read_text())["functions"]
    return [f"{f['kind']}.{name}.handler" for name, f in sorted(functions.items())]


def import_seconds(module: str) -> float:
    """Seconds ``import module`` takes in a fresh interpreter (interpreter start-up itself excluded)."""
    return probe(module)[0]


def probe(module: str) -> tuple[float, float, int]:
    """In a fresh interpreter: seconds ``import module`` takes, seconds until its lazy clients are built as
    well, and how many there were."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DATABASE_"))} | ENV
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run(
        [sys.executable, "-c", _PROBE.format(module=module)], env=env, cwd=ROOT, capture_output=True, text=True
    )
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"import {module} failed: {last}")
    imported, first_use, built = done.stdout.strip().splitlines()[-1].split()
    return float(imported), float(first_use), int(built)


def run(*, repeats: int) -> list[Figure]:
    modules = handler_modules()
    samples: dict[str, list[float]] = {m: [] for m in ["boto3", *modules]}
    first_use: dict[str, list[float]] = {m: [] for m in modules}
    clients: dict[str, int] = {}
    failed: dict[str, str] = {}
    import_seconds("boto3")  # a first, untimed run warms the page cache and writes any missing .pyc
    for _ in range(repeats):
        for module in samples:  # interleaved, so drift hits every module alike
            if module in failed:
                continue
            try:
                imported, used, built = probe(module)
            except RuntimeError as e:
                failed[module] = str(e)
                continue
            samples[module].append(imported)
            if module in first_use:
                first_use[module].append(used)
                clients[module] = built
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
    for module in modules:  # after the imports, so the table reads as: what init pays, then what moved
        if module in failed or not clients.get(module):
            continue
        value = statistics.median(first_use[module])
        out.append(
            Figure(
                f"first use: {module}",
                f"{value * 1000:.0f} ms",
                f"{value / base:.2f}x",
                note=f"import + its {clients[module]} lazy client(s) built, median of {repeats}",
            )
        )
    return out
