"""migrate Lambda handler: apply pending migrations, say which versions it applied, and (when the settings ask,
DATABASE_IAM_LOGINS=1) make RDS IAM authentication the login method of the functions' login roles."""

from typing import Any

from shared import config, db, migrations, observability

CONFIG = config.load(database=True)
observability.setup_logging(CONFIG.log_level)
LOG = observability.get_logger(__name__)
DB = db.for_function(CONFIG)
MIGRATIONS = migrations.available()
IAM_LOGINS = CONFIG.database is not None and CONFIG.database.iam_logins


def handler(event: Any, context: Any) -> dict[str, Any]:
    def migrate(cur: Any) -> tuple[list[str], list[str] | None]:
        applied = migrations.apply(cur, MIGRATIONS)
        return applied, migrations.grant_iam_login(cur) if IAM_LOGINS else None

    applied, iam = DB.run(migrate)
    LOG.info("migrations applied" if applied else "schema current", extra={"applied": applied})
    reply: dict[str, Any] = {
        "statusCode": 200,
        "applied": applied,
        "current": MIGRATIONS[-1].version if MIGRATIONS else None,
    }
    if iam is not None:
        if not iam:
            LOG.warning("DATABASE_IAM_LOGINS=1 but the server has no rds_iam role: logins keep their current method")
        reply["iam_logins"] = iam
    return reply
