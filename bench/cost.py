"""Cost per million events, from durations measured in this run and the price constants below.

The price constants are the one place docs/capacity.md takes its prices from. Each says where it was read and
when; the ones that could not be read from a pricing page are marked as assumptions. All are us-east-1,
on-demand, before free tiers and tiered discounts.

Measured here, the way the functions spend their billed time:
- the consumer: error_sink's handler on one Lambda-shaped batch of aggregated records, warm connection, to
  committed rows (median of the repeats); one invocation per batch;
- the producer: error_source's work for one request of 500 events (validate, encode, aggregate, PutRecords into
  an in-memory fake), so the PutRecords round trip to Kinesis is NOT in it: the real invocation waits for it too,
  which only the pipeline figures (moto) or a deployed stage can show.

Memory sizes are read from pipeline.json, the topology Terraform deploys, so a change there changes the figure.
"""

from __future__ import annotations

import contextlib
import io
import statistics
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import psycopg2

from bench import data
from bench.report import Figure
from shared import kinesis
from shared.publisher import Publisher

__all__ = ["PRICES", "Prices", "lambda_memory_mb", "run"]

PRODUCER_REQUEST_EVENTS = 500  # error_source's limit per request, and so per aggregated record
PUT_PAYLOAD_UNIT_BYTES = 25 * 1024
KIB = 1024
GIB = 1024**3


@dataclass(frozen=True)
class Prices:
    """USD, us-east-1, read 2026-12-01 (see each field)."""

    # Read from the AWS Lambda pricing figures as quoted on public pages found with the search tool
    # (https://cloudchipr.com/blog/aws-lambda-pricing, a lambda cost guide quoting the same table):
    # the first pricing tier of duration, and requests.
    lambda_request_per_million: float = 0.20
    lambda_gb_second_x86_64: float = 0.0000166667
    lambda_gb_second_arm64: float = 0.0000133334
    # ASSUMPTIONS: the Kinesis pricing page (aws.amazon.com/kinesis/data-streams/pricing) was found but its
    # price table could not be read (it is rendered by a script); these are the us-east-1 figures as last known.
    # What the page did say: PUT payload units are 25 KB chunks of a record; on-demand bills data in per GB
    # with each record rounded up to 1 KB, data out per GB per reader, and an hourly charge per stream.
    kinesis_shard_hour: float = 0.015
    kinesis_put_payload_units_per_million: float = 0.014
    kinesis_on_demand_stream_hour: float = 0.04
    kinesis_on_demand_gb_in: float = 0.08
    kinesis_on_demand_gb_out: float = 0.04
    # ASSUMPTION: RDS Proxy bills per vCPU-hour of the instance behind it; the figure could not be read.
    rds_proxy_vcpu_hour: float = 0.015


PRICES = Prices()
# vCPUs of the instance classes the tfvars use (what RDS Proxy bills on).
INSTANCE_VCPUS = {"db.t4g.micro": 2, "db.t4g.medium": 2}


def lambda_memory_mb(function: str) -> int:
    """The memory_size of ``function`` in pipeline.json, the topology Terraform deploys."""
    from local import manifest

    return int(manifest.load()["functions"][function]["memory_size"])


def lambda_cost(invocations: float, seconds_each: float, memory_mb: int, gb_second: float) -> float:
    """Requests plus duration (billed per ms, memory in GB = MB / 1024)."""
    billed = max(0.001, round(seconds_each, 3))
    return invocations * PRICES.lambda_request_per_million / 1e6 + invocations * billed * memory_mb / 1024 * gb_second


def _consumer_seconds(database_url: str, n: int, repeats: int) -> tuple[float, int]:
    from consumers.error_sink import handler as sink

    event = data.lambda_event(kinesis.aggregate(data.wire_events(n, seed=23)))
    conn = psycopg2.connect(database_url)

    def truncate() -> None:
        with conn.cursor() as cur:
            cur.execute("TRUNCATE errors, dead_letters")
        conn.commit()

    times = []
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            truncate()
            sink.handler(event, None)  # warm: the connection a warm Lambda already holds
            for _ in range(repeats):
                truncate()
                start = time.perf_counter()
                sink.handler(event, None)
                times.append(time.perf_counter() - start)
        truncate()
    finally:
        conn.close()
    return statistics.median(times), len(event["Records"])


