"""One way to get boto3 clients: real AWS, or a local endpoint (AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_<SERVICE>)."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

from shared.config import Settings
from shared.exceptions import SecretError
from shared.publisher import CALL_TIMEOUTS_S, Publisher

__all__ = ["client", "publisher", "secret_reader"]


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
    client whose timeouts fit the time left (botocore's retries off: the Publisher retries)."""

    def client_for(call_timeout_s: float) -> Any:
        endpoint = _endpoint("kinesis", settings)
        return _client("kinesis", settings.region, endpoint, call_timeout_s)

    return Publisher(
        client_for(CALL_TIMEOUTS_S[-1]),
        str(settings.stream_name),
        deadline_s=settings.publish_deadline_s,
        client_for=client_for,
    )
