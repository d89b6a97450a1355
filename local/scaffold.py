"""``python -m local new consumer|producer|utility NAME [--stream STREAM]``: a new function from a template.

It writes the function folder (a pure transform.py, a thin handler.py), an event fixture under
test/events/NAME/, unit tests under test/unit/<kind>/NAME/, and the function's entry in pipeline.json (for a
consumer, its event source mapping too). Nothing else needs editing for the function to be built by
``./build.sh --all``, run by the local stack, covered by the tests and deployed by Terraform.
"""

from __future__ import annotations

import json
import keyword
import re
from pathlib import Path
from typing import Any

from local import lambda_events, manifest

__all__ = ["KINDS", "ScaffoldError", "dump_manifest", "scaffold"]

KINDS = {"consumer": "consumers", "producer": "producers", "utility": "utilities"}
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")  # at most 40: <project>-<stage>- and the name fit Lambda's 64
# A mapping's settings as a new reader starts with: those of error_sink's, one lane per shard, a batch as big as
# Lambda's default. Tune them in pipeline.json.
NEW_MAPPING = {
    "batch_size": 100,
    "maximum_batching_window_in_seconds": 5,
    "parallelization_factor": 1,
    "maximum_retry_attempts": -1,
    "maximum_record_age_in_seconds": None,
    "bisect_batch_on_function_error": True,
    "report_batch_item_failures": True,
    "tumbling_window_in_seconds": None,
    "starting_position": "TRIM_HORIZON",
    "starting_position_timestamp": None,
}


class ScaffoldError(ValueError):
    """The name, kind or stream cannot be used; the message says why, in one line."""


def dump_manifest(data: dict[str, Any]) -> str:
    """pipeline.json's canonical text: every writer of the file writes this, so a change is only its entry."""
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def _sample_events(name: str) -> list[dict[str, Any]]:
    base = {"schema_version": 1, "received_at": "2026-11-22T09:15:03+00:00"}
    return [
        {
            **base,
            "event_id": "5b1f3a52-0d44-4b8e-9a4e-6f1f2f7c9a01",
            "source": "checkout-api",
            "level": "ERROR",
            "message": "payment provider timed out after 3000 ms",
            "occurred_at": "2026-11-22T09:15:02.120000+00:00",
            "context": {"order_id": "A-1042", "attempt": 3},
        },
        {
            **base,
            "event_id": "5b1f3a52-0d44-4b8e-9a4e-6f1f2f7c9a02",
            "source": "checkout-api",
            "level": "WARNING",
            "message": "retrying payment capture",
            "occurred_at": "2026-11-22T08:15:01.004000+00:00",
            "context": {"order_id": "A-1042"},
        },
        {
            **base,
            "event_id": "5b1f3a52-0d44-4b8e-9a4e-6f1f2f7c9a03",
            "source": "search-indexer",
            "level": "CRITICAL",
            "message": "index shard 7 unreachable",
            "occurred_at": "2026-11-22T09:16:40+00:00",
            "context": {"shard": 7},
            "stack": 'Traceback (most recent call last):\n  File "indexer.py", line 88, in flush\nConnectionError',
        },
    ]


def _kinesis_fixture(name: str) -> dict[str, Any]:
    """A Lambda Kinesis event as the stream delivers it: one KPL aggregate of three events, one plain event, and
    one record that is not an event at all."""
    from shared import kinesis

    sample = _sample_events(name)
    wire = [json.dumps(e, separators=(",", ":")).encode() for e in sample]
    (aggregate,) = kinesis.aggregate([(sample[0]["event_id"], wire[0]), (sample[1]["event_id"], wire[1])])
    plain = wire[2]
    event = lambda_events.kinesis_event(
        [(aggregate.partition_key, aggregate.data), ("5b1f3a52-0d44-4b8e-9a4e-6f1f2f7c9a03", plain), ("k", b"{")],
        shard_id="shardId-000000000001",
    )
    for record in event["Records"]:
        record["invokeIdentityArn"] = f"arn:aws:iam::123456789012:role/{name}"
    return event


