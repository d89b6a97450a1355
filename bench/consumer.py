"""Consumer end to end: a Lambda-shaped aggregated batch through error_sink's handler, against raw COPY and a
naive one-INSERT-per-row consumer, all into the same table of the same PostgreSQL in the same run."""

from __future__ import annotations

import contextlib
import io
import math
import statistics
import time
from collections.abc import Callable
from typing import Any

import psycopg2
from psycopg2 import sql

from bench import data
from bench.report import Figure, rate
from shared import bulk, kinesis

__all__ = ["run"]


def _timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def run(database_url: str, *, n: int, repeats: int) -> list[Figure]:
    repeats += repeats % 2  # rounds go in pairs, one in each order
    from consumers.error_sink import handler as sink
    from consumers.error_sink import transform

    event = data.lambda_event(kinesis.aggregate(data.wire_events(n, seed=11)))
    plan = transform.plan(event["Records"])
    assert len(plan.rows) == n and not plan.dead_letters, "the benchmark batch must be all valid rows"
    columns = sql.SQL(", ").join(map(sql.Identifier, transform.ERROR_COLUMNS))
    copy_sql = sql.SQL("COPY errors ({}) FROM STDIN").format(columns)
    insert_sql = sql.SQL("INSERT INTO errors ({}) VALUES ({}) ON CONFLICT ({}) DO NOTHING").format(
        columns,
        sql.SQL(", ").join([sql.Placeholder()] * len(transform.ERROR_COLUMNS)),
        sql.SQL(", ").join(map(sql.Identifier, transform.ERROR_KEY)),
    )
    copy_text = "".join(map(bulk.copy_line, plan.rows))  # COPY's input is prepared before the clock starts

    conn = psycopg2.connect(database_url)
    metrics = io.StringIO()

    def count() -> int:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM errors")
            (rows,) = cur.fetchone()
        conn.commit()
        return int(rows)

    def truncate() -> None:
        with conn.cursor() as cur:
            cur.execute("TRUNCATE errors, dead_letters")
        conn.commit()

    def consumer() -> None:
        with contextlib.redirect_stdout(metrics):  # the handler's EMF line
            sink.handler(event, None)

    def raw_copy() -> None:
        with conn.cursor() as cur:
            cur.copy_expert(copy_sql.as_string(cur), io.StringIO(copy_text))
        conn.commit()

    def naive() -> None:
        rows = transform.plan(event["Records"]).rows
        with conn.cursor() as cur:
            for row in rows:
                cur.execute(insert_sql, row)
        conn.commit()

    try:
        # Warm up: the handler's connection opens once per container, and the first COPY loads catalogs.
        for fn in (consumer, raw_copy):
            truncate()
            fn()
        times: dict[str, list[float]] = {"consumer": [], "copy": [], "naive": [], "replay": [], "plan": []}
        for round_ in range(repeats):
            # The naive INSERTs take seconds a round and only need to show the order of magnitude: 3 rounds.
            # The consumer and the raw COPY take turns going first: whichever follows the other's writes (and the
            # server's work after them) would otherwise always be the one slowed, and the ratio would carry it.
            pair = (("consumer", consumer), ("copy", raw_copy))
            timed = pair[:: 1 if round_ % 2 == 0 else -1] + ((("naive", naive),) if round_ < 3 else ())
            for name, fn in timed:
                truncate()
                times[name].append(_timed(fn))
                if count() != n:
                    raise RuntimeError(f"{name} committed {count()} rows, not {n}")
            times["replay"].append(_timed(consumer))  # every row a duplicate: the replay after a retry
            if count() != n:
                raise RuntimeError("a replay changed the row count")
            times["plan"].append(_timed(lambda: transform.plan(event["Records"])))
        truncate()
    finally:
        conn.close()

    t = {name: statistics.median(values) for name, values in times.items()}

    def paired(name: str) -> float:
        # Each round times the consumer, the raw COPY and the replay one after another, so a round's ratio sees
        # the same machine; the median of the rounds' ratios drifts less than a ratio of two medians would. Two
        # rounds in a row see both orders, so each pair's ratios are combined (their geometric mean) first.
        ratios = [c / x for c, x in zip(times["copy"], times[name], strict=True)]
        return statistics.median(math.sqrt(a * b) for a, b in zip(ratios[::2], ratios[1::2], strict=False))

    vs_copy, vs_naive, vs_replay = paired("consumer"), t["naive"] / t["consumer"], paired("replay")
    split = (
        f"median of {repeats} rounds, {n} rows in {len(event['Records'])} aggregated records; ratios: each round's "
        f"paired, the consumer and the raw COPY taking turns first, the median over pairs of rounds; "
        f"{t['consumer'] * 1000:.0f} ms a batch, of which reading it (transform.plan alone: "
        f"{t['plan'] * 1000:.0f} ms) overlaps the COPY"
    )
    return [
        Figure("consumer end to end", rate(n, t["consumer"], "rows"), note=split),
        Figure("  raw COPY, same rows", rate(n, t["copy"], "rows"), note=""),
        Figure("  naive INSERT per row", rate(n, t["naive"], "rows")),
        Figure("consumer vs raw COPY", rate(n, t["consumer"], "rows"), f"{vs_copy:.2f}x", ">= 0.90x", vs_copy >= 0.9),
        Figure("consumer vs naive INSERT", rate(n, t["consumer"], "rows"), f"{vs_naive:.1f}x", ">= 4x", vs_naive >= 4),
        Figure(
            "consumer replay of a stored batch vs raw COPY",
            rate(n, t["replay"], "rows"),
            f"{vs_replay:.2f}x",
            ">= 1.00x",
            vs_replay >= 1.0,
            note="the same batch again, every row already stored (a retried batch): it writes nothing, so it should "
            "cost no more than a first delivery's raw COPY",
        ),
    ]
