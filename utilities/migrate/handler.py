"""migrate Lambda handler: apply pending migrations, say which versions it applied, and (when the settings ask,
DATABASE_IAM_LOGINS=1) make RDS IAM authentication the login method of the functions' login roles; or, behind
RDS Proxy (DATABASE_LOGIN_SECRETS, a JSON object of login role => Secrets Manager ARN), give each login role the
password in its secret, which the proxy logs in with."""

import json
import os
from typing import Any

from shared import aws, config, db, migrations, observability
from shared.exceptions import ConfigError

CONFIG = config.load(database=True)
observability.setup_logging(CONFIG.log_level)
LOG = observability.get_logger(__name__)
DB = db.for_function(CONFIG)
MIGRATIONS = migrations.available()
IAM_LOGINS = CONFIG.database is not None and CONFIG.database.iam_logins


def _login_secrets(text: str) -> dict[str, str]:
    try:
        value = json.loads(text) if text else {}
    except ValueError:
        raise ConfigError("DATABASE_LOGIN_SECRETS must be a JSON object of login role => secret ARN") from None
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise ConfigError("DATABASE_LOGIN_SECRETS must be a JSON object of login role => secret ARN")
    if value and IAM_LOGINS:
        raise ConfigError("DATABASE_LOGIN_SECRETS cannot be combined with DATABASE_IAM_LOGINS=1: set one way")
    return value


LOGIN_SECRETS = _login_secrets(os.environ.get("DATABASE_LOGIN_SECRETS", ""))


def _login_passwords() -> dict[str, str]:
    """Each login role's password, read from its secret ({"username": ..., "password": ...})."""
    read = aws.secret_reader(CONFIG)
    return {role: str(json.loads(read(arn))["password"]) for role, arn in LOGIN_SECRETS.items()}


def handler(event: Any, context: Any) -> dict[str, Any]:
    passwords = _login_passwords() if LOGIN_SECRETS else None

    def migrate(cur: Any) -> tuple[list[str], list[str] | None, list[str] | None]:
        applied = migrations.apply(cur, MIGRATIONS)
        iam = migrations.grant_iam_login(cur) if IAM_LOGINS else None
        return applied, iam, migrations.set_login_passwords(cur, passwords) if passwords is not None else None

    applied, iam, password_logins = DB.run(migrate)
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
    if password_logins is not None:
        reply["password_logins"] = password_logins
    return reply
