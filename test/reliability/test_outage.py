"""A database outage of three minutes, on the emulator with the mapping settings Terraform deploys: no record is
lost, none goes to the on-failure queue, and no row is written twice.

The consumer waits the outage out inside each invocation while it has time (its function timeout, 120 s, as
pipeline.json gives it to Terraform), then fails the invocation; the mapping retries with backoff until the record's
maximum age (MaximumRetryAttempts -1), bisecting on each failure. Slow by nature: it waits the three minutes.
"""

from __future__ import annotations

import sys
import threading
import time
from contextlib import closing

import pytest

from local.stack import MANIFEST, MAPPINGS
from test.reliability.conftest import Row, function_errors
from test.support import connect, counts, error_event

pytestmark = [pytest.mark.integration, pytest.mark.slow]

OUTAGE_S = 180.0


def _terraform_timeout(function: str) -> int:
    """The function's timeout as Terraform deploys it: its entry in pipeline.json."""
    return int(MANIFEST["functions"][function]["timeout"])


@pytest.mark.timeout(OUTAGE_S + 600)
def test_a_three_minute_database_outage_costs_no_record(local_stack, produce, db, summary):
    (config,) = [c for name, _, c in MAPPINGS if name == "error_sink"]
    assert (config.max_retries, config.bisect) == (-1, True)  # Terraform's settings, which a parity test holds
    esm = local_stack.mapping("error_sink", window_s=0.0)
    esm.seek_to_end()
    esm.timeout_s = _terraform_timeout("error_sink")
    local_stack.read_failures("error_sink")  # whatever earlier tests left
    events = [error_event(70_000 + i) for i in range(500)]
    for start in range(0, len(events), 100):
        assert produce({"events": events[start : start + 100]}, None)["statusCode"] == 202
    sink_db = sys.modules["consumers.error_sink.handler"].DB
    retries_before, invocations_before = sink_db.retries, esm.invocations
    errors = function_errors(esm)
    postgres = local_stack.postgres
    postgres.stop(mode="immediate")
    started = time.monotonic()
    delivered: list[int] = []
    drainer = threading.Thread(target=lambda: delivered.append(esm.drain(timeout_s=OUTAGE_S + 600)))
    drainer.start()
    try:
        time.sleep(OUTAGE_S)
    finally:
        postgres.start()
    drainer.join(timeout=600)
    assert not drainer.is_alive()
    elapsed = time.monotonic() - started
    with closing(connect(local_stack.database_url)) as conn:  # the old connection died with the server
        rows, dead = counts(conn)
    failures = local_stack.read_failures("error_sink")
    summary(
        Row(
            f"PostgreSQL down {OUTAGE_S:.0f} s, Terraform's mapping settings ({elapsed:.0f} s to land)",
            500,
            rows,
            0,
            dead,
        )
    )
    assert failures == [], "a record went to the on-failure queue"
    assert (rows, dead) == (500, 0)
    assert sink_db.retries > retries_before  # the consumer waited inside its invocations
    assert errors and set(errors) == {"DatabaseError"}  # and then failed them, for the mapping to retry
    assert esm.invocations - invocations_before < 100  # retried with backoff, not in a tight loop
