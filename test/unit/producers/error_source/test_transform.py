"""error_source's transform: request reading, validation with reasons, packing and response shapes."""

import base64
import json
import uuid
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from producers.error_source import transform
from shared import events, kinesis
from shared.exceptions import Rejected
from test.support import load_event

NOW = datetime(2026, 11, 22, 9, 15, 3, tzinfo=UTC)


def prepare(event):
    return transform.prepare(transform.parse_request(event), received_at=NOW)


def http(body, *, method="POST", b64=False):
    event = load_event("error_source/http_post.json")
    event["requestContext"]["http"]["method"] = method
    raw = body if isinstance(body, str) else json.dumps(body)
    event["body"] = base64.b64encode(raw.encode()).decode() if b64 else raw
    event["isBase64Encoded"] = b64
    return event


def test_http_post_accepts_events_and_assigns_missing_ids():
    event = load_event("error_source/http_post.json")
    request = transform.parse_request(event)
    batch = transform.prepare(request, received_at=NOW)
    reply = transform.respond(request, batch)
    body = json.loads(reply["body"])
    assert reply["statusCode"] == 202
    assert body == {
        "accepted": [transform.content_id(batch.valid[0]), "7d9c3f0e-5a51-4b7e-8f2d-2b6c1e0a9f11"],
        "rejected": [],
    }
    assert uuid.UUID(body["accepted"][0]).version == 5
    assert reply["headers"]["content-type"] == "application/json"


REPORT = {
    "source": "checkout-api",
    "level": "ERROR",
    "message": "payment provider timed out",
    "occurred_at": "2026-11-22T09:15:02Z",
    "context": {"order": "A-1", "attempt": 3},
    "stack": "Traceback ...",
}


def _ids(items, received_at=NOW):
    return [e.event_id for e in transform.prepare(transform.Request(items, http=False), received_at=received_at).valid]


def test_an_event_without_an_id_gets_the_same_id_every_time_it_is_sent():
    later = datetime(2026, 11, 22, 9, 20, tzinfo=UTC)
    first = _ids([REPORT, {**REPORT, "message": "other"}])
    assert first == _ids([REPORT, {**REPORT, "message": "other"}], received_at=later)  # a blind resend
    assert first[0] != first[1]
    # The same report written differently is the same report: key order, level case, the same instant.
    same = {**REPORT, "level": "error", "context": {"attempt": 3, "order": "A-1"}}
    assert _ids([same, {**REPORT, "occurred_at": "2026-11-22T10:15:02+01:00"}]) == [first[0], first[0]]


@pytest.mark.parametrize(
    "change",
    [
        {"source": "checkout-api-2"},
        {"level": "CRITICAL"},
        {"message": "payment provider timed out!"},
        {"occurred_at": "2026-11-22T09:15:02.000001Z"},
        {"context": {"order": "A-2", "attempt": 3}},
        {"context": {"order": "A-1", "attempt": 3.0}},
        {"stack": "Traceback ...."},
        {"stack": None},
    ],
)
def test_any_change_of_content_gives_another_id(change):
    assert _ids([{**REPORT, **change}]) != _ids([REPORT])


def test_an_id_the_sender_gave_is_kept():
    given = "7d9c3f0e-5a51-4b7e-8f2d-2b6c1e0a9f11"
    assert _ids([{**REPORT, "event_id": given}, REPORT]) == [given, _ids([REPORT])[0]]


def test_published_records_carry_the_wire_events():
    batch = prepare(load_event("error_source/http_post.json"))
    (record,) = batch.records
    out = list(
        kinesis.deaggregate(
            [
                {
                    "kinesis": {
                        "data": base64.b64encode(record.data).decode(),
                        "sequenceNumber": "1",
                        "partitionKey": record.partition_key,
                    }
                }
            ]
        )
    )
    decoded = [events.parse(events.decode(r.data)) for r in out]
    assert decoded == batch.valid
    assert all(e.received_at == NOW for e in decoded)
    assert [r.partition_key for r in out] == [e.event_id for e in batch.valid]


def test_function_url_base64_body_is_decoded():
    batch = prepare(load_event("error_source/function_url_base64.json"))
    assert [e.message for e in batch.valid] == ["Ünïcödé crash in 日本語 locale"]


def test_direct_invoke_reports_rejected_events_by_index():
    event = load_event("error_source/direct_invoke.json")
    request = transform.parse_request(event)
    reply = transform.respond(request, transform.prepare(request, received_at=NOW))
    assert reply["statusCode"] == 202
    assert len(reply["accepted"]) == 1
    assert reply["rejected"] == [{"index": 1, "reason": reply["rejected"][0]["reason"]}]
    assert "level must be one of" in reply["rejected"][0]["reason"]


