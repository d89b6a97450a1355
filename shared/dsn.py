"""libpq connection keywords from the settings: a parsed DATABASE_URL, a Secrets Manager secret, or an RDS IAM
auth token. Pure except for the two callables the caller passes (the secret reader and the token maker).

A URL is never handed to libpq: libpq echoes the pieces it parsed (a password split at a raw ``@`` or ``/``,
a bad %-escape) in its error text, and Lambda logs that text. The URL is parsed here instead, strictly, and
an error names the part that is wrong without repeating any of it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote_to_bytes

from shared.exceptions import ConfigError, SecretError

__all__ = ["QUERY_KEYWORDS", "SSLMODES", "TokenMaker", "keywords", "parse_url", "rds_token_maker", "secret_keywords"]

SSLMODES = frozenset({"disable", "allow", "prefer", "require", "verify-ca", "verify-full"})
# What a DATABASE_URL query may set: libpq keywords a function could need. Anything else is refused by name.
QUERY_KEYWORDS = frozenset(
    {
        "application_name",
        "channel_binding",
        "client_encoding",
        "connect_timeout",
        "dbname",
        "gssencmode",
        "host",
        "keepalives",
        "keepalives_count",
        "keepalives_idle",
        "keepalives_interval",
        "options",
        "password",
        "port",
        "sslcert",
        "sslcrl",
        "sslkey",
        "sslmode",
        "sslrootcert",
        "sslsni",
        "target_session_attrs",
        "tcp_user_timeout",
        "user",
    }
)
# (host, port, user) -> a password: for RDS IAM authentication, a fresh auth token.
TokenMaker = Callable[[str, int, str], str]

_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_SCHEME = re.compile(r"^(postgresql|postgres)://", re.IGNORECASE)
_KEYWORD = re.compile(r"^[a-z_]{1,40}$")


def _fail(problem: str) -> ConfigError:
    return ConfigError(f"DATABASE_URL {problem}")


def _decode(raw: str, part: str) -> str:
    """Strict percent-decoding: a '%' must start %XX, and the bytes must be UTF-8."""
    if _BAD_ESCAPE.search(raw):
        raise _fail(f"has a '%' in the {part} that does not start a %XX escape (write a literal '%' as %25)")
    try:
        return unquote_to_bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        raise _fail(f"has a {part} whose %-escapes are not UTF-8") from None


def parse_url(url: str) -> dict[str, Any]:
    """``postgresql://user:password@host:port/dbname?key=value`` -> libpq keywords.

    Raises ConfigError naming the problem; the message never contains any part of the URL.
    """
    match = _SCHEME.match(url)
    if not match:
        raise _fail("must start with postgresql:// or postgres://")
    rest = url[match.end() :]
    for ch in ("#", "\n", "\r", "\t", " "):
        if ch in rest:
            what = "a '#'" if ch == "#" else "white space"
            raise _fail(f"contains {what}: percent-encode it in the user, password or database name")
    authority, _, tail = _split_first(rest, "/?")
    if "@" in tail:
        # A raw '/' or '?' inside the password ends the authority early; the '@' then sits further on.
        raise _fail(
            "has an '@' after the host: a '/' or '?' in the user or password must be percent-encoded "
            "(%2F, %3F), and so must an '@' elsewhere (%40)"
        )
    if authority.count("@") > 1:
        raise _fail("has more than one '@': an '@' in the user or password must be percent-encoded as %40")
    result: dict[str, Any] = {}
    userinfo, at, hostinfo = authority.rpartition("@")
    if at:
        user, colon, password = userinfo.partition(":")
        if user:
            result["user"] = _decode(user, "user")
        if colon:
            result["password"] = _decode(password, "password")
    _host_port(hostinfo, result)
    path, question, query = tail.partition("?")
    if path.startswith("/"):
        path = path[1:]
    if path:
        if "/" in path:
            raise _fail("has a '/' in the database name: percent-encode it as %2F")
        result["dbname"] = _decode(path, "database name")
    if question:
        _query(query, result)
    return result


def _split_first(text: str, stops: str) -> tuple[str, str, str]:
    positions = [i for i in (text.find(c) for c in stops) if i >= 0]
    if not positions:
        return text, "", ""
    i = min(positions)
    return text[:i], text[i], text[i:]


def _host_port(hostinfo: str, result: dict[str, Any]) -> None:
    if "," in hostinfo:
        raise _fail("names several hosts; give one host")
    if hostinfo.startswith("["):
        host, bracket, after = hostinfo[1:].partition("]")
        if not bracket or (after and not after.startswith(":")):
            raise _fail("has an IPv6 host without its closing ']'")
        port = after[1:] if after else ""
    else:
        host, _, port = hostinfo.partition(":")
    if host:
        result["host"] = _decode(host, "host")
    if port:
        if not port.isascii() or not port.isdigit() or not 1 <= int(port) <= 65535:
            raise _fail("has a port that is not a number between 1 and 65535")
        result["port"] = int(port)


def _query(query: str, result: dict[str, Any]) -> None:
    for item in query.split("&"):
        if not item:
            continue
        name, equals, value = item.partition("=")
        if not equals:
            raise _fail("has a query parameter without '=value'")
        key = _decode(name, "query")
        if not _KEYWORD.match(key) or key not in QUERY_KEYWORDS:
            named = f" {key!r}" if _KEYWORD.match(key) else ""
            raise _fail(f"has a query parameter{named} that is not a libpq keyword this project accepts")
        if key in result:
            raise _fail(f"gives {key} twice (in the URL and in its query, or twice in the query)")
        decoded = _decode(value, f"{key} parameter")
        if key == "sslmode" and decoded not in SSLMODES:
            raise _fail(f"has sslmode that is not one of {sorted(SSLMODES)}")
        if key == "port":
            if not decoded.isascii() or not decoded.isdigit() or not 1 <= int(decoded) <= 65535:
                raise _fail("has a port that is not a number between 1 and 65535")
            result[key] = int(decoded)
            continue
        result[key] = decoded


def secret_keywords(host: str | None, port: int, name: str | None, secret_string: str) -> dict[str, Any]:
    """Connection keywords from an RDS-managed secret (``username``, ``password``) plus host and name."""
    try:
        secret = json.loads(secret_string)
        user, password = secret["username"], secret["password"]
        port = int(secret.get("port") or port)
    except (ValueError, KeyError, TypeError):
        raise SecretError("database secret must be JSON with username and password (and a numeric port)") from None
    if not isinstance(user, str) or not isinstance(password, str):
        raise SecretError("database secret's username and password must be strings")
    return {
        "host": secret.get("host") or host,
        "port": port,
        "dbname": name or secret.get("dbname"),
        "user": user,
        "password": password,
    }


def keywords(
    settings: Any,
    *,
    secret_reader: Callable[[str], str] | None = None,
    token_maker: TokenMaker | None = None,
) -> dict[str, Any]:
    """Every libpq keyword for one connection from DatabaseSettings, TLS included.

    ``sslmode`` and ``sslrootcert`` come from the settings on every path; a DATABASE_URL that names a
    different one in its query is refused rather than silently overridden. With IAM authentication the
    password is a token made now, for this connection (tokens last 15 minutes).
    """
    if settings.iam_auth:
        if token_maker is None:
            raise ConfigError("DATABASE_IAM_AUTH=1 but no token maker was given")
        if settings.sslmode != "verify-full":
            raise ConfigError("DATABASE_IAM_AUTH=1 needs DATABASE_SSLMODE=verify-full")
        host, port, user = str(settings.host), int(settings.port), str(settings.user)
        result: dict[str, Any] = {
            "host": host,
            "port": port,
            "dbname": settings.name,
            "user": user,
            "password": token_maker(host, port, user),
        }
    elif settings.url is not None:
        result = parse_url(settings.url)
        for key in ("sslmode", "sslrootcert"):
            given, wanted = result.get(key), getattr(settings, key)
            if given is not None and given != wanted:
                raise ConfigError(f"DATABASE_URL sets {key} and the settings give another: set it in one place")
    else:
        if secret_reader is None or settings.secret_arn is None:
            raise SecretError("DATABASE_SECRET_ARN is set but no secret reader was given")
        result = secret_keywords(settings.host, settings.port, settings.name, secret_reader(settings.secret_arn))
    result["sslmode"] = settings.sslmode
    if settings.sslrootcert:
        result["sslrootcert"] = settings.sslrootcert
    return result


def rds_token_maker(settings: Any) -> TokenMaker:
    """A TokenMaker signing RDS IAM auth tokens with the function's credentials (botocore's RDS client, built
    once by shared.aws). Signing is local: no request is sent, so a token costs no network round trip."""

    def make(host: str, port: int, user: str) -> str:
        from shared import aws  # here, not at import: shared.aws imports shared.config, which imports this

        token: str = aws.client("rds", settings).generate_db_auth_token(
            DBHostname=host, Port=port, DBUsername=user, Region=settings.region
        )
        return token

    return make
