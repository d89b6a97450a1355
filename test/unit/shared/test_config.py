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
    env = {**BASE, "DATABASE_URL": "postgresql://app:s3cr3t-pass@db/events"}
    settings = config.load(database=True, environ=env)
    assert "s3cr3t-pass" not in repr(settings)


def test_publish_deadline_is_read_in_milliseconds():
    env = {**BASE, "STREAM_NAME": "errors", "PUBLISH_DEADLINE_MS": "2500"}
    assert config.load(stream=True, environ=env).publish_deadline_s == 2.5