CONSUMER_TRANSFORM = '''"""The decisions (pure) of
{name}: what one batch of the {stream} stream holds.

Records are de-aggregated (KPL) and validated against the error event schema here; the handler only reports.
A record that is not a valid event is counted as Invalid, never raised on: one bad record must not block its
shard. Replace ``tally`` with what the function is for, and keep it free of I/O so its tests need no mocks.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from shared import events, kinesis
from shared.exceptions import InvalidEvent

__all__ = ["tally"]


def tally(records: Sequence[dict[str, Any]]) -> dict[str, int]:
    """Counts of one batch: ``RecordsIn`` user records, of which ``Invalid`` are not valid events, and the valid
    ones by level (``ERROR``, ``WARNING``, ...). RecordsIn = Invalid + the sum of the levels."""
    counts = {{"RecordsIn": 0, "Invalid": 0}}
    for item in kinesis.deaggregate(records):
        counts["RecordsIn"] += 1
        if isinstance(item, kinesis.CorruptRecord):
            counts["Invalid"] += 1
            continue
        try:
            event = events.parse(events.decode(item.data))
        except InvalidEvent:
            counts["Invalid"] += 1
            continue
        counts[event.level] = counts.get(event.level, 0) + 1
    return counts
'''

CONSUMER_HANDLER = '''"""Lambda handler of
{name}: the batch's counts as EMF metrics; configuration read once, at import.
"""

from typing import Any

from consumers.{name} import transform
from shared import config, observability

CONFIG = config.load()
observability.setup_logging(CONFIG.log_level)
LOG = observability.get_logger(__name__)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    counts = transform.tally(event.get("Records", []))
    observability.emit_metrics("{name}", counts)
    # Nothing here can fail one record alone: an exception (an outage) fails the batch, which Lambda retries.
    return {{"batchItemFailures": []}}
'''

CONSUMER_TEST = '''"""The decisions of
{name} on the fixture the stream would deliver.
"""

from consumers.{name} import transform
from test.support import error_event, kinesis_event, load_event, wire

FIXTURE = "{name}/kinesis.json"


def test_the_fixture_is_tallied_by_level_and_the_bad_record_counted():
    counts = transform.tally(load_event(FIXTURE)["Records"])
    assert counts == {{"RecordsIn": 4, "Invalid": 1, "ERROR": 1, "WARNING": 1, "CRITICAL": 1}}


def test_every_record_is_accounted_for():
    records = kinesis_event([("k", wire(error_event(n, level=level))) for n, level in enumerate(["ERROR", "info"])])
    records["Records"].append(kinesis_event([("k", b"not json")])["Records"][0])
    counts = transform.tally(records["Records"])
    assert counts["RecordsIn"] == 3 == sum(v for k, v in counts.items() if k != "RecordsIn")
    assert counts["INFO"] == 1 and counts["Invalid"] == 1


def test_an_empty_batch_counts_nothing():
    assert transform.tally([]) == {{"RecordsIn": 0, "Invalid": 0}}
'''

PRODUCER_TRANSFORM = '''"""The decisions (pure) of
{name}: which events of a request are valid, and the records they become.

A direct invocation carries ``{{"events": [...]}}``; each event is validated against the error event schema,
given its ``received_at``, and the valid ones are KPL-aggregated. Replace ``parse_request`` with the shape your
callers send; keep this module free of I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shared import events, kinesis
from shared.exceptions import InvalidEvent, Rejected

__all__ = ["Batch", "prepare", "parse_request"]


@dataclass
class Batch:
    accepted: list[str] = field(default_factory=list)  # event ids, in request order
    rejected: list[dict[str, Any]] = field(default_factory=list)  # {{"index", "reason"}}
    records: list[kinesis.AggregatedRecord] = field(default_factory=list)


def parse_request(request: Any) -> list[Any]:
    """The events of a request; Rejected (400) when it holds none."""
    items = request.get("events") if isinstance(request, dict) else None
    if not isinstance(items, list) or not items:
        raise Rejected(400, 'expected {{"events": [...]}} with at least one event')
    return items


def prepare(items: list[Any], *, received_at: datetime) -> Batch:
    batch = Batch()
    encoded = []
    for index, item in enumerate(items):
        try:
            event = events.parse(item, received_at=received_at)
        except InvalidEvent as e:
            batch.rejected.append({{"index": index, "reason": str(e)}})
            continue
        batch.accepted.append(event.event_id)
        encoded.append((event.event_id, events.encode(event)))
    batch.records = kinesis.aggregate(encoded)
    return batch
'''

