"""Configuration fails fast and names every missing or malformed setting at once."""

import pytest

from shared import config
from shared.exceptions import ConfigError

BASE = {"STAGE": "qa", "AWS_REGION": "eu-west-1"}


def test_every_problem_is_named_at_once():
    with pytest.raises(ConfigError) as err:
        config.load(stream=True, database=True, environ={})
    message = str(err.value)
    for name in ("STAGE", "AWS_REGION", "STREAM_NAME", "DATABASE_URL or DATABASE_SECRET_ARN"):
        assert name in message


def test_secret_needs_host_and_name():
    with pytest.raises(ConfigError, match=r"DATABASE_HOST is required.*DATABASE_NAME is required"):
        config.load(database=True, environ={**BASE, "DATABASE_SECRET_ARN": "arn:aws:secretsmanager:x"})


@pytest.mark.parametrize(
    ("env", "reason"),
    [
        ({"STAGE": "Prod!"}, "STAGE is required and must match"),
        ({"DATABASE_PORT": "five"}, "DATABASE_PORT must be an integer"),
        ({"DATABASE_PORT": "70000"}, "DATABASE_PORT must be between 1 and 65535"),
        ({"DATABASE_SSLMODE": "sometimes"}, "DATABASE_SSLMODE must be one of"),
        ({"AWS_ENDPOINT_URL": "localhost:4566"}, "AWS_ENDPOINT_URL must be an http(s) URL"),
        ({"LOG_LEVEL": "chatty"}, "LOG_LEVEL must be one of"),
    ],
)
def test_malformed_values_are_named(env, reason):
    environ = {**BASE, "DATABASE_URL": "postgresql://u@h/db", **env}
    with pytest.raises(ConfigError) as err:
        config.load(database=True, environ=environ)
    assert reason in str(err.value)


def test_secret_settings_default_to_verified_tls(tmp_path):
    bundle = tmp_path / "ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    env = {**BASE, "DATABASE_SECRET_ARN": "arn:s", "DATABASE_HOST": "db.internal", "DATABASE_NAME": "events"}
    settings = config.load(database=True, environ={**env, "DATABASE_SSLROOTCERT": str(bundle)})
    assert settings.database is not None
    assert settings.database.sslmode == "verify-full"
    assert settings.database.sslrootcert == str(bundle)
    assert settings.database.host == "db.internal"


def test_verify_full_without_a_ca_bundle_fails_fast(monkeypatch, tmp_path):
    monkeypatch.setattr(config, "RDS_CA_BUNDLE", tmp_path / "absent.pem")
    env = {**BASE, "DATABASE_SECRET_ARN": "arn:s", "DATABASE_HOST": "db.internal", "DATABASE_NAME": "events"}
    with pytest.raises(ConfigError, match="DATABASE_SSLMODE=verify-full needs a CA bundle"):
        config.load(database=True, environ=env)
    with pytest.raises(ConfigError, match="is not a file"):
        config.load(database=True, environ={**env, "DATABASE_SSLROOTCERT": str(tmp_path / "nope.pem")})


def test_database_repr_never_shows_the_url():
    env = {**BASE, "DATABASE_URL": "postgresql://app:s3cr3t-pass@db/events", "DATABASE_SSLMODE": "disable"}
    settings = config.load(database=True, environ=env)
    assert "s3cr3t-pass" not in repr(settings)


def test_publish_deadline_is_read_in_milliseconds():
    env = {**BASE, "STREAM_NAME": "errors", "PUBLISH_DEADLINE_MS": "2500"}
    assert config.load(stream=True, environ=env).publish_deadline_s == 2.5


# --------------------------------------------------------------------------- DATABASE_URL: no password echoed

SECRET = "Sup3r-s3cret"


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        (f"postgresql://app:{SECRET}%zz@db.internal/events", "does not start a %XX escape"),
        (f"postgresql://app:{SECRET}%@db.internal/events", "does not start a %XX escape"),
        (f"postgresql://app:{SECRET}%ff@db.internal/events", "not UTF-8"),
        (f"postgresql://app:pa/{SECRET}@db.internal/events", "'/' or '?' in the user or password"),
        (f"postgresql://app:pa?{SECRET}@db.internal/events", "'/' or '?' in the user or password"),
        (f"postgresql://app:p@{SECRET}@db.internal/events", "more than one '@'"),
        (f"postgresql://app:p#{SECRET}@db.internal/events", "contains a '#'"),
        (f"postgresql://app:{SECRET}@db.internal:{SECRET}/events", "port that is not a number"),
        (f"postgresql://app:{SECRET}@db.internal/events?{SECRET.lower()}x=1", "not a libpq keyword"),
        (f"mysql://app:{SECRET}@db.internal/events", "must start with postgresql://"),
    ],
)
def test_a_malformed_url_is_named_without_echoing_it(url, reason):
    env = {**BASE, "DATABASE_URL": url, "DATABASE_SSLMODE": "disable"}
    with pytest.raises(ConfigError) as err:
        config.load(database=True, environ=env)
    assert reason in str(err.value)
    assert SECRET not in str(err.value) and SECRET.lower() not in str(err.value)
    assert "db.internal" not in str(err.value)  # no part of the URL at all


# --------------------------------------------------------------------------- TLS settings honoured on every path


