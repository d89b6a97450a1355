"""Alerts for sources SNS would refuse in a header: every alert of the window is delivered, once.

error_alert runs as Lambda would run it on a closed window's final invocation, publishing to StrictSns (see
test/reliability/strict_sns.py): moto's SNS does not check Subject or MessageGroupId, so only a stand-in
that applies the documented rules can show a refusal. The last test goes through moto's SNS and SQS as well,
for the message bodies.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import pytest

from local.stack import FUNCTIONS, load_handler
from test.reliability.conftest import Row
from test.reliability.strict_sns import StrictSns, refused, throttled

pytestmark = pytest.mark.integration

AWKWARD = [
    "checkout api",  # a space
    "café-paiement",  # non-ASCII that folds
    "日本語サービス",  # non-ASCII that does not
    "line\nbreak",
    "tab\tand\x07bell",
    " leading space",
    "s" * 128,
    "x" * 127 + "é",  # folds to the same readable text as another source below
    "x" * 127 + "e",
    "plain-source",
]


def _final(counts: dict[str, int]) -> dict[str, Any]:
    return {
        "Records": [],
        "window": {"start": "2026-11-22T09:15:00Z", "end": "2026-11-22T09:16:00Z"},
        "state": {"counts": counts},
        "shardId": "shardId-000000000000",
        "eventSourceARN": "arn:aws:kinesis:us-east-1:123456789012:stream/errors",
        "isFinalInvokeForWindow": True,
        "isWindowTerminatedEarly": False,
    }


@pytest.fixture
def alert(local_stack: Any) -> Any:
    return load_handler(FUNCTIONS["error_alert"])


@pytest.fixture
def strict(alert: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    module = sys.modules[alert.__module__]

    def install(sns: StrictSns) -> StrictSns:
        monkeypatch.setattr(module, "SNS", sns)
        monkeypatch.setattr(module, "FIFO", True)
        return sns

    return install


def test_every_awkward_source_is_alerted_with_its_real_name(alert, strict, summary):
    sns = strict(StrictSns())
    counts = {source: 5 + i for i, source in enumerate(AWKWARD)}
    assert alert(_final(counts), None) == {"state": {}, "batchItemFailures": []}
    assert sns.refused == 0
    assert sorted(m["source"] for m in sns.delivered) == sorted(AWKWARD)
    assert {m["source"]: m["count"] for m in sns.delivered} == counts
    summary(Row("alert sources SNS refuses (alerts, delivered)", len(AWKWARD), len(sns.delivered), sns.duplicates, 0))


def test_a_throttled_alert_fails_the_final_invoke_after_the_others_and_the_retry_sends_it_once(alert, strict, summary):
    module = sys.modules[alert.__module__]
    failed_once: set[str] = set()

    def throttle_one(request: dict[str, Any]) -> Any:
        if json.loads(request["Message"])["source"] == "日本語サービス" and not failed_once:
            failed_once.add("yes")
            return throttled()
        return None

    sns = strict(StrictSns(fail=throttle_one))
    event = _final({source: 3 for source in AWKWARD})
    with pytest.raises(module.AlertsNotPublished, match="1 of 10 alerts not published"):
        alert(event, None)
    assert len(sns.delivered) == len(AWKWARD) - 1  # the one failure did not take the others
    assert alert(event, None) == {"state": {}, "batchItemFailures": []}  # Lambda retrying the final invoke
    assert sorted(m["source"] for m in sns.delivered) == sorted(AWKWARD)  # each exactly once
    assert sns.duplicates == len(AWKWARD) - 1  # the repeats the FIFO topic dropped by deduplication id
    # In: the alerts SNS took (10 on the first invoke but the throttled one, 10 on the retry); rows: delivered.
    summary(Row("alert throttled once, final window invoke retried (1 throttled)", 19, 10, sns.duplicates, 0))


def test_an_alert_sns_keeps_refusing_is_logged_and_counted_and_the_window_moves_on(alert, strict, caplog, capsys):
    sns = strict(
        StrictSns(
            fail=lambda request: refused() if json.loads(request["Message"])["source"] == "plain-source" else None
        )
    )
    assert alert(_final({source: 3 for source in AWKWARD}), None) == {"state": {}, "batchItemFailures": []}
    assert sorted(m["source"] for m in sns.delivered) == sorted(set(AWKWARD) - {"plain-source"})
    (failure,) = [r for r in caplog.records if r.getMessage() == "alert not published"]
    assert (failure.levelname, failure.source, failure.error) == ("ERROR", "plain-source", "AuthorizationError")
    assert '"AlertsPublished":9,"AlertsFailed":1' in capsys.readouterr().out  # the EMF metrics line


def test_awkward_sources_through_moto_reach_the_queue_with_their_real_names(local_stack, alert):
    local_stack.read_alerts()  # start with an empty alert queue
    counts = {source: 4 for source in AWKWARD}
    assert alert(_final(counts), None) == {"state": {}, "batchItemFailures": []}
    assert sorted(a["source"] for a in local_stack.read_alerts()) == sorted(AWKWARD)
