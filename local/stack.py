"""The local stack: start moto + PostgreSQL, create the streams, migrate, and describe the functions."""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import shutil
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import boto3
import psycopg2

from local import kinesis_mock, manifest
from local.esm import Checkpoints, EventSourceMapping, LambdaContext, MappingConfig
from local.kinesis_mock import KinesisMock
from local.moto import MotoServer
from local.postgres import LocalPostgres
from shared import migrations
from shared.config import DatabaseSettings
from shared.db import Database

__all__ = [
    "ENGINES",
    "FUNCTIONS",
    "MAPPINGS",
    "ROOT",
    "STREAMS",
    "LocalStack",
    "UnknownFunction",
    "error_payload",
    "failure_queue",
    "invoke_locally",
    "load_handler",
    "local_function",
    "mapping_for",
    "peek_queue",
    "resolve_function",
    "timed",
]

ROOT = Path(__file__).resolve().parent.parent
REGION = "us-east-1"
# Everything below comes from pipeline.json (local/manifest.py reads and checks it): the streams with their
# local shard counts, every function's handler string, and the mappings with the local overrides applied.
MANIFEST = manifest.load()
STREAMS = manifest.streams(MANIFEST)  # stream name -> shard count
FUNCTIONS = manifest.function_handlers(MANIFEST)  # function name -> handler string
ACCOUNT = "123456789012"  # moto's account


def failure_queue(function: str, stream: str) -> str:
    """The local on-failure queue of a mapping (on AWS: event-pipeline-<stage>-<function>-<stream>-failures)."""
    return f"{function}-{stream}-failures"


# Which function reads which stream, with the settings its event source mapping has on AWS: pipeline.json's
# mappings, which Terraform deploys, with the local overrides of its "local" section (a shorter batching
# window, the emulator's backoff, local on-failure queues), each given with its reason there. A conformance test
# checks that Terraform's values and these agree but for those overrides. Each reader has its own mapping, its
# own checkpoint and its own on-failure queue: adding one touches no other.
MAPPINGS = manifest.mappings(MANIFEST)
ENGINES = ("moto", "kinesis-mock")
ALERT_TOPIC = "alerts.fifo"  # FIFO, so a retried final window invocation cannot publish an alert twice
ALERT_QUEUE = "alerts.fifo"  # subscribed to the topic, so the alerts can be read back locally
MOTO_KEY = "test"  # moto accepts any credentials; these are not secrets
# Days of errors and dead letters the local maintain keeps (RETENTION_DAYS; per stage in Terraform's tfvars).
LOCAL_RETENTION_DAYS = int(manifest.local_environment(MANIFEST)["RETENTION_DAYS"])


class UnknownFunction(LookupError):
    """A name that is no function of pipeline.json; the message lists the known ones."""


def resolve_function(name_or_path: str) -> str:
    """'error_source', 'producers/error_source' or a handler string -> the handler string."""
    candidate = name_or_path.rstrip("/").split("/")[-1]
    if candidate in FUNCTIONS:
        return FUNCTIONS[candidate]
    if name_or_path in FUNCTIONS.values():
        return name_or_path
    raise UnknownFunction(f"unknown function {name_or_path!r}; known: {', '.join(sorted(FUNCTIONS))}")


@contextlib.contextmanager
def timed(say: Callable[[str], None], before: str, after: str) -> Iterator[None]:
    """A long step: ``before`` when it starts, ``after`` with its duration when it is done."""
    say(before)
    started = time.monotonic()
    yield
    say(f"{after} in {time.monotonic() - started:.1f} s")


def peek_queue(sqs: Any, url: str) -> list[dict[str, Any]]:
    """Every message body of a standard queue, decoded, without taking any off it: each is made visible again at
    once, for ``redrive`` or the next look."""
    seen: set[str] = set()
    handles: list[str] = []
    out: list[dict[str, Any]] = []
    try:
        while True:
            messages = sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=30, WaitTimeSeconds=0
            ).get("Messages", [])
            fresh = [m for m in messages if m["MessageId"] not in seen]
            if not fresh:
                return out
            for m in fresh:
                seen.add(m["MessageId"])
                handles.append(m["ReceiptHandle"])
                try:
                    out.append(json.loads(m["Body"]))
                except ValueError:
                    out.append({"body": m["Body"]})  # not JSON: shown as it is
    finally:
        for handle in handles:
            sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=handle, VisibilityTimeout=0)


def load_handler(handler: str) -> Any:
    """Import a handler the way the Lambda runtime does: module path, then attribute."""
    module, _, attribute = handler.rpartition(".")
    return getattr(importlib.import_module(module), attribute)