PRODUCER_HANDLER = '''"""Lambda handler of
{name}: validate, aggregate, publish to STREAM_NAME; the Kinesis client is built on first use, then kept.
"""

from datetime import UTC, datetime
from typing import Any

from producers.{name} import transform
from shared import aws, config, invocation, observability
from shared.exceptions import Rejected

CONFIG = config.load(stream=True)
observability.setup_logging(CONFIG.log_level)
LOG = observability.get_logger(__name__)
PUBLISHER = aws.publisher(CONFIG)


def handler(event: Any, context: Any) -> dict[str, Any]:
    try:
        items = transform.parse_request(event)
    except Rejected as e:
        return e.response()
    batch = transform.prepare(items, received_at=datetime.now(UTC))
    deadline_s = CONFIG.publish_deadline_s
    if (remaining_ms := invocation.remaining_ms(context)) is not None:  # never past the invocation's timeout
        deadline_s = min(deadline_s, remaining_ms / 1000 - 0.5)
    result = PUBLISHER.publish(batch.records, deadline_s=max(deadline_s, 0.1)) if batch.records else None
    unavailable = sum(batch.records[i].user_records for i in result.failed) if result else 0
    metrics = {{"EventsIn": len(items), "EventsRejected": len(batch.rejected), "EventsUnavailable": unavailable}}
    observability.emit_metrics("{name}", metrics)
    # 503: some events may not have landed; resending them with the same event_id is harmless downstream.
    status = 503 if unavailable else 202
    return {{"statusCode": status, "accepted": batch.accepted, "rejected": batch.rejected, "unavailable": unavailable}}
'''

PRODUCER_TEST = '''"""The decisions of
{name} on its fixture.
"""

from datetime import UTC, datetime

import pytest

from producers.{name} import transform
from shared import events, kinesis
from shared.exceptions import Rejected
from test.support import kinesis_event, load_event

NOW = datetime(2026, 11, 22, 9, 20, tzinfo=UTC)
FIXTURE = "{name}/direct_invoke.json"


def test_valid_events_are_aggregated_and_the_invalid_one_rejected_with_its_index():
    batch = transform.prepare(transform.parse_request(load_event(FIXTURE)), received_at=NOW)
    assert len(batch.accepted) == 2
    assert [r["index"] for r in batch.rejected] == [2]
    assert sum(r.user_records for r in batch.records) == 2


def test_the_records_de_aggregate_to_the_accepted_events():
    batch = transform.prepare(transform.parse_request(load_event(FIXTURE)), received_at=NOW)
    records = kinesis_event([(r.partition_key, r.data) for r in batch.records])["Records"]
    users = [u for u in kinesis.deaggregate(records) if isinstance(u, kinesis.UserRecord)]
    assert [events.parse(events.decode(u.data)).event_id for u in users] == batch.accepted


def test_a_request_without_events_is_refused():
    with pytest.raises(Rejected, match="at least one event"):
        transform.parse_request({{"events": []}})
'''

UTILITY_TRANSFORM = '''"""The decisions (pure) of
{name}: what a request asks for, and the answer.

An operator invokes it with a JSON object. Replace ``Request``, ``parse_request`` and ``answer`` with what it
is for; keep this module free of I/O, so its tests need no mocks, and let handler.py do the side effects.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.exceptions import Rejected

__all__ = ["Request", "answer", "parse_request"]


@dataclass(frozen=True, slots=True)
class Request:
    dry_run: bool


def parse_request(event: Any) -> Request:
    """What the invocation asks for; raises Rejected (400, why) for a request that cannot be served."""
    if not isinstance(event, dict):
        raise Rejected(400, "the request must be a JSON object")
    unknown = sorted(map(str, set(event) - {{"dry_run"}}))
    if unknown:
        raise Rejected(400, f"unknown field(s): {{', '.join(unknown)}}")
    return Request(dry_run=bool(event.get("dry_run", False)))


def answer(request: Request, *, stage: str) -> dict[str, Any]:
    return {{"statusCode": 200, "function": "{name}", "stage": stage, "dry_run": request.dry_run}}
'''

UTILITY_HANDLER = '''"""Lambda handler of
{name}: an operator's tool; configuration read once, at import.
"""

from typing import Any

from shared import config, observability
from shared.exceptions import Rejected
from utilities.{name} import transform

CONFIG = config.load()
observability.setup_logging(CONFIG.log_level)
LOG = observability.get_logger(__name__)


def handler(event: Any, context: Any) -> dict[str, Any]:
    try:
        request = transform.parse_request(event)
    except Rejected as e:
        LOG.warning("request refused", extra={{"reason": e.reason}})
        return e.response()
    return transform.answer(request, stage=CONFIG.stage)
'''

UTILITY_TEST = '''"""The decisions of
{name} on its fixture.
"""

import pytest

from shared.exceptions import Rejected
from test.support import load_event
from utilities.{name} import transform

NAME = "{name}"
FIXTURE = f"{{NAME}}/invoke.json"


def test_the_fixture_is_answered():
    answer = transform.answer(transform.parse_request(load_event(FIXTURE)), stage="qa")
    assert answer == {{"statusCode": 200, "function": NAME, "stage": "qa", "dry_run": True}}


def test_an_unknown_field_is_refused_by_name():
    with pytest.raises(Rejected, match="unknown field"):
        transform.parse_request({{"tabel": "errors"}})
'''