def _producer_seconds(requests: int) -> tuple[float, float]:
    """Median seconds of one 500-event request's work, and the mean event size on the wire."""
    from bench.producer import FakeKinesis
    from producers.error_source import transform

    raw = data.raw_events(PRODUCER_REQUEST_EVENTS * requests, seed=29)
    publisher = Publisher(FakeKinesis(), "errors")
    received = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    times, sizes = [], []
    for k in range(requests):
        chunk = raw[k * PRODUCER_REQUEST_EVENTS : (k + 1) * PRODUCER_REQUEST_EVENTS]
        start = time.perf_counter()
        batch = transform.prepare(transform.Request(chunk, http=False), received_at=received)
        assert not publisher.publish(batch.records).failed
        times.append(time.perf_counter() - start)
        sizes += [len(r.data) for r in batch.records]
    return statistics.median(times), sum(sizes) / len(sizes) / PRODUCER_REQUEST_EVENTS


def run(database_url: str, *, n: int, repeats: int) -> list[Figure]:
    consumer_s, consumer_records = _consumer_seconds(database_url, n, repeats)
    producer_s, event_bytes = _producer_seconds(max(3, repeats))
    sink_mb, source_mb = lambda_memory_mb("error_sink"), lambda_memory_mb("error_source")
    million = 1e6
    consumer_invocations = million / n
    producer_invocations = million / PRODUCER_REQUEST_EVENTS
    lam = {
        arch: lambda_cost(producer_invocations, producer_s, source_mb, price)
        + lambda_cost(consumer_invocations, consumer_s, sink_mb, price)
        for arch, price in (("x86_64", PRICES.lambda_gb_second_x86_64), ("arm64", PRICES.lambda_gb_second_arm64))
    }
    # One aggregated record per request: its PUT payload units, and on-demand's 1 KB rounding.
    record_bytes = event_bytes * PRODUCER_REQUEST_EVENTS
    put_units = producer_invocations * -(-record_bytes // PUT_PAYLOAD_UNIT_BYTES)
    provisioned_put = put_units * PRICES.kinesis_put_payload_units_per_million / million
    # A shard takes 1 MiB/s: a million events fill it for this many shard-hours (at 100% use).
    shard_hours = million * event_bytes / (1024 * 1024) / 3600
    provisioned = provisioned_put + shard_hours * PRICES.kinesis_shard_hour
    gb_in = producer_invocations * -(-record_bytes // KIB) * KIB / GIB
    on_demand = gb_in * PRICES.kinesis_on_demand_gb_in + 2 * gb_in * PRICES.kinesis_on_demand_gb_out  # 2 readers
    # The proxy bills by the hour whatever the traffic: per million events at the consumer's measured rate.
    proxy_hour = INSTANCE_VCPUS["db.t4g.medium"] * PRICES.rds_proxy_vcpu_hour
    ceiling = n / consumer_s  # events/s one consumer invocation sustains here
    proxy_at_ceiling = proxy_hour * million / ceiling / 3600
    proxy_at_1k = proxy_hour * million / 1000 / 3600
    setup = (
        f"error_sink {consumer_s * 1000:.0f} ms a {n}-event batch ({consumer_records} aggregated records) at "
        f"{sink_mb} MB; error_source {producer_s * 1000:.1f} ms a {PRODUCER_REQUEST_EVENTS}-event request at "
        f"{source_mb} MB (PutRecords round trip not included); events of {event_bytes:.0f} bytes"
    )
    return [
        Figure(
            "cost per million events: Lambda x86_64",
            f"${lam['x86_64']:.4f}",
            f"arm64 ${lam['arm64']:.4f}",
            note=f"{setup}; {producer_invocations:.0f} producer and {consumer_invocations:.0f} consumer invocations "
            f"per million; prices read 2026-12-01 (bench/cost.py PRICES)",
        ),
        Figure(
            "cost per million events: Kinesis provisioned",
            f"${provisioned:.4f}",
            f"{put_units:,.0f} PUT units, {shard_hours:.3f} shard-h",
            note="shard-hours at 100% of 1 MiB/s (divide by the real utilisation); prices are assumptions "
            "(bench/cost.py)",
        ),
        Figure(
            "cost per million events: Kinesis on-demand",
            f"${on_demand:.4f}",
            f"{gb_in:.3f} GB in, 2 readers",
            note=f"plus ${PRICES.kinesis_on_demand_stream_hour}/stream-hour whatever the traffic; prices are "
            "assumptions (bench/cost.py)",
        ),
        Figure(
            "cost per million events: RDS Proxy",
            f"${proxy_at_1k:.4f} at 1k events/s",
            f"${proxy_at_ceiling:.5f} at {ceiling:,.0f}/s",
            note=f"db.t4g.medium, {INSTANCE_VCPUS['db.t4g.medium']} vCPUs x ${PRICES.rds_proxy_vcpu_hour}/vCPU-hour "
            "(an assumption), billed by the hour: per million events it falls as traffic grows",
        ),
    ]
