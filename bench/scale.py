"""Many shards into one database, and the consumer's memory: figures for running at scale.

- 4 consumers at once: four processes, one a shard, each running error_sink's handler on its own batch, all
  against one PostgreSQL, against four processes doing a raw COPY of the same distinct rows at once; once with
  each shard's events its own, once with a tenth of each batch's events also in the next shard's batch (the
  overlap a resend under another partition key makes, here at the worst moment: in flight together). Also
  timed: the four consumers' write alone (each batch read into rows before the clock), which tells the cost of
  the write path from the cost of reading the batches in Python on the cores PostgreSQL shares.
- Peak memory: a fresh process reads a 6 MB invocation payload (Lambda's limit) the way the runtime does,
  json.loads, and hands it to the handler; its peak RSS is what a function's memory size must hold.
"""

from __future__ import annotations

import io
import json
import multiprocessing
import os
import resource
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg2
from psycopg2 import sql

from bench import data
from bench.report import Figure, rate
from shared import kinesis

__all__ = ["run"]

WORKERS = 4
PAYLOAD_LIMIT = 6 * 1024 * 1024  # bytes of one invocation's JSON payload


def _events(n: int, overlap: int) -> tuple[list[dict[str, Any]], list[list[tuple[str, bytes]]]]:
    """One Lambda event per shard, each holding ``overlap`` of the next shard's events too; and the distinct
    (key, data) each shard stores for the first time."""
    per_shard = [data.wire_events(n, seed=100 + k) for k in range(WORKERS)]
    batches = [per_shard[k] + per_shard[(k + 1) % WORKERS][:overlap] for k in range(WORKERS)]
    events = [data.lambda_event(kinesis.aggregate(b), shard=k) for k, b in enumerate(batches)]
    return events, per_shard


def _consumer(event_path: str, barrier: Any, out: Any) -> None:
    import contextlib

    from consumers.error_sink import handler

    event = json.loads(Path(event_path).read_text())
    with contextlib.redirect_stdout(io.StringIO()):
        handler.DB.run(lambda cur: cur.execute("SELECT 1"))  # the connection a warm Lambda already has
        barrier.wait()
        start, cpu = time.monotonic(), time.process_time()
        handler.handler(event, None)
        out.put((start, time.monotonic(), time.process_time() - cpu))


def _writer(event_path: str, barrier: Any, out: Any) -> None:
    """The consumer's write alone: its batch read into rows before the clock, then the handler's insert of them."""
    from consumers.error_sink import handler, transform
    from shared import bulk

    rows = transform.plan(json.loads(Path(event_path).read_text())["Records"]).rows
    handler.DB.run(lambda cur: cur.execute("SELECT 1"))

    def write(cur: Any) -> Any:
        return bulk.insert_or_reject(
            cur, "errors", transform.ERROR_COLUMNS, rows, key=transform.ERROR_KEY, line=transform.copy_line
        )

    with handler.gc_paused():
        barrier.wait()
        start, cpu = time.monotonic(), time.process_time()
        handler.DB.run(write)
        out.put((start, time.monotonic(), time.process_time() - cpu))


def _raw_copy(database_url: str, text_path: str, barrier: Any, out: Any) -> None:
    from consumers.error_sink import transform

    text = Path(text_path).read_text()
    columns = sql.SQL(", ").join(map(sql.Identifier, transform.ERROR_COLUMNS))
    conn = psycopg2.connect(database_url)
    try:
        barrier.wait()
        start, cpu = time.monotonic(), time.process_time()
        with conn.cursor() as cur:
            cur.copy_expert(sql.SQL("COPY errors ({}) FROM STDIN").format(columns).as_string(cur), io.StringIO(text))
        conn.commit()
        out.put((start, time.monotonic(), time.process_time() - cpu))
    finally:
        conn.close()


