"""migrate Lambda handler: apply pending migrations and say which versions it applied."""

from typing import Any

from shared import config, db, migrations, observability

CONFIG = config.load(database=True)
observability.setup_logging(CONFIG.log_level)
LOG = observability.get_logger(__name__)
DB = db.for_function(CONFIG)
MIGRATIONS = migrations.available()


def handler(event: Any, context: Any) -> dict[str, Any]:
    applied = DB.run(lambda cur: migrations.apply(cur, MIGRATIONS))
    LOG.info("migrations applied" if applied else "schema current", extra={"applied": applied})
    return {"statusCode": 200, "applied": applied, "current": MIGRATIONS[-1].version if MIGRATIONS else None}
