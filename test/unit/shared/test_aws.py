"""shared.aws: clients built on first use and kept, and handlers whose import builds none."""

import copy
import os
import subprocess
import sys
import weakref
from pathlib import Path

import pytest

from bench.coldstart import ENV, handler_modules
from shared import aws, config, kinesis

ROOT = Path(__file__).resolve().parents[3]
SETTINGS = config.Settings(stage="test", region="us-east-1", endpoint_url="http://127.0.0.1:9", stream_name="errors")


class FakeKinesis:
    def __init__(self, call_timeout_s):
        self.call_timeout_s = call_timeout_s
        self.calls = 0

    def put_records(self, StreamName, Records):
        self.calls += 1
        return {"FailedRecordCount": 0, "Records": [{"SequenceNumber": "1", "ShardId": "s"} for _ in Records]}


@pytest.fixture
def builds(monkeypatch):
    """Every client shared.aws.client builds, as (service, call_timeout_s), each a fake cached per key; and a
    registry of lazy clients of the test's own, so warm() never reaches a handler's imported by another test."""
    made = {}
    monkeypatch.setattr(aws, "_LAZY", weakref.WeakSet())

    def fake_client(service, settings, *, call_timeout_s=None):
        key = (service, call_timeout_s)
        if key not in made:
            made[key] = FakeKinesis(call_timeout_s)
        return made[key]

    monkeypatch.setattr(aws, "client", fake_client)
    return made


def test_a_lazy_client_is_built_on_first_use_then_kept(builds):
    lazy = aws.lazy_client("kinesis", SETTINGS, call_timeout_s=2.5)
    assert not lazy.built and builds == {}
    lazy.put_records(StreamName="errors", Records=[{}])
    lazy.put_records(StreamName="errors", Records=[{}])
    assert list(builds) == [("kinesis", 2.5)]
    assert lazy.get() is builds["kinesis", 2.5] and lazy.get().calls == 2


def test_probing_a_lazy_client_builds_nothing(builds):
    lazy = aws.lazy_client("sns", SETTINGS)
    assert not hasattr(lazy, "__iter__")
    copy.copy(lazy)
    repr(lazy)
    assert not lazy.built and builds == {}


def test_warm_builds_what_is_pending_once(builds):
    first, second = aws.lazy_client("sqs", SETTINGS), aws.lazy_client("s3", SETTINGS)
    first.get()
    assert aws.warm() == 1
    assert second.built and {("sqs", None), ("s3", None)} <= set(builds)
    assert aws.warm() == 0


def test_the_publisher_builds_its_client_on_the_first_publish(builds):
    publisher = aws.publisher(SETTINGS)
    assert builds == {}
    result = publisher.publish(kinesis.aggregate([("k", b"{}")]))
    assert result.succeeded == [0]
    # The first call with the whole 10 s deadline gets the 5 s step (half the deadline), the client warm() builds.
    assert list(builds) == [("kinesis", 5.0)]
    aws.warm()
    assert list(builds) == [("kinesis", 5.0)]


def test_a_lazy_client_is_the_client_that_client_gives():
    aws._client.cache_clear()
    try:
        lazy = aws.lazy_client("sns", SETTINGS)
        built = lazy.get()
        assert built is aws.client("sns", SETTINGS)
        assert built.meta.service_model.service_name == "sns"
        assert built.meta.endpoint_url == "http://127.0.0.1:9"
    finally:
        aws._client.cache_clear()


def test_no_handler_imports_botocore_at_import():
    """Lambda's init phase imports the handler on every cold start: botocore (and any client) waits for the
    first invocation that reaches AWS."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DATABASE_"))} | ENV
    env["PYTHONPATH"] = str(ROOT)
    modules = handler_modules()
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "    assert 'botocore' not in sys.modules, name\n"
    )
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
