"""maintain Lambda handler, run daily by a schedule: partitions of errors for the days ahead, the days past the
retention (RETENTION_DAYS) dropped, and the default partition's and dead_letters' older rows deleted.

It connects as the schema owner (migrate's settings): creating and dropping partitions needs the owner of errors.
The scheduled event's content is not read; the day is today's in UTC.
"""

from datetime import UTC, datetime
from typing import Any

from shared import config, db, observability
from utilities.maintain import partitions

CONFIG = config.load(database=True, retention=True)
observability.setup_logging(CONFIG.log_level)
LOG = observability.get_logger(__name__)
DB = db.for_function(CONFIG)


def handler(event: Any, context: Any) -> dict[str, Any]:
    # config.load(retention=True) refuses to start without a retention; the planner refuses one under a day.
    done = partitions.maintain(DB, today=datetime.now(UTC).date(), retention_days=CONFIG.retention_days or 0)
    LOG.info("maintenance done", extra={"maintenance": done})
    if done["busy"] or done["failed"]:
        # Raised after everything else was done, so Lambda counts an error (alarmed) and its asynchronous retry
        # runs it again.
        steps = [f"{step} (lock not free)" for step in done["busy"]] + done["failed"]
        raise RuntimeError(f"maintenance incomplete: {'; '.join(steps)}")
    return {"statusCode": 200, **done}