def test_nothing_valid_is_400_with_every_reason():
    request = transform.parse_request({"events": [{"source": "a"}, 7]})
    reply = transform.respond(request, transform.prepare(request, received_at=NOW))
    assert reply["statusCode"] == 400
    assert [r["index"] for r in reply["rejected"]] == [0, 1]
    assert "missing field(s)" in reply["rejected"][0]["reason"]
    assert "must be a JSON object, got int" in reply["rejected"][1]["reason"]


@pytest.mark.parametrize(
    ("event", "status", "reason"),
    [
        (http("{not json"), 400, "body is not JSON"),
        (http(""), 400, "body is empty"),
        (http("x" * (1024 * 1024 + 1)), 413, "over the limit of 1048576"),
        (http([{}] * 501), 413, "501 events in one request, over the limit of 500"),
        (http([]), 400, "no events"),
        (http({"events": "nope"}), 400, "events must be a JSON array"),
        (http([], method="GET"), 405, "method GET not allowed"),
        ({**http("x", b64=True), "body": "%%%not base64"}, 400, "not valid base64"),
        ({"events": [{}] * 501}, 413, "over the limit of 500"),
        ({"something": "else"}, 400, "direct invoke must carry"),
        ("a string", 400, "must be a JSON object"),
    ],
)
def test_bad_requests_get_a_status_and_reason(event, status, reason):
    with pytest.raises(Rejected) as err:
        transform.prepare(transform.parse_request(event), received_at=NOW)
    assert err.value.status == status
    assert reason in err.value.reason
    reply = transform.error_response(transform.is_http(event), err.value)
    assert reply["statusCode"] == status


def test_events_over_a_mebibyte_once_encoded_are_413():
    big = {"source": "s", "level": "INFO", "message": "m" * 30_000, "occurred_at": "2026-11-22T09:15:02Z"}
    with pytest.raises(Rejected) as err:
        prepare({"events": [big] * 40})
    assert err.value.status == 413


def test_unavailable_events_give_503_naming_each_by_request_index_and_id():
    base = {"source": "s", "level": "INFO", "occurred_at": "2026-11-22T09:15:02Z"}
    items = [{**base, "message": f"{n} " + "m" * 30_000} for n in range(3)]
    items.insert(1, {"source": "s"})  # refused: input indexes and valid positions differ from here on
    request = transform.parse_request({"events": items})
    batch = transform.prepare(request, received_at=NOW)
    assert len(batch.records) == 1
    reply = transform.respond(request, batch, failed_records=[0])
    assert reply["statusCode"] == 503
    assert reply["accepted"] == []
    ids = [e.event_id for e in batch.valid]
    assert reply["unavailable"] == [
        {"index": 0, "event_id": ids[0]},
        {"index": 2, "event_id": ids[1]},
        {"index": 3, "event_id": ids[2]},
    ]
    assert [r["index"] for r in reply["rejected"]] == [1]


def test_http_503_sets_the_retry_after_header():
    event = load_event("error_source/http_post.json")
    request = transform.parse_request(event)
    batch = transform.prepare(request, received_at=NOW)
    reply = transform.respond(request, batch, failed_records=[0])
    assert reply["statusCode"] == 503
    assert int(reply["headers"]["retry-after"]) > 0
    assert json.loads(reply["body"])["unavailable"] == [
        {"index": i, "event_id": e.event_id} for i, e in enumerate(batch.valid)
    ]


@pytest.mark.parametrize(
    ("configured", "remaining_ms", "expected"),
    [
        (10.0, None, 10.0),  # no invocation context: the configured deadline
        (10.0, 60_000, 10.0),  # plenty of time left
        (10.0, 3_000, 2.5),  # the invocation ends first: its time left, less the margin for answering
        (1.0, 400, 0.0),  # not even the margin left: publish nothing, answer 503
    ],
)
def test_the_publish_deadline_is_the_sooner_of_the_setting_and_the_invocation(configured, remaining_ms, expected):
    assert transform.publish_deadline(configured, remaining_ms) == pytest.approx(expected)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=15,
)


@settings(max_examples=300, deadline=None)
@given(st.one_of(json_values, st.lists(json_values, max_size=5).map(lambda v: {"events": v}), st.binary(max_size=200)))
def test_any_request_gets_a_response_never_an_unexpected_exception(payload):
    if isinstance(payload, bytes):
        event = http("x")
        event["body"] = base64.b64encode(payload).decode()
        event["isBase64Encoded"] = True
    elif isinstance(payload, dict) and "events" in payload:
        event = payload
    else:
        event = http(json.dumps(payload, allow_nan=True))
    try:
        request = transform.parse_request(event)
        reply = transform.respond(request, transform.prepare(request, received_at=NOW))
    except Rejected as e:
        reply = transform.error_response(transform.is_http(event), e)
    assert reply["statusCode"] in {202, 400, 405, 413}
    if reply["statusCode"] == 202:
        body = json.loads(reply["body"]) if "body" in reply else reply
        assert len(body["accepted"]) + len(body["rejected"]) == len(request.items)
