"""The benchmarks still run: ``python -m bench --quick`` exits 0 and prints every figure (not a measurement)."""

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
FIGURES = [
    "consumer vs raw COPY",
    "consumer vs naive INSERT",
    "de-aggregation vs tight loop",
    "producer aggregation rate",
    "aggregate fill",
    "PutRecords calls per 10k events",
    "log levels: F1, worst format",
    "log levels: F1 over Loki's rules, closest format",
    "log levels: false positives on INFO-only logs",
    "log levels: classification rate",
    "cold start: import boto3",
    "cold start: producers.error_source.handler",
    "cold start: consumers.error_sink.handler",
    "zip",
    "local pipeline throughput",
    "local pipeline bottleneck",
    "cost per million events: Lambda x86_64",
    "cost per million events: Kinesis on-demand",
    "cost per million events: RDS Proxy",
]


def test_quick_run_prints_every_figure():
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick"], cwd=ROOT, capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, done.stderr[-2000:]
    for name in FIGURES:
        assert name in done.stdout, f"{name!r} missing from:\n{done.stdout}"
    assert "PASS" in done.stdout or "FAIL" in done.stdout
