"""reset_table Lambda handler: empty one allow-listed table, outside production, and say how many rows went."""

from typing import Any

from psycopg2 import sql

from shared import config, db, observability
from utilities.reset_table import transform

CONFIG = config.load(database=True)
observability.setup_logging(CONFIG.log_level)
LOG = observability.get_logger(__name__)
DB = db.for_function(CONFIG)


def handler(event: Any, context: Any) -> dict[str, Any]:
    try:
        table = transform.check(event, stage=CONFIG.stage)
    except transform.Refused as e:
        LOG.warning("reset refused", extra={"reason": str(e), "stage": CONFIG.stage})
        return {"statusCode": e.status, "error": str(e)}
    name = sql.Identifier(table)

    def reset(cur: Any) -> int:
        cur.execute(sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(name))
        cur.execute(sql.SQL("SELECT count(*) FROM {}").format(name))
        (removed,) = cur.fetchone()
        cur.execute(sql.SQL("TRUNCATE {}").format(name))
        return int(removed)

    removed = DB.run(reset)
    LOG.warning("table reset", extra={"table": table, "removed": removed, "stage": CONFIG.stage})
    return {"statusCode": 200, "table": table, "removed": removed}
