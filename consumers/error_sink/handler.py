"""error_sink Lambda handler: the imperative shell around transform.py."""

import gc
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from consumers.error_sink import transform
from shared import bulk, config, db, invocation, kinesis, observability, rows

CONFIG = config.load(database=True)
observability.setup_logging(CONFIG.log_level)
LOG = observability.get_logger(__name__)
DB = db.for_function(CONFIG)
kinesis.load_codec()  # at init, not in the first batch
rows.load_reader()


def write_batch(cur: Any, records: Sequence[dict[str, Any]]) -> transform.Outcome:
    """One attempt at the batch, in the caller's transaction. Everything is read again from ``records``, so a
    retried attempt writes the whole batch, never only what a failed one had not read yet."""
    plan = transform.Plan()
    rows = transform.stream(records, plan)  # read while the database loads the rows before: both work at once
    written, rejected = bulk.insert_or_reject(
        cur, "errors", transform.ERROR_COLUMNS, rows, key=transform.ERROR_KEY, line=transform.copy_line
    )
    dead = plan.dead_letters + transform.refused(plan, rejected)
    bulk.insert_idempotent(cur, "dead_letters", transform.DEAD_LETTER_COLUMNS, dead, key=transform.DEAD_LETTER_KEY)
    return transform.Outcome.of(plan, written, rejected)


@contextmanager
def gc_paused() -> Iterator[None]:
    """A batch makes about 20 objects a record and no cycles: collecting mid-batch cost 15% of its time."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    records = event.get("Records", [])
    with gc_paused():
        # Waits out a database outage while the invocation has time; then a DatabaseError makes Lambda retry.
        outcome = DB.run(lambda cur: write_batch(cur, records), time_left_s=invocation.time_left_s(context))
    observability.emit_metrics("error_sink", outcome.metrics())
    if outcome.dead_letters:
        arn = records[0].get("eventSourceARN", "") if records else ""
        LOG.warning("records dead-lettered", extra={"dead_letters": outcome.dead_letters, "event_source_arn": arn})
    return outcome.response()