def test_a_url_defaults_to_verified_tls(monkeypatch, tmp_path):
    monkeypatch.setattr(config, "RDS_CA_BUNDLE", tmp_path / "absent.pem")
    env = {**BASE, "DATABASE_URL": "postgresql://app@db.internal/events"}
    with pytest.raises(ConfigError, match="DATABASE_SSLMODE=verify-full needs a CA bundle"):
        config.load(database=True, environ=env)
    bundle = tmp_path / "ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    settings = config.load(database=True, environ={**env, "DATABASE_SSLROOTCERT": str(bundle)})
    assert settings.database is not None
    assert (settings.database.sslmode, settings.database.sslrootcert) == ("verify-full", str(bundle))


def test_sslmode_in_the_url_counts_and_a_conflict_is_refused():
    url = "postgresql://app@db.internal/events?sslmode=require"
    settings = config.load(database=True, environ={**BASE, "DATABASE_URL": url})
    assert settings.database is not None and settings.database.sslmode == "require"
    same = config.load(database=True, environ={**BASE, "DATABASE_URL": url, "DATABASE_SSLMODE": "require"})
    assert same.database is not None and same.database.sslmode == "require"
    with pytest.raises(ConfigError, match="DATABASE_SSLMODE and the sslmode in DATABASE_URL differ"):
        config.load(database=True, environ={**BASE, "DATABASE_URL": url, "DATABASE_SSLMODE": "disable"})
    with pytest.raises(ConfigError, match="sslmode that is not one of"):
        config.load(database=True, environ={**BASE, "DATABASE_URL": url.replace("require", "sometimes")})


def test_sslrootcert_in_the_url_conflicting_with_the_environment_is_refused(tmp_path):
    a, b = tmp_path / "a.pem", tmp_path / "b.pem"
    for f in (a, b):
        f.write_text("-----BEGIN CERTIFICATE-----\n")
    url = f"postgresql://app@db.internal/events?sslrootcert={a}"
    settings = config.load(database=True, environ={**BASE, "DATABASE_URL": url})
    assert settings.database is not None and settings.database.sslrootcert == str(a)
    with pytest.raises(ConfigError, match="DATABASE_SSLROOTCERT and the sslrootcert in DATABASE_URL differ"):
        config.load(database=True, environ={**BASE, "DATABASE_URL": url, "DATABASE_SSLROOTCERT": str(b)})


def test_a_url_and_a_secret_together_are_refused():
    env = {**BASE, "DATABASE_URL": "postgresql://u@h/db", "DATABASE_SSLMODE": "disable", "DATABASE_SECRET_ARN": "arn:s"}
    with pytest.raises(ConfigError, match="DATABASE_URL cannot be combined with DATABASE_SECRET_ARN"):
        config.load(database=True, environ=env)


# --------------------------------------------------------------------------- RDS IAM authentication


def test_iam_auth_needs_host_name_user_and_verify_full(tmp_path):
    bundle = tmp_path / "ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    env = {**BASE, "DATABASE_IAM_AUTH": "1", "DATABASE_SSLROOTCERT": str(bundle)}
    with pytest.raises(ConfigError) as err:
        config.load(database=True, environ=env)
    for name in ("DATABASE_HOST", "DATABASE_NAME", "DATABASE_USER"):
        assert f"{name} is required with DATABASE_IAM_AUTH=1" in str(err.value)
    full = {**env, "DATABASE_HOST": "db.internal", "DATABASE_NAME": "events", "DATABASE_USER": "read_table_login"}
    settings = config.load(database=True, environ=full)
    assert settings.database is not None
    assert settings.database.iam_auth and settings.database.user == "read_table_login"
    assert settings.database.secret_arn is None
    with pytest.raises(ConfigError, match="DATABASE_IAM_AUTH=1 needs DATABASE_SSLMODE=verify-full, got require"):
        config.load(database=True, environ={**full, "DATABASE_SSLMODE": "require"})
    with pytest.raises(ConfigError, match="DATABASE_SECRET_ARN cannot be combined with DATABASE_IAM_AUTH=1"):
        config.load(database=True, environ={**full, "DATABASE_SECRET_ARN": "arn:s"})
    with pytest.raises(ConfigError, match="DATABASE_IAM_AUTH must be 1 or 0"):
        config.load(database=True, environ={**full, "DATABASE_IAM_AUTH": "maybe"})


def test_retention_is_read_for_maintain_only():
    assert config.load(environ=BASE).retention_days is None
    assert config.load(retention=True, environ={**BASE, "RETENTION_DAYS": "90"}).retention_days == 90


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (None, "RETENTION_DAYS is required"),
        ("0", "RETENTION_DAYS must be between 1 and 3650 days, got 0"),
        ("-7", "RETENTION_DAYS must be between 1 and 3650 days, got -7"),
        ("3651", "RETENTION_DAYS must be between 1 and 3650 days"),
        ("a week", "RETENTION_DAYS must be a whole number of days"),
    ],
)
def test_a_missing_or_bad_retention_is_refused(raw, reason):
    env = BASE if raw is None else {**BASE, "RETENTION_DAYS": raw}
    with pytest.raises(ConfigError, match=reason):
        config.load(retention=True, environ=env)


def test_use_localstack_without_an_endpoint_is_refused_rather_than_sent_to_aws():
    with pytest.raises(ConfigError, match="USE_LOCALSTACK is no longer read: set AWS_ENDPOINT_URL"):
        config.load(environ={**BASE, "USE_LOCALSTACK": "1"})
    settings = config.load(environ={**BASE, "USE_LOCALSTACK": "1", "AWS_ENDPOINT_URL": "http://127.0.0.1:4566"})
    assert settings.endpoint_url == "http://127.0.0.1:4566"
