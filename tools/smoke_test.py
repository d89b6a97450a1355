"""Smoke test: send a few events to error_source, then wait until read_table shows every one of them.

    python -m tools.smoke_test --stage qa          # the deployed functions event-pipeline-qa-*
    python -m tools.smoke_test --local             # the stack `make up` runs (.local/stack.json)
    python -m tools.smoke_test --start-local       # a local stack of its own, stopped at the end
    python -m tools.smoke_test --stage prod --read-only   # production: read_table answers, nothing written

Events go to error_source as a direct invoke (``{"events": [...]}``) with ids chosen here; the test
then pages through read_table's ``errors`` from a little before it started until every id shows up.
Exit status 0 when they all arrived, 1 with the reason when they did not arrive in time (or the
functions answered badly), 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

__all__ = [
    "Backend",
    "LambdaBackend",
    "LocalBackend",
    "SmokeFailure",
    "find_ids",
    "main",
    "make_events",
    "run",
    "send",
    "start_cursor",
    "wait_for",
]

ROOT = Path(__file__).resolve().parent.parent
SOURCE = "smoke-test"
PAGE_LIMIT = 100  # rows per read_table page: 100 rows of the largest events stay under Lambda's 6 MB response
MAX_PAGES = 200  # a smoke test that needs more has started too far back (see --since)
NIL_UUID = "00000000-0000-0000-0000-000000000000"


class SmokeFailure(Exception):
    """The smoke test failed; the message says what was expected and what happened."""


class Backend(Protocol):
    """Where the functions run: deployed Lambda functions, or the local stack's handlers in this process."""

    def invoke(self, function: str, event: dict[str, Any]) -> Any:
        """Run ``function`` (a short name: error_source, read_table) on ``event`` and return its response."""

    def settle(self) -> None:
        """Give the consumer a chance to run (on AWS, Lambda's event source mapping does it by itself)."""


# ------------------------------------------------------------------------------------------ the test


def make_events(ids: Sequence[str], run_id: str, now: datetime) -> list[dict[str, Any]]:
    """Valid error events with the given ids, marked as this run's."""
    occurred_at = now.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return [
        {
            "event_id": event_id,
            "source": SOURCE,
            "level": "INFO",
            "message": f"smoke test {run_id}: event {i} of {len(ids)}",
            "occurred_at": occurred_at,
            "context": {"smoke_test": run_id, "pipeline": os.environ.get("CI_PIPELINE_ID", "local")},
        }
        for i, event_id in enumerate(ids, 1)
    ]


def send(backend: Backend, events: list[dict[str, Any]]) -> list[str]:
    """Send ``events`` to error_source; the ids it accepted, or SmokeFailure unless it took them all."""
    response = backend.invoke("error_source", {"events": events})
    if not isinstance(response, dict) or response.get("statusCode") != 202:
        raise SmokeFailure(f"error_source should answer 202 to {len(events)} valid events: {_short(response)}")
    accepted = list(response.get("accepted") or [])
    wanted = [e["event_id"] for e in events]
    if response.get("rejected") or sorted(accepted) != sorted(wanted):
        raise SmokeFailure(f"error_source should accept exactly {wanted}, answered: {_short(response)}")
    return accepted


def start_cursor(since: datetime) -> str:
    """A read_table cursor for the errors table that starts at rows ingested at ``since``."""
    from utilities.read_table.transform import encode_cursor

    return encode_cursor("errors", None, since=since.astimezone(UTC).isoformat())


def find_ids(backend: Backend, wanted: set[str], after: str) -> set[str]:
    """The ids of ``wanted`` that read_table shows in errors, reading every page from cursor ``after``."""
    found: set[str] = set()
    cursor: str | None = after
    for _ in range(MAX_PAGES):
        page = backend.invoke("read_table", {"table": "errors", "limit": PAGE_LIMIT, "after": cursor})
        if not isinstance(page, dict) or page.get("statusCode") != 200:
            raise SmokeFailure(f"read_table should answer 200, answered: {_short(page)}")
        found |= {str(row.get("event_id")) for row in page.get("rows", [])} & wanted
        cursor = page.get("next")
        if cursor is None:
            return found
    raise SmokeFailure(f"read_table returned more than {MAX_PAGES} pages since the start: start later (--since)")