def _together(ctx: Any, target: Any, args: list[tuple[Any, ...]]) -> tuple[float, float]:
    """Wall time from the first start to the last end of WORKERS processes released by one barrier, and the CPU
    time the processes themselves used in it (PostgreSQL's not counted)."""
    barrier, out = ctx.Barrier(len(args)), ctx.Queue()
    procs = [ctx.Process(target=target, args=(*a, barrier, out)) for a in args]
    for p in procs:
        p.start()
    spans = [out.get(timeout=600) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        if p.exitcode != 0:
            raise RuntimeError(f"a benchmark process exited with {p.exitcode}")
    return max(end for _, end, _ in spans) - min(start for start, _, _ in spans), sum(cpu for _, _, cpu in spans)


def _count_and_truncate(database_url: str) -> int:
    with psycopg2.connect(database_url) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM errors")
        (rows,) = cur.fetchone()
        cur.execute("TRUNCATE errors, dead_letters")
    conn.close()
    return int(rows)


def _peak_rss(event_path: str, out: Any) -> None:
    import contextlib

    from consumers.error_sink import handler

    before = _high_water_kb()
    event = json.loads(Path(event_path).read_bytes())  # what the runtime does with the payload
    with contextlib.redirect_stdout(io.StringIO()):
        handler.handler(event, None)
    out.put((before, _high_water_kb(), len(event["Records"])))


def _high_water_kb() -> int:
    """This process's peak RSS. Not getrusage's ru_maxrss: Linux carries that over exec from the parent, so a
    spawned process would report the benchmark's own size."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _six_mb_event() -> dict[str, Any]:
    """The largest aggregated batch whose invocation payload stays within 6 MB."""
    records: list[kinesis.AggregatedRecord] = []
    seed = 500
    while True:
        more = kinesis.aggregate(data.wire_events(2000, seed=seed))
        seed += 1
        for record in more:
            candidate = data.lambda_event([*records, record])
            if len(json.dumps(candidate)) > PAYLOAD_LIMIT:
                return data.lambda_event(records)
            records.append(record)


@dataclass
class _Run:
    """Medians over the repeats: raw COPYs' time over the consumers' (and over the writers' alone, when timed),
    the consumers' time, and the CPU seconds the client processes used (consumers, raw COPYs)."""

    ratio: float
    consumer_s: float
    writer_ratio: float | None
    consumer_cpu_s: float
    copy_cpu_s: float


def _concurrent(
    ctx: Any, database_url: str, folder: Path, n: int, overlap: int, repeats: int, *, writers: bool = False
) -> _Run:
    from consumers.error_sink import transform
    from shared import bulk

    events, distinct = _events(n, overlap)
    event_paths, text_paths = [], []
    for k in range(WORKERS):
        (folder / f"event{k}.json").write_text(json.dumps(events[k]))
        plan = transform.plan(data.lambda_event(kinesis.aggregate(distinct[k]), shard=k)["Records"])
        (folder / f"rows{k}.txt").write_text("".join(map(bulk.copy_line, plan.rows)))
        event_paths.append(str(folder / f"event{k}.json"))
        text_paths.append(str(folder / f"rows{k}.txt"))
    total = WORKERS * n
    ratios, writer_ratios, consumer_t, consumer_cpu, copy_cpu = [], [], [], [], []
    _count_and_truncate(database_url)
    for _ in range(repeats):
        c, c_cpu = _together(ctx, _consumer, [(p,) for p in event_paths])
        if (stored := _count_and_truncate(database_url)) != total:
            raise RuntimeError(f"4 consumers stored {stored} rows, not {total}")
        r, r_cpu = _together(ctx, _raw_copy, [(database_url, p) for p in text_paths])
        if (stored := _count_and_truncate(database_url)) != total:
            raise RuntimeError(f"4 raw COPYs stored {stored} rows, not {total}")
        if writers:
            w, _ = _together(ctx, _writer, [(p,) for p in event_paths])
            if (stored := _count_and_truncate(database_url)) != total:
                raise RuntimeError(f"4 writers stored {stored} rows, not {total}")
            writer_ratios.append(r / w)
        consumer_t.append(c)
        ratios.append(r / c)
        consumer_cpu.append(c_cpu)
        copy_cpu.append(r_cpu)
    median = statistics.median
    return _Run(
        median(ratios),
        median(consumer_t),
        median(writer_ratios) if writer_ratios else None,
        median(consumer_cpu),
        median(copy_cpu),
    )


def run(database_url: str, *, n: int, repeats: int) -> list[Figure]:
    ctx = multiprocessing.get_context("spawn")  # fresh interpreters: nothing inherited from this process's state
    folder = Path(tempfile.mkdtemp(prefix="evpipe-scale-"))
    total = WORKERS * n
    apart = _concurrent(ctx, database_url, folder, n, 0, repeats, writers=True)
    shared = _concurrent(ctx, database_url, folder, n, max(1, n // 10), repeats)

    six = folder / "six.json"
    six.write_text(json.dumps(_six_mb_event()))
    out = ctx.Queue()
    proc = ctx.Process(target=_peak_rss, args=(str(six), out))
    proc.start()
    before_kb, peak_kb, records = out.get(timeout=600)
    proc.join(timeout=60)
    _count_and_truncate(database_url)
    size_mb = six.stat().st_size / 1e6
    for path in folder.iterdir():
        path.unlink()
    folder.rmdir()
    peak_mb = peak_kb / 1024
    setup = f"{WORKERS} processes x {n} rows, median of {repeats}, {os.cpu_count()} CPUs for them and PostgreSQL"
    return [
        Figure(
            "4 consumers vs 4 raw COPYs",
            rate(total, apart.consumer_s, "rows"),
            f"{apart.ratio:.2f}x",
            ">= 0.80x",
            apart.ratio >= 0.8,
            note=f"{setup}; each shard's events its own; CPU of the client processes alone: consumers "
            f"{apart.consumer_cpu_s:.2f} s, raw COPYs {apart.copy_cpu_s:.2f} s (reading the batches is the difference, "
            "on the cores PostgreSQL needs)",
        ),
        Figure(
            "  the same, a tenth of ids shared",
            rate(total, shared.consumer_s, "rows"),
            f"{shared.ratio:.2f}x",
            note="each batch holds a tenth of the next shard's events, in flight at the same moment: a writer "
            "must wait for the other's commit to know whether a key is new",
        ),
        Figure(
            "  4 writers alone (rows read before) vs 4 raw COPYs",
            "",
            f"{apart.writer_ratio:.2f}x",
            note="the consumers' insert_or_reject of the same rows, read into memory before the clock: what the "
            "write path costs beside a raw COPY",
        ),
        Figure(
            "consumer peak RSS, 6 MB batch",
            f"{peak_mb:.0f} MB",
            "",
            "<= 100 MB",
            peak_mb <= 100,
            note=f"{size_mb:.1f} MB payload, {records} records; {before_kb / 1024:.0f} MB after import alone "
            f"(Python {sys.version_info.major}.{sys.version_info.minor})",
        ),
    ]
