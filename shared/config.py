"""Settings read from the environment once, failing fast with every missing or malformed name listed.

This is the only module that reads ``os.environ``; everything else takes a ``Settings`` value.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from shared.dsn import SSLMODES, parse_url
from shared.exceptions import ConfigError

__all__ = ["DatabaseSettings", "Settings", "load"]

_STAGE = re.compile(r"^[a-z][a-z0-9-]{0,31}$")
_STREAM = re.compile(r"^[a-zA-Z0-9_.-]{1,128}$")
DEFAULT_RESET_STAGES = frozenset({"local", "qa", "dev", "test"})
_LOG_LEVELS = frozenset({"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"})
# The CA bundle the build ships (`make rds-ca`): the RDS CA bundle
# (https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem) plus the Amazon Trust Services roots
# RDS Proxy's certificate chains to; DATABASE_SSLROOTCERT names another file.
RDS_CA_BUNDLE = Path(__file__).parent / "certs" / "rds-global-bundle.pem"


@dataclass(frozen=True, slots=True)
class DatabaseSettings:
    """Where the database is and how to log in: a URL, a Secrets Manager secret plus host and name, or an RDS
    IAM auth token for ``user`` plus host and name. ``sslmode`` and ``sslrootcert`` apply to every way."""

    url: str | None = None
    secret_arn: str | None = None
    host: str | None = None
    name: str | None = None
    port: int = 5432
    user: str | None = None  # the login role, with DATABASE_IAM_AUTH
    iam_auth: bool = False  # the password is an RDS IAM auth token made per connection
    iam_logins: bool = False  # migrate: make IAM authentication the login roles' login method (GRANT rds_iam)
    sslmode: str = "verify-full"
    sslrootcert: str | None = None
    connect_timeout: int = 5

    def __repr__(self) -> str:  # the URL may carry a password: never print it
        return (
            f"DatabaseSettings(host={self.host!r}, name={self.name!r}, user={self.user!r}, "
            f"secret={'yes' if self.secret_arn else 'no'}, iam_auth={self.iam_auth}, sslmode={self.sslmode!r})"
        )


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything a function may need, already checked."""

    stage: str
    region: str
    endpoint_url: str | None = None
    # AWS_ENDPOINT_URL_<SERVICE> beside a local endpoint: one service elsewhere (the local kinesis-mock engine).
    service_endpoints: Mapping[str, str] = field(default_factory=dict)
    stream_name: str | None = None
    database: DatabaseSettings | None = None
    log_level: str = "INFO"
    publish_deadline_s: float = 10.0
    alert_topic_arn: str | None = None
    alert_threshold: int = 10
    # Stages where reset_table may empty a table (RESET_ALLOWED_STAGES, comma-separated): an allow-list, so a
    # stage nobody thought of (prd, prod-eu) is refused.
    reset_allowed_stages: frozenset[str] = DEFAULT_RESET_STAGES
    # maintain: days of errors (by occurred_at) and dead_letters (by created_at) kept (RETENTION_DAYS).
    retention_days: int | None = None


def _int(env: Mapping[str, str], name: str, default: int, lo: int, hi: int, problems: list[str]) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        problems.append(f"{name} must be an integer, got {raw!r}")
        return default
    if not lo <= value <= hi:
        problems.append(f"{name} must be between {lo} and {hi}, got {value}")
    return value


MAX_RETENTION_DAYS = 3650


def _retention(env: Mapping[str, str], problems: list[str]) -> int | None:
    raw = (env.get("RETENTION_DAYS") or "").strip()
    if not raw:
        problems.append("RETENTION_DAYS is required: the days of errors and dead letters to keep")
        return None
    try:
        days = int(raw)
    except ValueError:
        problems.append(f"RETENTION_DAYS must be a whole number of days, got {raw[:16]!r}")
        return None
    if not 1 <= days <= MAX_RETENTION_DAYS:
        problems.append(f"RETENTION_DAYS must be between 1 and {MAX_RETENTION_DAYS} days, got {days}")
        return None
    return days