def wait_for(
    backend: Backend,
    wanted: set[str],
    *,
    after: str,
    timeout_s: float,
    interval_s: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> float:
    """Poll until read_table shows every id in ``wanted``; the seconds it took, or SmokeFailure at the deadline."""
    started = clock()
    while True:
        backend.settle()
        found = find_ids(backend, wanted, after)
        waited = clock() - started
        if found == wanted:
            return waited
        if waited >= timeout_s:
            missing = sorted(wanted - found)
            raise SmokeFailure(
                f"{len(missing)} of {len(wanted)} accepted events did not reach the errors table within "
                f"{timeout_s:g}s: {', '.join(missing)}. Look at error_sink (its logs, errors and iterator age) "
                "and at the dead_letters table."
            )
        sleep(interval_s)


def run(
    backend: Backend,
    *,
    count: int = 3,
    timeout_s: float = 180.0,
    interval_s: float = 5.0,
    since: timedelta = timedelta(minutes=5),
    say: Callable[[str], None] = print,
) -> list[str]:
    """The whole smoke test; the ids that made it through."""
    now = datetime.now(UTC)
    run_id = uuid.uuid4().hex[:12]
    events = make_events([str(uuid.uuid4()) for _ in range(count)], run_id, now)
    say(f"sending {count} events to error_source (run {run_id})")
    accepted = send(backend, events)
    say(f"error_source accepted {len(accepted)}; waiting up to {timeout_s:g}s for them in read_table")
    waited = wait_for(
        backend, set(accepted), after=start_cursor(now - since), timeout_s=timeout_s, interval_s=interval_s
    )
    say(f"passed: all {len(accepted)} events are in the errors table ({waited:.1f}s)")
    return accepted


def read_only(backend: Backend, say: Callable[[str], None] = print) -> None:
    """For production: read_table answers (the function runs, reaches the database, the table exists)."""
    page = backend.invoke("read_table", {"table": "errors", "limit": 1})
    if not isinstance(page, dict) or page.get("statusCode") != 200:
        raise SmokeFailure(f"read_table should answer 200, answered: {_short(page)}")
    say("passed (read-only): read_table answers from the errors table")


def _short(value: Any) -> str:
    return json.dumps(value, default=str)[:500]


# ------------------------------------------------------------------------------------------ backends


class LambdaBackend:
    """Deployed functions, named ``<project>-<stage>-<function>`` as Terraform and make upload name them."""

    def __init__(self, client: Any, prefix: str) -> None:
        self.client = client
        self.prefix = prefix

    def invoke(self, function: str, event: dict[str, Any]) -> Any:
        from tools.invoke import InvokeError, invoke_function

        try:
            return invoke_function(self.client, f"{self.prefix}-{function}", event)
        except InvokeError as e:
            raise SmokeFailure(str(e)) from e

    def settle(self) -> None:
        pass


class LocalBackend:
    """The local stack's handlers, imported in this process, with error_sink's event source mapping.

    The handlers read their settings from os.environ when first imported, so the stack's settings
    must be there before this is made. The mapping starts at the end of the stream (Lambda's LATEST),
    so it delivers this run's records and not the stream's history.
    """

    def __init__(self, kinesis: Any, *, consume: bool = True) -> None:
        from local.stack import mapping_for

        self._mapping = mapping_for("error_sink", kinesis, window_s=0.0) if consume else None
        if self._mapping is not None:
            self._mapping.seek_to_end()

    def invoke(self, function: str, event: dict[str, Any]) -> Any:
        from local.esm import LambdaContext
        from local.stack import FUNCTIONS, load_handler

        try:
            return load_handler(FUNCTIONS[function])(event, LambdaContext(function))
        except Exception as e:  # what Lambda would report as a function error
            raise SmokeFailure(f"{function} raised {type(e).__name__}: {e}") from e

    def settle(self) -> None:
        if self._mapping is not None:
            self._mapping.drain()


def _use_stack_settings(state_dir: Path) -> None:
    """Put a running local stack's settings (written by `python -m local up`) in os.environ."""
    state = state_dir / "stack.json"
    if not state.exists():
        raise SmokeFailure(
            f"no local stack is running: {state} not found (start one with `make up`, or use --start-local)"
        )
    for key, value in json.loads(state.read_text()).items():
        os.environ.setdefault(key, value)


def _local_kinesis() -> Any:
    import boto3

    return boto3.client("kinesis", endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name=os.environ["AWS_REGION"])


@contextmanager
def _temporary_stack(say: Callable[[str], None]) -> Iterator[Any]:
    """A local stack of its own on free 127.0.0.1 ports, in a folder of its own, stopped and removed after.

    Not under pytest's or another 0700 temp folder: as root the embedded PostgreSQL runs as another
    user, which must be able to reach its data folder.
    """
    import warnings

    from local.postgres import free_port
    from local.stack import LocalStack

    warnings.filterwarnings("ignore", module="platformdirs")  # XDG_RUNTIME_DIR unset in CI: harmless
    path = Path(tempfile.mkdtemp(prefix="evpipe-smoke-"))
    stack = LocalStack(path, moto_port=free_port())
    try:
        stack.start(progress=lambda message: say(f"local stack: {message}"))
        stack.activate()
        yield stack
    finally:
        stack.stop()
        shutil.rmtree(path, ignore_errors=True)


# ------------------------------------------------------------------------------------------ command line


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tools.smoke_test",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--stage", help="a deployed stage (qa, prod): invokes <project>-<stage>-<function>")
    where.add_argument("--local", action="store_true", help="the running local stack (make up)")
    where.add_argument("--start-local", action="store_true", help="start a local stack of its own, stop it after")
    parser.add_argument("--project", default=os.environ.get("PROJECT", "event-pipeline"), help="function name prefix")
    parser.add_argument("--region", default=os.environ.get("AWS_REGION"), help="AWS region (with --stage)")
    parser.add_argument("--state-dir", default=str(ROOT / ".local"), help="the local stack's folder (--local)")
    parser.add_argument(
        "--no-consume",
        action="store_true",
        help="with --local: leave error_sink to the stack's own mapping (make up runs one) instead of driving it here",
    )
    parser.add_argument("--count", type=int, default=3, help="events to send (default 3)")
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds to wait for them (default 180)")
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between polls (default 5)")
    parser.add_argument(
        "--since", type=float, default=300.0, help="read rows ingested from this many seconds before the start (300)"
    )
    parser.add_argument("--read-only", action="store_true", help="only check that read_table answers (production)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if not 1 <= args.count <= 500:
        _parser().error("--count must be between 1 and 500 (error_source takes at most 500 events)")

    def say(message: str) -> None:
        print(f"smoke_test: {message}", flush=True)

    def test(backend: Backend) -> None:
        if args.read_only:
            read_only(backend, say)
        else:
            run(
                backend,
                count=args.count,
                timeout_s=args.timeout,
                interval_s=args.interval,
                since=timedelta(seconds=args.since),
                say=say,
            )

    from botocore.exceptions import BotoCoreError, ClientError

    try:
        if args.stage:
            from tools.invoke import lambda_client

            say(f"against the deployed functions {args.project}-{args.stage}-*")
            test(LambdaBackend(lambda_client(args.region), f"{args.project}-{args.stage}"))
        elif args.local:
            _use_stack_settings(Path(args.state_dir))
            endpoint = os.environ["AWS_ENDPOINT_URL"]
            say(f"against the local stack at {endpoint}")
            try:
                backend = LocalBackend(_local_kinesis(), consume=not args.no_consume)
            except (BotoCoreError, ClientError) as e:
                raise SmokeFailure(f"the local stack at {endpoint} does not answer ({e}): is `make up` running?") from e
            test(backend)
        else:
            with _temporary_stack(say) as stack:
                test(LocalBackend(stack.kinesis()))
    except SmokeFailure as e:
        say(f"FAILED: {e}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
