"""The local stack's long steps say when they start and, with their duration, when they end."""

from __future__ import annotations

import re
import time

from local import kinesis_mock
from local.stack import LocalStack, timed


def test_a_timed_step_is_a_line_before_and_a_line_after_with_its_duration():
    lines: list[str] = []
    with timed(lines.append, "starting the thing", "the thing ready"):
        assert lines == ["starting the thing"]
        time.sleep(0.15)
    assert len(lines) == 2 and re.fullmatch(r"the thing ready in (\d+\.\d) s", lines[1])
    assert float(lines[1].split()[-2]) >= 0.1


def test_installing_kinesis_mock_is_announced_only_when_it_happens(monkeypatch):
    done: list[bool] = []
    monkeypatch.setattr(kinesis_mock, "installed", lambda cache=kinesis_mock.CACHE: bool(done))
    monkeypatch.setattr(kinesis_mock, "install", lambda cache=kinesis_mock.CACHE: done.append(True))
    lines: list[str] = []
    LocalStack.install_kinesis_mock(lines.append)
    assert done == [True]
    assert lines[0] == (
        f"installing kinesis-mock ({kinesis_mock.PACKAGE} from npm) into {kinesis_mock.CACHE}: first use only"
    )
    assert re.fullmatch(r"kinesis-mock installed in \d+\.\d s", lines[1])
    LocalStack.install_kinesis_mock(lines.append)  # installed now: nothing to say, nothing done
    assert len(lines) == 2 and done == [True]
