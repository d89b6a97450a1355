"""reset_table Lambda handler: empty one allow-listed table, in an allowed stage, and say how many rows went."""

from typing import Any

import psycopg2.errors
from psycopg2 import sql

from shared import config, db, observability
from shared.exceptions import Rejected
from utilities.reset_table import transform

CONFIG = config.load(database=True)
observability.setup_logging(CONFIG.log_level)
LOG = observability.get_logger(__name__)
DB = db.for_function(CONFIG)


def handler(event: Any, context: Any) -> dict[str, Any]:
    try:
        table = transform.parse_request(event, stage=CONFIG.stage, allowed_stages=CONFIG.reset_allowed_stages)
    except Rejected as e:
        LOG.warning("reset refused", extra={"reason": str(e), "stage": CONFIG.stage})
        return e.response()
    name = sql.Identifier(table)

    timeout_ms = transform.LOCK_TIMEOUT_MS

    def reset(cur: Any) -> int | None:
        # SET LOCAL: the timeout ends with this transaction, so a reused connection keeps its defaults.
        cur.execute("SET LOCAL lock_timeout = %s", (f"{int(timeout_ms)}ms",))
        try:
            cur.execute(sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(name))
        except psycopg2.errors.LockNotAvailable:
            cur.connection.rollback()  # nothing happened yet; leave the connection clean for the next call
            return None
        # Counted under the lock, so no row arrives between the count and the TRUNCATE. The function (migration
        # 0006) counts for a role that may truncate the table but not read it.
        cur.execute("SELECT reset_table_row_count(%s::regclass)", (table,))
        (removed,) = cur.fetchone()
        cur.execute(sql.SQL("TRUNCATE {}").format(name))
        return int(removed)

    removed = DB.run(reset)
    if removed is None:
        LOG.warning("reset timed out waiting for its lock", extra={"table": table, "lock_timeout_ms": timeout_ms})
        return Rejected(409, transform.lock_timeout_message(table, timeout_ms)).response()
    LOG.warning("table reset", extra={"table": table, "removed": removed, "stage": CONFIG.stage})
    return {"statusCode": 200, "table": table, "removed": removed}
