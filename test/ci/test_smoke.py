"""The smoke test (tools/smoke_test.py): its verdicts on an in-memory fake, and passing on the local stack."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tools import smoke_test
from tools.smoke_test import SmokeFailure
from utilities.read_table import transform as read_table

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)


class FakePipeline:
    """error_source and read_table in memory: accepted events become readable after ``lag`` settles."""

    def __init__(self, *, lag: int = 1, page: int = 2, reject: bool = False, never_arrive: bool = False) -> None:
        self.lag, self.page, self.reject, self.never_arrive = lag, page, reject, never_arrive
        self.rows: list[dict[str, Any]] = [{"event_id": f"00000000-0000-0000-0000-00000000000{i}"} for i in range(3)]
        self.pending: list[str] = []
        self.settles = 0

    def invoke(self, function: str, event: dict[str, Any]) -> Any:
        if function == "error_source":
            ids = [e["event_id"] for e in event["events"]]
            if self.reject:
                return {"statusCode": 202, "accepted": ids[1:], "rejected": [{"index": 0, "reason": "no"}]}
            self.pending += ids
            return {"statusCode": 202, "accepted": ids, "rejected": []}
        assert function == "read_table"
        after = event.get("after") or ""
        if after.startswith("page:"):  # a cursor this fake handed out
            start = int(after.removeprefix("page:"))
        else:  # the smoke test's own first cursor: read_table's real check must take it
            read_table.parse_request(event)
            start = 0
        rows = self.rows[start : start + self.page]
        more = start + self.page < len(self.rows)
        return {"statusCode": 200, "rows": rows, "next": f"page:{start + self.page}" if more else None}

    def settle(self) -> None:
        self.settles += 1
        if self.settles >= self.lag and not self.never_arrive:
            self.rows += [{"event_id": i} for i in self.pending]
            self.pending = []


def test_cursor_starts_read_table_at_the_given_time() -> None:
    # GIVEN a start time  WHEN the smoke test builds its first cursor  THEN read_table reads it as that time
    cursor = smoke_test.start_cursor(NOW - timedelta(minutes=5))
    query = read_table.parse_request({"table": "errors", "after": cursor})
    assert query.after is None and query.since == "2026-11-22T08:55:00+00:00"


def test_events_are_valid_and_marked_with_the_run() -> None:
    from shared import events as schema

    ids = ["5b1f3a52-0d44-4b8e-9a4e-6f1f2f7c9a01", "5b1f3a52-0d44-4b8e-9a4e-6f1f2f7c9a02"]
    made = smoke_test.make_events(ids, "run1", NOW)
    assert [e["event_id"] for e in made] == ids
    assert all(e["source"] == "smoke-test" and e["context"]["smoke_test"] == "run1" for e in made)
    for event in made:
        schema.parse(event, received_at=NOW)  # raises InvalidEvent on anything error_source would reject


def test_passes_once_every_accepted_id_is_readable_across_pages() -> None:
    fake = FakePipeline(lag=3, page=2)
    ids = smoke_test.run(fake, count=3, timeout_s=60, interval_s=0, say=lambda _m: None)  # type: ignore[arg-type]
    assert len(ids) == 3
    assert fake.settles == 3


def test_fails_naming_the_missing_ids_when_they_never_arrive() -> None:
    fake = FakePipeline(never_arrive=True)
    ticks = iter(range(0, 1000, 10))
    with pytest.raises(SmokeFailure) as failure:
        smoke_test.wait_for(
            fake,  # type: ignore[arg-type]
            {"11111111-1111-1111-1111-111111111111"},
            after=smoke_test.start_cursor(NOW),
            timeout_s=30,
            interval_s=0,
            clock=lambda: float(next(ticks)),
            sleep=lambda _s: None,
        )
    message = str(failure.value)
    assert "1 of 1 accepted events did not reach the errors table within 30s" in message
    assert "11111111-1111-1111-1111-111111111111" in message
    assert "dead_letters" in message


def test_fails_when_error_source_does_not_take_every_event() -> None:
    with pytest.raises(SmokeFailure, match="error_source should accept exactly"):
        smoke_test.run(FakePipeline(reject=True), count=2, say=lambda _m: None)  # type: ignore[arg-type]


def test_local_mode_without_a_running_stack_says_how_to_start_one(capsys: pytest.CaptureFixture[str]) -> None:
    empty = Path(tempfile.mkdtemp(prefix="evpipe-nostack-"))
    try:
        assert smoke_test.main(["--local", "--state-dir", str(empty)]) == 1
    finally:
        empty.rmdir()
    assert "no local stack is running" in capsys.readouterr().out


@pytest.mark.integration
def test_passes_against_the_local_stack(local_stack: Any, capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN the session's stack (its settings in .../stack.json, as `make up` writes them)
    # WHEN the smoke test runs in --local mode  THEN the events land and it exits 0
    argv = ["--local", "--state-dir", str(local_stack.state_dir), "--interval", "0.2", "--timeout", "60"]
    assert smoke_test.main(argv) == 0, capsys.readouterr().out
    assert "passed: all 3 events are in the errors table" in capsys.readouterr().out


@pytest.mark.integration
def test_starts_and_stops_a_local_stack_of_its_own() -> None:
    # What `make smoke-local` runs: a fresh process with none of a stack's settings in its environment.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DATABASE_", "STAGE", "STREAM_", "ALERT_"))}
    before = set(Path(tempfile.gettempdir()).glob("evpipe-smoke-*"))
    proc = subprocess.run(
        [sys.executable, "-m", "tools.smoke_test", "--start-local", "--interval", "0.2", "--timeout", "60"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "passed: all 3 events are in the errors table" in proc.stdout
    assert set(Path(tempfile.gettempdir()).glob("evpipe-smoke-*")) == before, "the stack's folder was left behind"