def local_function(name: str) -> str:
    """A function name as an on-failure record names it ('error_sink', or deployed: 'event-pipeline-qa-error_sink')
    -> the local function folder's name."""
    if name in FUNCTIONS:
        return name
    matches = [f for f in FUNCTIONS if name.endswith(f"-{f}")]
    if len(matches) != 1:
        raise KeyError(f"no local function for {name!r}; known: {', '.join(sorted(FUNCTIONS))}")
    return matches[0]


def invoke_locally(function_name: str, event: Any, *, timeout_s: float = 60.0) -> tuple[Any, str | None]:
    """Run a function's handler in-process as a RequestResponse invoke would, with ``timeout_s`` on its context's
    clock: (its response, None), or, when it raises, (Lambda's error payload, "Unhandled")."""
    name = local_function(function_name)
    try:
        return load_handler(FUNCTIONS[name])(event, LambdaContext(name, timeout_s)), None
    except Exception as e:  # a function error, as Lambda reports it
        return error_payload(e), "Unhandled"


def error_payload(e: BaseException) -> dict[str, Any]:
    """Lambda's response for a handler that raised (Python runtime): type, message and the frames from the handler's
    on (the first frame, the caller's own, is left out)."""
    frames = e.__traceback__.tb_next if e.__traceback__ is not None else None
    return {
        "errorMessage": str(e),
        "errorType": type(e).__name__,
        "stackTrace": [frame.rstrip("\n") for frame in traceback.format_tb(frames)],
    }


