"""One way to get boto3 clients: real AWS, or a local endpoint (AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_<SERVICE>)."""

from __future__ import annotations

import weakref
from collections.abc import Callable
from functools import cache
from typing import Any

from shared.config import Settings
from shared.exceptions import SecretError
from shared.publisher import Publisher, call_timeout

__all__ = ["LazyClient", "client", "lazy_client", "publisher", "secret_reader", "warm"]


@cache
def _session() -> Any:
    import botocore.session

    return botocore.session.get_session()


@cache
def _client(service: str, region: str, endpoint_url: str | None, call_timeout_s: float | None = None) -> Any:
    # Imported here, not at module import, so functions that never call AWS do not pay for it. A client
    # straight from botocore skips boto3's resource layer: the same client, about 0.3x of `import boto3`
    # less cold start (bench/RESULTS.md).
    from botocore.config import Config

    if call_timeout_s is None:
        config = Config(
            region_name=region,
            retries={"mode": "standard", "max_attempts": 3},
            connect_timeout=3,
            read_timeout=10,
            tcp_keepalive=True,
        )
    else:
        # One attempt whose connect and read timeouts add up to call_timeout_s: the caller retries, knowing
        # how much time is left, where botocore's own retries would multiply the wait.
        connect = min(1.0, call_timeout_s / 2)
        config = Config(
            region_name=region,
            retries={"mode": "standard", "total_max_attempts": 1},
            connect_timeout=connect,
            read_timeout=call_timeout_s - connect,
            tcp_keepalive=True,
        )
    return _session().create_client(service, region_name=region, endpoint_url=endpoint_url, config=config)


def client(service: str, settings: Settings, *, call_timeout_s: float | None = None) -> Any:
    """A boto3 client for ``service``, built once per process and reused across warm invocations.

    With ``call_timeout_s``, one attempt per call (no botocore retries) whose connect and read timeouts add up
    to it: for a caller that retries itself, or a call that must not be repeated behind its back (an invoke).
    With a local endpoint, ``AWS_ENDPOINT_URL_<SERVICE>`` (botocore's per-service name, e.g.
    AWS_ENDPOINT_URL_KINESIS) points that one service elsewhere: the local stack's kinesis-mock engine.
    """
    return _client(service, settings.region, _endpoint(service, settings), call_timeout_s)


def _endpoint(service: str, settings: Settings) -> str | None:
    return settings.service_endpoints.get(service, settings.endpoint_url)


# Every LazyClient made in this process and not yet garbage, for warm().
_LAZY: weakref.WeakSet[LazyClient] = weakref.WeakSet()


class LazyClient:
    """``client(service, settings, call_timeout_s=...)``, built on first use and kept for the process's life.

    A handler holds one of these at module level instead of a client: importing the handler (Lambda's init
    phase, every cold start) then costs no botocore import and no service model, and the first invocation that
    touches it (an attribute read: ``SNS.publish(...)``) builds the client once; warm invocations reuse it. A
    function that never reaches a service on some path (redrive reading a queue never builds S3's) never pays
    for it. The cost moves, it does not vanish: see warm().
    """

    __slots__ = ("__weakref__", "_built", "_call_timeout_s", "_service", "_settings")

    def __init__(self, service: str, settings: Settings, *, call_timeout_s: float | None = None) -> None:
        self._service = service
        self._settings = settings
        self._call_timeout_s = call_timeout_s
        self._built: Any = None
        _LAZY.add(self)

    @property
    def built(self) -> bool:
        return self._built is not None

    def get(self) -> Any:
        """The client itself, built now if it was not yet."""
        if self._built is None:
            self._built = client(self._service, self._settings, call_timeout_s=self._call_timeout_s)
        return self._built

    def __getattr__(self, name: str) -> Any:  # only for names the proxy itself lacks: the client's methods
        if name.startswith("__"):  # copy, pickle and introspection probes must not build a client
            raise AttributeError(name)
        return getattr(self.get(), name)

    def __repr__(self) -> str:
        return f"LazyClient({self._service!r}, {'built' if self.built else 'not built yet'})"


def lazy_client(service: str, settings: Settings, *, call_timeout_s: float | None = None) -> LazyClient:
    """The client ``client(service, settings, call_timeout_s=...)`` gives, built when first used (LazyClient)."""
    return LazyClient(service, settings, call_timeout_s=call_timeout_s)


def warm() -> int:
    """Build every LazyClient made so far, now; returns how many were built by this call.

    What a first invocation would otherwise pay (botocore's import, each service's model), paid at the
    caller's moment instead: for a function whose init phase is off the request path (provisioned
    concurrency), which calls it at import, and for bench/coldstart, which measures that cost.
    """
    pending = [lazy for lazy in list(_LAZY) if not lazy.built]
    for lazy in pending:
        lazy.get()
    return len(pending)


def secret_reader(settings: Settings) -> Callable[[str], str]:
    """A function reading a Secrets Manager secret's string, for shared.db.Database."""

    def read(arn: str) -> str:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            value: str = client("secretsmanager", settings).get_secret_value(SecretId=arn)["SecretString"]
        except (BotoCoreError, ClientError, KeyError) as e:
            raise SecretError(f"cannot read the database secret {arn}: {type(e).__name__}") from e
        return value

    return read


def publisher(settings: Settings) -> Publisher:
    """The one way producers publish: to STREAM_NAME, with the configured deadline, each PutRecords call on a
    client whose timeouts fit the time left (botocore's retries off: the Publisher retries).

    Nothing is built here: each call's client is built the first time its timeout step is needed, then kept.
    The Publisher's own client is the one a first call with the whole deadline uses, as a LazyClient, so that
    warm() builds it ahead.
    """

    def client_for(call_timeout_s: float) -> Any:
        return client("kinesis", settings, call_timeout_s=call_timeout_s)

    deadline = settings.publish_deadline_s
    return Publisher(
        lazy_client("kinesis", settings, call_timeout_s=call_timeout(deadline, deadline / 2)),
        str(settings.stream_name),
        deadline_s=deadline,
        client_for=client_for,
    )
