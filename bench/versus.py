"""Before and after in one run: the consumer as of a git ref and as in the work tree, against raw COPY.

python -m bench.versus [REF] [--repeats N] [--n N]     (REF defaults to HEAD)

Absolute times drift on a shared machine, and even a ratio moves between runs, so a change is best judged with
both versions measured in the same run. REF is exported with ``git archive`` into a temporary folder; each
version runs ``consumers.error_sink.handler.handler`` in a process of its own (its own code, warm as on a warm
Lambda), and the three measurements (raw COPY, REF, work tree) take turns against one PostgreSQL, on the same
Lambda-shaped batch, the table truncated before each outside the clock. Each version also replays its batch
right after (every row already stored: a retried batch), timed the same way. The schema is the work tree's.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import psycopg2
from psycopg2 import sql

from bench import coldstart, data
from bench.report import Figure, rate, table

__all__ = ["main"]

ROOT = Path(__file__).resolve().parent.parent

# Runs in the version's own tree: one timed batch through its handler per line read from stdin.
_CHILD = """
import contextlib, io, json, os, sys, time
import psycopg2
from consumers.error_sink import handler as sink

with open(sys.argv[1], encoding="utf-8") as f:
    event = json.load(f)
conn = psycopg2.connect(os.environ["DATABASE_URL"])
conn.autocommit = True
out, metrics = sys.stdout, io.StringIO()
for line in sys.stdin:
    if line.strip() != "replay":  # a replay is the same batch again, every row already stored
        with conn.cursor() as cur:
            cur.execute("TRUNCATE errors, dead_letters")
    with contextlib.redirect_stdout(metrics):
        start = time.perf_counter()
        sink.handler(event, None)
        seconds = time.perf_counter() - start
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM errors")
        (rows,) = cur.fetchone()
    print(json.dumps({"seconds": seconds, "rows": rows}), file=out, flush=True)
"""


class _Version:
    """A warm handler in a process of its own, timed one batch at a time."""

    def __init__(self, tree: Path, event_file: Path, database_url: str) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DATABASE_"))} | coldstart.ENV
        env |= {"DATABASE_URL": database_url, "PYTHONPATH": str(tree)}
        self._process = subprocess.Popen(
            [sys.executable, "-c", _CHILD, str(event_file)],
            cwd=tree,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def run(self, n: int, *, replay: bool = False) -> float:
        """Seconds for one batch into an empty table, or with ``replay`` for the same batch again."""
        stdin, stdout = self._process.stdin, self._process.stdout
        assert stdin is not None and stdout is not None
        stdin.write("replay\n" if replay else "go\n")
        stdin.flush()
        line = stdout.readline()
        if not line:
            raise RuntimeError(f"the handler process ended (exit code {self._process.wait()})")
        result = json.loads(line)
        if result["rows"] != n:
            raise RuntimeError(f"committed {result['rows']} rows, not {n}")
        return float(result["seconds"])

    def close(self) -> None:
        if self._process.stdin is not None:
            self._process.stdin.close()
        self._process.wait(timeout=30)


def _export(ref: str, folder: Path) -> str:
    """REF's files into ``folder``; returns the commit's short name."""
    commit = subprocess.run(
        ["git", "rev-parse", "--short", f"{ref}^{{commit}}"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    archive = subprocess.run(["git", "archive", "--format=tar", commit], cwd=ROOT, capture_output=True, check=True)
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(folder, filter="data")
    return commit


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.versus", description=__doc__.splitlines()[0])
    parser.add_argument("ref", nargs="?", default="HEAD", help="the git ref to compare against (default: HEAD)")
    parser.add_argument("--repeats", type=int, default=9, help="timed batches per version (median taken)")
    parser.add_argument("--n", type=int, default=10_000, help="user records in the batch")
    args = parser.parse_args(argv)
    os.environ.update(coldstart.ENV)

    from bench.__main__ import _migrate
    from consumers.error_sink import transform
    from local.postgres import LocalPostgres
    from shared import bulk, kinesis

    folder = Path(tempfile.mkdtemp(prefix="evpipe-versus-"))
    postgres = LocalPostgres(folder / "pg")
    versions: dict[str, _Version] = {}
    try:
        commit = _export(args.ref, folder / "ref")
        postgres.start()
        _migrate(postgres.url)
        event = data.lambda_event(kinesis.aggregate(data.wire_events(args.n, seed=11)))
        event_file = folder / "event.json"
        event_file.write_text(json.dumps(event), encoding="utf-8")
        copy_text = "".join(map(bulk.copy_line, transform.plan(event["Records"]).rows))
        versions = {
            commit: _Version(folder / "ref", event_file, postgres.url),
            "work tree": _Version(ROOT, event_file, postgres.url),
        }
        conn = psycopg2.connect(postgres.url)
        columns = sql.SQL(", ").join(map(sql.Identifier, transform.ERROR_COLUMNS))
        copy_sql = sql.SQL("COPY errors ({}) FROM STDIN").format(columns).as_string(conn)

        def raw_copy() -> float:
            with conn.cursor() as cur:
                cur.execute("TRUNCATE errors, dead_letters")
            conn.commit()
            start = time.perf_counter()
            with conn.cursor() as cur:
                cur.copy_expert(copy_sql, io.StringIO(copy_text))
            conn.commit()
            return time.perf_counter() - start

        raw_copy()  # warm up: the first COPY loads catalogs, the first batch opens each handler's connection
        for version in versions.values():
            version.run(args.n)
        times: dict[str, list[float]] = {"raw COPY": []}
        for name in versions:
            times |= {name: [], f"{name} replay": []}
        for round_ in range(args.repeats):
            # Each round starts with a different one of the three, so none is always the one that follows
            # another's writes (and the server's work after them).
            order = ["raw COPY", *versions]
            for name in order[round_ % 3 :] + order[: round_ % 3]:
                if name == "raw COPY":
                    times[name].append(raw_copy())
                    continue
                times[name].append(versions[name].run(args.n))
                times[f"{name} replay"].append(versions[name].run(args.n, replay=True))
        conn.close()
    finally:
        for version in versions.values():
            version.close()
        postgres.stop()
        shutil.rmtree(folder, ignore_errors=True)

    t = {name: statistics.median(values) for name, values in times.items()}
    load = os.getloadavg()[0]
    figures = [Figure("raw COPY, same rows", rate(args.n, t["raw COPY"], "rows"))]
    for name in versions:
        ratio = t["raw COPY"] / t[name]
        value = rate(args.n, t[name], "rows")
        figures.append(Figure(f"consumer vs raw COPY: {name}", value, f"{ratio:.2f}x", ">= 0.50x", ratio >= 0.5))
    for name in versions:
        ratio = t["raw COPY"] / t[f"{name} replay"]
        value = rate(args.n, t[f"{name} replay"], "rows")
        figures.append(Figure(f"replay of a stored batch vs raw COPY: {name}", value, f"{ratio:.2f}x"))
    figures.append(Figure(f"work tree vs {commit}", "", f"{t[commit] / t['work tree']:.2f}x"))
    replayed = t[f"{commit} replay"] / t["work tree replay"]
    figures.append(Figure(f"work tree vs {commit}, replay", "", f"{replayed:.2f}x"))
    print(f"{args.n} rows, median of {args.repeats} interleaved batches; load average {load:.1f}\n")
    print(table(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
