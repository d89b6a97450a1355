"""Connection keywords: a DATABASE_URL parsed strictly, TLS settings on every path, RDS IAM auth tokens."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from shared import config, dsn
from shared.config import DatabaseSettings
from shared.exceptions import ConfigError, SecretError


def test_a_percent_encoded_password_is_decoded_exactly():
    url = "postgresql://app%40x:p%40ss%2Fw%3Ford%25%3A@db.internal:6432/ev%20ents?application_name=qa"
    assert dsn.parse_url(url) == {
        "user": "app@x",
        "password": "p@ss/w?ord%:",
        "host": "db.internal",
        "port": 6432,
        "dbname": "ev ents",
        "application_name": "qa",
    }


def test_ipv6_hosts_and_bare_urls_parse():
    assert dsn.parse_url("postgresql://[::1]:5433/db") == {"host": "::1", "port": 5433, "dbname": "db"}
    assert dsn.parse_url("postgres://h") == {"host": "h"}
    assert dsn.parse_url("postgresql://u:@h/") == {"user": "u", "password": "", "host": "h"}


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("postgresql://u@h/db?user=v", "gives user twice"),
        ("postgresql://u@h/db?sslmode", "without '=value'"),
        ("postgresql://u@h1,h2/db", "several hosts"),
        ("postgresql://u@h/db/more", "'/' in the database name"),
        ("postgresql://u@[::1/db", "closing ']'"),
        ("postgresql://u@h:0/db", "port that is not a number"),
        ("postgresql://u@h/db?port=x", "port that is not a number"),
    ],
)
def test_malformed_urls_are_refused(url, reason):
    with pytest.raises(ConfigError, match=reason):
        dsn.parse_url(url)


def test_url_keywords_carry_the_settings_tls():
    settings = DatabaseSettings(url="postgresql://u:pw@h/db", sslmode="verify-full", sslrootcert="/ca.pem")
    assert dsn.keywords(settings) == {
        "user": "u",
        "password": "pw",
        "host": "h",
        "dbname": "db",
        "sslmode": "verify-full",
        "sslrootcert": "/ca.pem",
    }


def test_a_url_sslmode_the_settings_contradict_is_refused_at_connect():
    settings = DatabaseSettings(url="postgresql://u@h/db?sslmode=disable", sslmode="verify-full")
    with pytest.raises(ConfigError, match="DATABASE_URL sets sslmode and the settings give another"):
        dsn.keywords(settings)


def test_secret_keywords_carry_the_settings_tls():
    settings = DatabaseSettings(secret_arn="arn:s", host="h", name="db", sslmode="verify-full", sslrootcert="/ca")
    kw = dsn.keywords(settings, secret_reader=lambda arn: '{"username": "u", "password": "p", "port": 6432}')
    assert kw == {
        "host": "h",
        "port": 6432,
        "dbname": "db",
        "user": "u",
        "password": "p",
        "sslmode": "verify-full",
        "sslrootcert": "/ca",
    }
    with pytest.raises(SecretError, match="numeric port") as err:
        dsn.keywords(settings, secret_reader=lambda arn: '{"username": "u", "password": "hunter2", "port": "x"}')
    assert "hunter2" not in str(err.value) and err.value.__cause__ is None


# --------------------------------------------------------------------------- RDS IAM authentication


def _fresh_aws_clients():
    """shared.aws keeps one botocore session and its clients per process, with the credentials they found first:
    a test that sets its own must not be handed a client an earlier test (the local stack's) built."""
    from shared import aws

    aws._client.cache_clear()
    aws._session.cache_clear()


@pytest.fixture
def fresh_aws_clients():
    _fresh_aws_clients()
    yield
    _fresh_aws_clients()


def _iam_settings(tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    bundle = tmp_path / "ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    env = {
        "STAGE": "qa",
        "AWS_REGION": "eu-west-1",
        "DATABASE_IAM_AUTH": "1",
        "DATABASE_HOST": "db.abc.eu-west-1.rds.amazonaws.com",
        "DATABASE_NAME": "events",
        "DATABASE_USER": "read_table_login",
        "DATABASE_SSLROOTCERT": str(bundle),
    }
    return config.load(database=True, environ=env)


def test_iam_password_is_a_token_signed_by_botocore_per_connection(tmp_path, monkeypatch, fresh_aws_clients):
    settings = _iam_settings(tmp_path, monkeypatch)
    assert settings.database is not None
    calls = []
    real = dsn.rds_token_maker(settings)

    def counting(host, port, user):
        calls.append((host, port, user))
        return real(host, port, user)

    first = dsn.keywords(settings.database, token_maker=counting)
    dsn.keywords(settings.database, token_maker=counting)
    assert len(calls) == 2  # a token per connection, never cached
    assert first["user"] == "read_table_login" and first["dbname"] == "events"
    assert first["sslmode"] == "verify-full" and first["sslrootcert"].endswith("ca.pem")
    token = first["password"]
    # The token is a presigned rds-db:connect URL without its scheme, for this host, port and user.
    assert token.startswith("db.abc.eu-west-1.rds.amazonaws.com:5432/?")
    query = parse_qs(urlsplit("https://" + token).query)
    assert query["Action"] == ["connect"] and query["DBUser"] == ["read_table_login"]
    credential = query["X-Amz-Credential"][0]
    assert credential.startswith("AKIDEXAMPLE/") and "/eu-west-1/rds-db/" in credential
    assert query["X-Amz-Expires"] == ["900"] and len(query["X-Amz-Signature"][0]) == 64


def test_iam_auth_refuses_anything_but_verify_full(tmp_path, monkeypatch):
    settings = _iam_settings(tmp_path, monkeypatch)
    assert settings.database is not None
    weak = DatabaseSettings(host="h", name="db", user="u", iam_auth=True, sslmode="require")
    with pytest.raises(ConfigError, match="needs DATABASE_SSLMODE=verify-full"):
        dsn.keywords(weak, token_maker=lambda *a: "t")
    with pytest.raises(ConfigError, match="no token maker"):
        dsn.keywords(settings.database)
