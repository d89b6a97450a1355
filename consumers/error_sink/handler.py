"""error_sink Lambda handler: the imperative shell around transform.py."""

import gc
import itertools
from typing import Any

from consumers.error_sink import transform
from shared import config, db, events, kinesis, observability

CONFIG = config.load(database=True)
observability.setup_logging(CONFIG.log_level)
LOG = observability.get_logger(__name__)
DB = db.for_function(CONFIG)
kinesis.load_codec()  # at init, not in the first batch
events.load_reader()


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    records = event.get("Records", [])
    plan = transform.Plan()
    pending = transform.stream(records, plan)  # read while the database loads the rows before: both work at once

    def write(cur: Any) -> transform.Outcome:
        rows = itertools.chain(plan.rows[:], pending)  # a retried attempt first resends what the failed one read
        written, rejected = db.insert_or_reject(
            cur, "errors", transform.ERROR_COLUMNS, rows, key=transform.ERROR_KEY, line=transform.copy_line
        )
        dead = plan.dead_letters + transform.refused(plan, rejected)
        db.insert_idempotent(cur, "dead_letters", transform.DEAD_LETTER_COLUMNS, dead, key=transform.DEAD_LETTER_KEY)
        return transform.Outcome(plan.records_in, written, len(plan.rows) - len(rejected) - written, len(dead))

    collecting = gc.isenabled()
    gc.disable()  # a batch makes ~20 objects a record and no cycles: collecting mid-batch cost 15% of its time
    try:
        outcome = DB.run(write)  # a DatabaseError propagates: Lambda retries (and bisects) the batch
    finally:
        if collecting:
            gc.enable()
    observability.emit_metrics("error_sink", outcome.metrics())
    if outcome.dead_letters:
        LOG.warning(
            "records dead-lettered",
            extra={"dead_letters": outcome.dead_letters, "event_source_arn": plan.event_source_arn},
        )
    return {"batchItemFailures": []}
