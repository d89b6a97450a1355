"""A Kinesis endpoint that accepts connections and never answers: error_source answers 503 by its deadline.

The endpoint is a real TCP server on 127.0.0.1 that accepts every connection and never reads or writes; the
publisher is the one error_source builds at import (shared.aws.publisher), pointed at it. The bounds asserted
are generous (deadline + 1.5 s): this is about the deadline holding, not a speed figure.
"""

from __future__ import annotations

import socket
import sys
import threading
import time
from typing import Any

import pytest

from local.esm import LambdaContext
from shared import aws, config
from test.reliability.conftest import Row
from test.support import counts

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SLACK_S = 1.5


class SilentEndpoint:
    """Accepts TCP connections on 127.0.0.1 and holds them open without a byte in either direction."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._held: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self.connections = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    def _accept(self) -> None:
        self._listener.settimeout(0.05)
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._held.append(conn)
            self.connections += 1

    def __enter__(self) -> SilentEndpoint:
        self._thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self._stop.set()
        self._thread.join(5)
        self._listener.close()
        for conn in self._held:
            conn.close()


def _reports(n: int) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = [
        {
            "source": "checkout-api",
            "level": "ERROR",
            "message": f"payment provider timed out (#{i})",
            "occurred_at": "2026-11-22T09:15:02Z",
            "context": {"n": i},
        }
        for i in range(n)
    ]
    items.insert(2, {"source": "checkout-api", "level": "LOUD"})  # refused: indexes and positions differ after it
    return items


def _silent_publisher(local_stack: Any, endpoint: str, deadline_ms: int) -> Any:
    env = {**local_stack.env, "AWS_ENDPOINT_URL": endpoint, "PUBLISH_DEADLINE_MS": str(deadline_ms)}
    return aws.publisher(config.load(stream=True, environ=env))


@pytest.mark.parametrize(
    ("deadline_ms", "invocation_s", "bound_s"),
    [
        (1000, None, 1.0),  # the configured deadline
        (10_000, 1.5, 1.0),  # the invocation has 1.5 s left: publishing gets 1.5 s less the answering margin
    ],
)
def test_a_silent_endpoint_gets_a_503_by_the_deadline_and_a_resend_lands_once(
    local_stack, produce, mapping, db, summary, deadline_ms, invocation_s, bound_s
):
    module = sys.modules[produce.__module__]
    items = _reports(30)
    original = module.PUBLISHER
    with SilentEndpoint() as silent:
        module.PUBLISHER = _silent_publisher(local_stack, silent.url, deadline_ms)
        try:
            context = LambdaContext("error_source", invocation_s) if invocation_s is not None else None
            started = time.monotonic()
            reply = produce({"events": items}, context)
            elapsed = time.monotonic() - started
        finally:
            module.PUBLISHER = original
    assert silent.connections >= 1  # the calls did reach the endpoint
    assert elapsed <= bound_s + SLACK_S, f"publish took {elapsed:.2f} s with a {bound_s} s deadline"
    assert reply["statusCode"] == 503
    assert reply["accepted"] == []
    assert [r["index"] for r in reply["rejected"]] == [2]
    unavailable = reply["unavailable"]
    assert [u["index"] for u in unavailable] == [i for i in range(len(items)) if i != 2]
    assert len({u["event_id"] for u in unavailable}) == 30

    resent = produce({"events": items}, None)  # the client does what the 503 says: the same body again
    assert resent["statusCode"] == 202
    assert resent["accepted"] == [u["event_id"] for u in unavailable]
    mapping.drain()
    rows, dead = counts(db)
    fault = f"an endpoint that never answers ({deadline_ms} ms deadline, invocation {invocation_s or '-'} s)"
    summary(Row(f"{fault}: 503 in {elapsed:.1f} s, body resent", 31, rows, 0, dead, rejected=1))
    assert (rows, dead) == (30, 0)