@dataclass
class LocalStack:
    state_dir: Path
    moto_port: int = 4566
    database_url: str | None = None  # an existing server; otherwise an embedded one is started
    kinesis_engine: str = "moto"  # or "kinesis-mock" (closes parent shards on resharding, like Kinesis)
    kinesis_port: int | None = None  # kinesis-mock's port; moto serves Kinesis on moto_port
    postgres: LocalPostgres | None = field(default=None, init=False)
    moto: MotoServer | None = field(default=None, init=False)
    kinesis_mock: KinesisMock | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        if self.kinesis_engine not in ENGINES:
            raise ValueError(f"unknown Kinesis engine {self.kinesis_engine!r}; known: {', '.join(ENGINES)}")

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.moto_port}"

    @property
    def kinesis_endpoint_url(self) -> str:
        if self.kinesis_engine == "kinesis-mock":
            return f"http://127.0.0.1:{self.kinesis_port or self.moto_port + 1}"
        return self.endpoint_url

    @property
    def env(self) -> dict[str, str]:
        """What a function needs to run against this stack."""
        kinesis = {"AWS_ENDPOINT_URL_KINESIS": self.kinesis_endpoint_url} if self.kinesis_engine != "moto" else {}
        return {
            **kinesis,
            "STAGE": "local",
            "STREAM_NAME": "errors",
            "DATABASE_URL": str(self.database_url),
            "DATABASE_SSLMODE": "disable",
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ACCESS_KEY_ID": MOTO_KEY,
            "AWS_SECRET_ACCESS_KEY": MOTO_KEY,
            "ALERT_TOPIC_ARN": f"arn:aws:sns:{REGION}:{ACCOUNT}:{ALERT_TOPIC}",
            **manifest.local_environment(MANIFEST),
        }

    def kinesis(self) -> Any:
        return self.client("kinesis")

    def client(self, service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.kinesis_endpoint_url if service == "kinesis" else self.endpoint_url,
            region_name=REGION,
            aws_access_key_id=MOTO_KEY,
            aws_secret_access_key=MOTO_KEY,
        )

    def start(self, *, progress: Any = None, fresh: bool = False) -> LocalStack:
        """Start everything; ``fresh`` wipes the embedded database's data from an earlier run first."""
        say = progress or (lambda _msg: None)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        if fresh and self.database_url is None:
            shutil.rmtree(self.state_dir / "pg", ignore_errors=True)
        self.moto = MotoServer(self.moto_port)
        with timed(say, f"starting moto on {self.endpoint_url}", "moto ready"):
            self.moto.start()
        if self.kinesis_engine == "kinesis-mock":
            self.install_kinesis_mock(say)
            self.kinesis_mock = KinesisMock(int(self.kinesis_endpoint_url.rsplit(":", 1)[1]))
            with timed(say, "starting kinesis-mock", "kinesis-mock ready"):
                self.kinesis_mock.start()
        say(f"Kinesis endpoint ({self.kinesis_engine}) on {self.kinesis_endpoint_url}")
        if self.database_url is None:
            data = self.state_dir / "pg"
            self.postgres = LocalPostgres(data)
            first = not (data / "PG_VERSION").exists()
            before = f"starting PostgreSQL, {'a new database (initdb)' if first else 'with the data'} in {data}"
            with timed(say, before, "PostgreSQL ready"):
                self.postgres.start()
            self.database_url = self.postgres.url
        client = self.kinesis()
        for name, shards in STREAMS.items():
            client.create_stream(StreamName=name, ShardCount=shards)
            client.get_waiter("stream_exists").wait(StreamName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 50})
            say(f"created stream {name!r} with {shards} shards")
        self._alerts()
        say(f"created SNS topic {ALERT_TOPIC!r} with SQS queue {ALERT_QUEUE!r} subscribed")
        for function, stream, _ in MAPPINGS:
            self.client("sqs").create_queue(QueueName=failure_queue(function, stream))
            say(f"on-failure records of {function} <- {stream} go to SQS queue {failure_queue(function, stream)!r}")
        applied = self.migrate()
        say(f"migrations applied: {', '.join(applied) or 'none (schema current)'}")
        done = self.maintain()
        say(f"maintain: {len(done['created'])} partitions created, {len(done['dropped'])} dropped")
        (self.state_dir / "stack.json").write_text(json.dumps(self.env, indent=2))
        return self

    @staticmethod
    def install_kinesis_mock(say: Callable[[str], None]) -> None:
        """kinesis-mock from npm into .cache/kinesis-local, on first use only, announced with its duration."""
        if kinesis_mock.installed():
            return
        with timed(
            say,
            f"installing kinesis-mock ({kinesis_mock.PACKAGE} from npm) into {kinesis_mock.CACHE}: first use only",
            "kinesis-mock installed",
        ):
            kinesis_mock.install()

    def _alerts(self) -> None:
        sns, sqs = self.client("sns"), self.client("sqs")
        topic = sns.create_topic(Name=ALERT_TOPIC, Attributes={"FifoTopic": "true"})["TopicArn"]
        queue = sqs.create_queue(QueueName=ALERT_QUEUE, Attributes={"FifoQueue": "true"})["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"})

    def read_alerts(self) -> list[dict[str, Any]]:
        """Alerts published so far (each read once: they are taken off the queue)."""
        return self._take_all(ALERT_QUEUE)

    def read_failures(self, function: str, stream: str = "errors") -> list[dict[str, Any]]:
        """On-failure records of a mapping so far (taken off its local queue)."""
        return self._take_all(failure_queue(function, stream))

    def _take_all(self, queue: str) -> list[dict[str, Any]]:
        """Every message of the local SQS queue ``queue``, JSON-decoded, each deleted once read."""
        sqs = self.client("sqs")
        url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
        out = []
        while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
            for m in messages:
                out.append(json.loads(m["Body"]))
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        return out

    def migrate(self) -> list[str]:
        with psycopg2.connect(str(self.database_url)) as conn, conn.cursor() as cur:
            return migrations.apply(cur, migrations.available())

    def maintain(self, today: date | None = None) -> dict[str, Any]:
        """Run utilities/maintain's steps once against this stack's database (the handler does the same daily on
        AWS), so today's and the coming days' partitions exist."""
        from utilities.maintain import partitions

        database = Database(DatabaseSettings(url=str(self.database_url), sslmode="disable"))
        try:
            day = today or datetime.now(UTC).date()
            return partitions.maintain(database, today=day, retention_days=LOCAL_RETENTION_DAYS)
        finally:
            database.close()

    def stop(self) -> None:
        if self.kinesis_mock is not None:
            self.kinesis_mock.stop()
        if self.moto is not None:
            self.moto.stop()
        if self.postgres is not None:
            self.postgres.stop()
        (self.state_dir / "stack.json").unlink(missing_ok=True)

    def activate(self) -> None:
        """Put this stack's settings in os.environ, so handlers imported afterwards talk to it."""
        os.environ.update(self.env)

    def mapping(self, function: str, **overrides: Any) -> EventSourceMapping:
        return mapping_for(function, self.kinesis(), clients=self.client, **overrides)


def mapping_for(
    function: str,
    kinesis: Any,
    *,
    checkpoints: Path | None = None,
    clients: Callable[[str], Any] | None = None,
    **overrides: Any,
) -> EventSourceMapping:
    """The event source mapping of ``function`` (from MAPPINGS), its handler imported under os.environ."""
    for name, stream, config in MAPPINGS:
        if name == function:
            settings = MappingConfig(**{**config.__dict__, **overrides})
            return EventSourceMapping(
                kinesis,
                stream,
                function,
                load_handler(FUNCTIONS[function]),
                settings,
                checkpoints=Checkpoints(checkpoints),
                region=REGION,
                clients=clients,
            )
    raise KeyError(f"no event source mapping for {function}; mapped: {', '.join(m[0] for m in MAPPINGS)}")