def _stages(env: Mapping[str, str], name: str, default: frozenset[str], problems: list[str]) -> frozenset[str]:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    stages = [part.strip() for part in raw.split(",") if part.strip()]
    bad = [stage for stage in stages if not _STAGE.match(stage)]
    if bad:
        problems.append(f"{name} must be stage names separated by commas, got {', '.join(map(repr, bad[:3]))}")
    return frozenset(stages)


def _flag(env: Mapping[str, str], name: str, problems: list[str]) -> bool:
    raw = (env.get(name) or "").strip().lower()
    if raw in {"", "0", "false", "no"}:
        return False
    if raw in {"1", "true", "yes"}:
        return True
    problems.append(f"{name} must be 1 or 0, got {raw[:16]!r}")
    return False


def _database(env: Mapping[str, str], problems: list[str]) -> DatabaseSettings | None:
    url = env.get("DATABASE_URL") or None
    secret = env.get("DATABASE_SECRET_ARN") or None
    iam = _flag(env, "DATABASE_IAM_AUTH", problems)
    iam_logins = _flag(env, "DATABASE_IAM_LOGINS", problems)
    if url is None and secret is None and not iam:
        problems.append(
            "DATABASE_URL or DATABASE_SECRET_ARN is required (or DATABASE_IAM_AUTH=1 with DATABASE_HOST, "
            "DATABASE_NAME and DATABASE_USER)"
        )
        return None
    if url is not None and (secret is not None or iam):
        problems.append("DATABASE_URL cannot be combined with DATABASE_SECRET_ARN or DATABASE_IAM_AUTH: set one way")
    elif secret is not None and iam:
        problems.append("DATABASE_SECRET_ARN cannot be combined with DATABASE_IAM_AUTH=1: set one way")
    port = _int(env, "DATABASE_PORT", 5432, 1, 65535, problems)
    timeout = _int(env, "DATABASE_CONNECT_TIMEOUT", 5, 1, 60, problems)
    env_sslmode = env.get("DATABASE_SSLMODE") or None
    if env_sslmode is not None and env_sslmode not in SSLMODES:
        problems.append(f"DATABASE_SSLMODE must be one of {sorted(SSLMODES)}, got {env_sslmode[:32]!r}")
        env_sslmode = None
    env_rootcert = env.get("DATABASE_SSLROOTCERT") or None
    # TLS settings given in the URL's query count as much as the environment's; two different ones are refused.
    in_url: dict[str, str] = {}
    if url is not None:
        try:
            in_url = {k: v for k, v in parse_url(url).items() if k in {"sslmode", "sslrootcert"}}
        except ConfigError as e:
            problems.append(str(e))
    for option, value in (("sslmode", env_sslmode), ("sslrootcert", env_rootcert)):
        if value is not None and option in in_url and in_url[option] != value:
            problems.append(f"DATABASE_{option.upper()} and the {option} in DATABASE_URL differ: set it in one place")
    sslmode = env_sslmode or in_url.get("sslmode") or "verify-full"
    rootcert = env_rootcert or in_url.get("sslrootcert") or (str(RDS_CA_BUNDLE) if RDS_CA_BUNDLE.exists() else None)
    if iam and sslmode != "verify-full":
        problems.append(f"DATABASE_IAM_AUTH=1 needs DATABASE_SSLMODE=verify-full, got {sslmode}")
    if sslmode.startswith("verify") and rootcert is None:
        problems.append(
            f"DATABASE_SSLMODE={sslmode} needs a CA bundle: set DATABASE_SSLROOTCERT, or ship the RDS bundle "
            "in the zip with `make rds-ca` before building"
        )
    elif rootcert is not None and not Path(rootcert).is_file():
        problems.append(f"DATABASE_SSLROOTCERT names {rootcert!r}, which is not a file")
    if url is not None:
        return DatabaseSettings(
            url=url, sslmode=sslmode, sslrootcert=rootcert, connect_timeout=timeout, iam_logins=iam_logins
        )
    host = env.get("DATABASE_HOST") or None
    name = env.get("DATABASE_NAME") or None
    user = env.get("DATABASE_USER") or None
    way = "DATABASE_IAM_AUTH=1" if iam else "DATABASE_SECRET_ARN"
    required = [("DATABASE_HOST", host), ("DATABASE_NAME", name)] + ([("DATABASE_USER", user)] if iam else [])
    for key, value in required:
        if value is None:
            problems.append(f"{key} is required with {way}")
    return DatabaseSettings(
        secret_arn=None if iam else secret,
        host=host,
        name=name,
        port=port,
        user=user,
        iam_auth=iam,
        iam_logins=iam_logins,
        sslmode=sslmode,
        sslrootcert=rootcert,
        connect_timeout=timeout,
    )


