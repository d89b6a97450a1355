"""Local pipeline throughput: events through error_source, moto's Kinesis and the event source mapping emulator
into committed rows, with the time split between the parts so the bottleneck has a name; and how far behind
the consumer falls (its iterator age) while a producer writes at a fixed rate."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg2

from bench import data
from bench.report import Figure, rate

__all__ = ["run"]

REQUEST_EVENTS = 500  # error_source's limit per request


def _time_calls(client: Any, bucket: dict[str, float]) -> None:
    """Add the wall time of each API call (signing, HTTP, moto's work, parsing) to ``bucket[operation]``."""
    started: dict[str, float] = {}

    def before(model: Any, **_: Any) -> None:
        started[model.name] = time.perf_counter()

    def after(model: Any, **_: Any) -> None:
        bucket[model.name] += time.perf_counter() - started.pop(model.name)

    client.meta.events.register("before-call.kinesis", before)
    client.meta.events.register("after-call.kinesis", after)


def run(database_url: str, *, n: int) -> list[Figure]:
    from local.postgres import free_port
    from local.stack import LocalStack

    state = Path(tempfile.mkdtemp(prefix="evpipe-bench-stack-"))
    stack = LocalStack(state, moto_port=free_port(), database_url=database_url)
    try:
        stack.start()
        os.environ.update(stack.env)  # before the producer's first import: it builds its client from these
        figures = _measure(stack, n)
        return figures + _lag(stack, rate_per_s=LAG_RATE, seconds=LAG_SECONDS if n > 1000 else 2.0)
    finally:
        stack.stop()
        shutil.rmtree(state, ignore_errors=True)


def _measure(stack: Any, n: int) -> list[Figure]:
    from producers.error_source import handler as producer
    from shared import aws

    with psycopg2.connect(stack.database_url) as conn, conn.cursor() as cur:
        cur.execute("TRUNCATE errors, dead_letters")
    calls: dict[str, float] = defaultdict(float)
    _time_calls(aws.client("kinesis", producer.CONFIG), calls)
    mapping = stack.mapping("error_sink", window_s=0.0)  # no batching window: measure work, not waiting
    _time_calls(mapping.kinesis, calls)
    sink_seconds = [0.0]
    sink: Callable[..., Any] = mapping.handler

    def timed_sink(event: Any, context: Any) -> Any:
        start = time.perf_counter()
        try:
            return sink(event, context)
        finally:
            sink_seconds[0] += time.perf_counter() - start

    mapping.handler = timed_sink
    raw = data.raw_events(n, seed=23)
    out = io.StringIO()
    start = time.perf_counter()
    with contextlib.redirect_stdout(out):  # the functions' EMF lines
        for first in range(0, n, REQUEST_EVENTS):
            reply = producer.handler({"events": raw[first : first + REQUEST_EVENTS]}, None)
            if reply["statusCode"] != 202:
                raise RuntimeError(f"error_source answered {reply['statusCode']}")
        produced = time.perf_counter()
        mapping.drain(idle_polls=1)
    end = time.perf_counter()
    with psycopg2.connect(stack.database_url) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM errors")
        (rows,) = cur.fetchone()
    if rows != n:
        raise RuntimeError(f"{n} events sent but {rows} rows committed")

    put = calls.pop("PutRecords", 0.0)
    read = sum(calls.values())
    parts = {
        "producer (validate, encode, aggregate)": (produced - start) - put,
        "moto Kinesis (PutRecords)": put,
        "moto Kinesis (GetRecords and shard calls)": read,
        "mapping emulator (event building)": (end - produced) - read - sink_seconds[0],
        "consumer (de-aggregate, validate, write)": sink_seconds[0],
    }
    total = end - start
    split = ", ".join(f"{name} {seconds / total:.0%}" for name, seconds in parts.items())
    components: dict[str, float] = defaultdict(float)
    for name, seconds in parts.items():
        components[name.split(" (")[0]] += seconds
    bottleneck = max(components, key=lambda name: components[name])
    return [
        Figure(
            "local pipeline throughput",
            rate(n, total, "events"),
            note=f"{n} events in requests of {REQUEST_EVENTS}, {mapping.invocations} consumer invocation(s); "
            f"time split: {split}",
        ),
        Figure("local pipeline bottleneck", bottleneck, f"{components[bottleneck] / total:.0%} of the time"),
    ]


LAG_RATE = 2000  # events a second, in requests of 100 every 50 ms
LAG_SECONDS = 20.0


def _lag(stack: Any, *, rate_per_s: int, seconds: float) -> list[Figure]:
    """The consumer's iterator age (the newest record's age when its batch is handed to the function, as
    Lambda's IteratorAge metric) while error_source writes ``rate_per_s`` events a second for ``seconds``."""
    import json
    import statistics
    import threading

    from producers.error_source import handler as producer

    with psycopg2.connect(stack.database_url) as conn, conn.cursor() as cur:
        cur.execute("TRUNCATE errors, dead_letters")
    mapping = stack.mapping("error_sink")  # the local settings, batching window included
    mapping.seek_to_end()
    metrics = io.StringIO()
    mapping.metrics_out = metrics
    per_request = 100
    interval = per_request / rate_per_s
    total = int(rate_per_s * seconds) // per_request * per_request
    raw = data.raw_events(total, seed=29)
    done = threading.Event()

    def produce() -> None:
        start = time.perf_counter()
        try:
            for i, first in enumerate(range(0, total, per_request)):
                time.sleep(max(0.0, start + i * interval - time.perf_counter()))
                if producer.handler({"events": raw[first : first + per_request]}, None)["statusCode"] != 202:
                    raise RuntimeError("error_source refused a request")
        finally:
            done.set()

    # One redirect for both threads (sys.stdout is the process's): the functions' EMF lines are not figures.
    with contextlib.redirect_stdout(io.StringIO()):
        writer = threading.Thread(target=produce)
        writer.start()
        while not done.is_set():
            mapping.poll_once()
        writer.join()
        mapping.drain(idle_polls=1)
    ages = [doc["IteratorAge"] for doc in map(json.loads, metrics.getvalue().splitlines()) if "IteratorAge" in doc]
    if not ages:
        raise RuntimeError("the mapping invoked nothing")
    ages.sort()
    shards = len(stack.kinesis().list_shards(StreamName="errors")["Shards"])
    p50, p99 = statistics.median(ages), ages[min(len(ages) - 1, int(0.99 * len(ages)))]
    return [
        Figure(
            "iterator age at a fixed producer rate",
            f"{p50:,.0f} ms median",
            f"p99 {p99:,.0f} ms, max {ages[-1]:,.0f} ms",
            note=f"{rate_per_s} events/s for {seconds:.0f} s into {shards} shards, {len(ages)} invocations, "
            f"the local batching window ({mapping.config.window_s} s) included",
        )
    ]