def _entry(kind: str, name: str, stream: str | None) -> dict[str, Any]:
    what = {
        "consumers": f"Reads the {stream} stream.",
        "producers": f"Validates error events and writes them, KPL-aggregated, to the {stream} stream.",
        "utilities": "An operator's tool.",
    }[kind]
    return {
        "kind": kind,
        "description": f"{name}: {what}",
        "memory_size": 256,
        "timeout": 60,
        "database": False,
        "db_user": None,
        "stream_env": {"STREAM_NAME": stream} if kind == "producers" else {},
        "topic_env": {},
        "environment": {},
        "terraform_environment": [],
        "function_url": False,
        "async": False,
        "dead_letters": False,
    }


def _fixture(kind: str, name: str) -> tuple[str, Any]:
    if kind == "consumers":
        return "kinesis.json", _kinesis_fixture(name)
    if kind == "producers":
        items: list[Any] = [
            {k: v for k, v in e.items() if k not in ("schema_version", "received_at")} for e in _sample_events(name)[:2]
        ]
        items.append({"source": "billing-worker", "level": "LOUD", "message": "no such level", "occurred_at": "2026"})
        return "direct_invoke.json", {"events": items}
    return "invoke.json", {"dry_run": True}


def scaffold(kind_word: str, name: str, stream: str | None = None, *, root: Path = manifest.ROOT) -> list[Path]:
    """Write the function and its manifest entry; the paths written, or ScaffoldError before anything is."""
    if kind_word not in KINDS:
        raise ScaffoldError(f"unknown kind {kind_word!r}: expected one of {', '.join(KINDS)}")
    kind = KINDS[kind_word]
    if not _NAME.match(name) or keyword.iskeyword(name):
        raise ScaffoldError(
            f"invalid name {name!r}: a lower-case Python identifier of at most 40 characters (letters, digits, _);"
            " it is the folder, the zip and part of the handler's module path"
        )
    path = root / "pipeline.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    manifest.check(data)
    if name in data["functions"]:
        raise ScaffoldError(f"a function named {name!r} exists already ({data['functions'][name]['kind']}/{name})")
    taken = [f"{k}/{name}" for k in data["kinds"] if (root / k / name).exists()]
    if taken or (root / "test" / "events" / name).exists():
        raise ScaffoldError(f"{(taken or [f'test/events/{name}'])[0]} exists already; pick another name")
    if kind == "utilities" and stream is not None:
        raise ScaffoldError("a utility reads no stream: leave out --stream")
    if kind != "utilities":
        if stream is None:
            if len(data["streams"]) != 1:
                raise ScaffoldError(f"--stream is needed: one of {', '.join(data['streams'])}")
            (stream,) = data["streams"]
        if stream not in data["streams"]:
            raise ScaffoldError(f"unknown stream {stream!r}; pipeline.json has {', '.join(data['streams'])}")

    data["functions"][name] = _entry(kind, name, stream)
    if kind == "consumers":
        data["mappings"][f"{name}_{stream}"] = {"function": name, "stream": stream, **NEW_MAPPING}
    manifest.check(data)  # the new entry is one every reader takes

    sources = {
        "consumers": (CONSUMER_TRANSFORM, CONSUMER_HANDLER, CONSUMER_TEST),
        "producers": (PRODUCER_TRANSFORM, PRODUCER_HANDLER, PRODUCER_TEST),
        "utilities": (UTILITY_TRANSFORM, UTILITY_HANDLER, UTILITY_TEST),
    }[kind]
    fixture_name, fixture = _fixture(kind, name)
    files = {
        root / kind / name / "__init__.py": "",
        root / kind / name / "transform.py": sources[0].format(name=name, stream=stream),
        root / kind / name / "handler.py": sources[1].format(name=name, stream=stream),
        root / "test" / "events" / name / fixture_name: json.dumps(fixture, indent=2, ensure_ascii=False) + "\n",
        root / "test" / "unit" / kind / name / "__init__.py": "",
        root / "test" / "unit" / kind / name / "test_transform.py": sources[2].format(name=name, stream=stream),
    }
    for file, text in files.items():
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(text, encoding="utf-8")
    path.write_text(dump_manifest(data), encoding="utf-8")
    return [*files, path]
