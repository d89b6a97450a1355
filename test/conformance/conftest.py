"""The conformance suite runs every test that needs a stream on two Kinesis engines: moto and kinesis-mock.

moto (also the SQS, SNS and S3 behind the on-failure destinations) and kinesis-mock (installed with npm
into .cache/kinesis-local on first use) are started once for the session on 127.0.0.1.
"""

from __future__ import annotations

import base64
import io
import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from local.esm import EventSourceMapping, MappingConfig

KEY = "test"  # the local servers accept any credentials; not a secret
ENGINES = ("moto", "kinesis-mock")


def _client(service: str, url: str) -> Any:
    return boto3.client(
        service, endpoint_url=url, region_name="us-east-1", aws_access_key_id=KEY, aws_secret_access_key=KEY
    )


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    from local.moto import MotoServer
    from local.postgres import free_port

    server = MotoServer(free_port()).start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def kinesis_mock_url() -> Iterator[str]:
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("kinesis-mock needs Node.js and npm, which are not on PATH")
    from local.kinesis_mock import KinesisMock
    from local.postgres import free_port

    server = KinesisMock(free_port()).start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session", params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def kinesis(engine: str, request: pytest.FixtureRequest, moto_url: str) -> Any:
    url = moto_url if engine == "moto" else request.getfixturevalue("kinesis_mock_url")
    return _client("kinesis", url)


@pytest.fixture
def aws(moto_url: str) -> Any:
    """service -> a client of moto (SQS, SNS, S3 for the destinations)."""
    cache: dict[str, Any] = {}

    def client(service: str) -> Any:
        if service not in cache:
            cache[service] = _client(service, moto_url)
        return cache[service]

    return client


@pytest.fixture
def kinesis_mock_only(engine: str) -> None:
    if engine != "kinesis-mock":
        pytest.skip("moto keeps writing to a parent shard after a split or merge: resharding shows on kinesis-mock")


class Stream:
    def __init__(self, kinesis: Any, shards: int = 1) -> None:
        self.kinesis = kinesis
        self.name = f"conf-{uuid.uuid4().hex[:10]}"
        kinesis.create_stream(StreamName=self.name, ShardCount=shards)
        self.wait()

    def wait(self) -> None:
        for _ in range(200):
            summary = self.kinesis.describe_stream_summary(StreamName=self.name)["StreamDescriptionSummary"]
            if summary["StreamStatus"] == "ACTIVE":
                return
            time.sleep(0.05)
        raise AssertionError(f"stream {self.name} did not become ACTIVE")

    def put(self, items: list[str | bytes], key: str | None = "pk") -> list[str]:
        """Put each item (with partition key ``key``, or the item itself when None); their sequence numbers."""
        out = []
        for item in items:
            data = item.encode() if isinstance(item, str) else item
            pk = key if key is not None else data.decode()[:256]
            out.append(self.kinesis.put_record(StreamName=self.name, PartitionKey=pk, Data=data)["SequenceNumber"])
        return out

    def shards(self) -> list[dict[str, Any]]:
        return list(self.kinesis.list_shards(StreamName=self.name)["Shards"])


@pytest.fixture
def stream(kinesis: Any) -> Iterator[Stream]:
    s = Stream(kinesis)
    yield s
    kinesis.delete_stream(StreamName=s.name, EnforceConsumerDeletion=True)


@pytest.fixture
def new_stream(kinesis: Any) -> Iterator[Any]:
    made: list[Stream] = []

    def make(shards: int = 1) -> Stream:
        made.append(Stream(kinesis, shards))
        return made[-1]

    yield make
    for s in made:
        kinesis.delete_stream(StreamName=s.name, EnforceConsumerDeletion=True)


class Clock:
    """The wall clock, movable forward: record ages of a minute and more without waiting a minute."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


def data(event: dict[str, Any]) -> list[str]:
    return [base64.b64decode(r["kinesis"]["data"]).decode() for r in event["Records"]]


class Recorder:
    """A handler recording each invocation's data; ``respond(batch, event)`` decides what it returns or raises."""

    def __init__(self, respond: Any = None) -> None:
        self.batches: list[list[str]] = []
        self.events: list[dict[str, Any]] = []
        self.respond = respond
        self.lock = threading.Lock()

    def __call__(self, event: dict[str, Any], context: Any) -> Any:
        with self.lock:
            self.batches.append(data(event))
            self.events.append(event)
        return self.respond(data(event), event) if self.respond else None


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def mapping(kinesis: Any, aws: Any, clock: Clock) -> Any:
    """Build an EventSourceMapping on the engine: mapping(stream, handler, **MappingConfig fields)."""

    def make(stream: Stream, handler: Any, **config: Any) -> EventSourceMapping:
        return EventSourceMapping(
            kinesis,
            stream.name,
            "fn",
            handler,
            MappingConfig(**config),
            clients=aws,
            clock=clock,
            metrics_out=io.StringIO(),
            concurrent=True,  # the suite's handlers are safe to call from threads
        )

    return make