def load(
    *,
    stream: bool = False,
    database: bool = False,
    alerts: bool = False,
    retention: bool = False,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Read and check the settings a function needs; raise ConfigError naming every problem at once."""
    env = os.environ if environ is None else environ
    problems: list[str] = []

    stage = env.get("STAGE", "")
    if not _STAGE.match(stage):
        problems.append(f"STAGE is required and must match {_STAGE.pattern}, got {stage!r}")
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or ""
    if not region:
        problems.append("AWS_REGION is required")
    endpoint = env.get("AWS_ENDPOINT_URL") or None
    if endpoint is not None and not endpoint.startswith(("http://", "https://")):
        problems.append(f"AWS_ENDPOINT_URL must be an http(s) URL, got {endpoint!r}")
    if env.get("USE_LOCALSTACK") and endpoint is None:
        # Once read, now gone: left alone it would send a LocalStack setup's calls to real AWS without a word.
        problems.append("USE_LOCALSTACK is no longer read: set AWS_ENDPOINT_URL to the local endpoint instead")
    log_level = (env.get("LOG_LEVEL") or env.get("AWS_LAMBDA_LOG_LEVEL") or "INFO").upper()
    if log_level not in _LOG_LEVELS:
        problems.append(f"LOG_LEVEL must be one of {sorted(_LOG_LEVELS)}, got {log_level!r}")

    stream_name = None
    deadline = 10.0
    if stream:
        stream_name = env.get("STREAM_NAME", "")
        if not _STREAM.match(stream_name):
            problems.append(f"STREAM_NAME is required and must match {_STREAM.pattern}, got {stream_name!r}")
        deadline = _int(env, "PUBLISH_DEADLINE_MS", 10_000, 100, 600_000, problems) / 1000.0

    db = _database(env, problems) if database else None
    reset_stages = _stages(env, "RESET_ALLOWED_STAGES", DEFAULT_RESET_STAGES, problems)

    topic, threshold = None, 10
    if alerts:
        topic = env.get("ALERT_TOPIC_ARN") or None
        if topic is None or not topic.startswith("arn:"):
            problems.append(f"ALERT_TOPIC_ARN is required and must be an SNS topic ARN, got {topic!r}")
        threshold = _int(env, "ALERT_THRESHOLD", 10, 1, 1_000_000, problems)

    retention_days = _retention(env, problems) if retention else None

    if problems:
        raise ConfigError("invalid configuration: " + "; ".join(problems))
    return Settings(
        stage=stage,
        region=region,
        endpoint_url=endpoint,
        service_endpoints={
            name[len("AWS_ENDPOINT_URL_") :].lower(): value
            for name, value in env.items()
            if name.startswith("AWS_ENDPOINT_URL_") and value and endpoint is not None
        },
        stream_name=stream_name,
        database=db,
        log_level=log_level,
        publish_deadline_s=deadline,
        alert_topic_arn=topic,
        alert_threshold=threshold,
        reset_allowed_stages=reset_stages,
        retention_days=retention_days,
    )
