"""log_source's transform: subscription decoding, line parsing, level filter, deterministic ids."""

import base64
import gzip
from datetime import UTC, datetime

import pytest

from producers.log_source import transform
from shared import events
from test.support import load_event

NOW = datetime(2026, 11, 22, 9, 20, tzinfo=UTC)


def test_data_message_keeps_warning_and_above_from_json_and_text_lines():
    delivery = transform.parse_request(load_event("log_source/subscription.json"))
    assert delivery.message_type == "DATA_MESSAGE" and len(delivery.log_events) == 7
    found, skipped = transform.to_events(delivery, received_at=NOW)
    assert skipped == []
    assert [(e.level, e.message) for e in found] == [
        ("ERROR", "payment provider timed out"),
        ("ERROR", "KeyError: 'customer_id'"),
        ("WARNING", "disk usage at 91% on /var/lib/app"),
        ("CRITICAL", "database connection pool exhausted"),
    ]
    first = found[0]
    assert first.source == "/aws/lambda/checkout-api"
    assert first.context["order_id"] == "A-1042" and first.context["log_event_id"]
    assert first.occurred_at == datetime(2026, 11, 22, 9, 15, 2, 120000, tzinfo=UTC)
    assert found[3].context["pool"] == "primary"


def test_redelivery_gives_the_same_event_ids():
    event = load_event("log_source/subscription.json")
    once, _ = transform.to_events(transform.parse_request(event), received_at=NOW)
    again, _ = transform.to_events(transform.parse_request(event), received_at=datetime(2026, 11, 23, tzinfo=UTC))
    assert [e.event_id for e in once] == [e.event_id for e in again]
    assert len({e.event_id for e in once}) == len(once)


def test_control_message_is_ignored():
    delivery = transform.parse_request(load_event("log_source/control_message.json"))
    assert delivery.message_type == "CONTROL_MESSAGE"
    assert transform.to_events(delivery, received_at=NOW) == ([], [])


@pytest.mark.parametrize(
    "event",
    [
        {},
        {"awslogs": {"data": "***"}},
        {"awslogs": {"data": base64.b64encode(b"not gzip").decode()}},
        {"awslogs": {"data": base64.b64encode(gzip.compress(b"[1, 2]")).decode()}},
        {"awslogs": {"data": base64.b64encode(gzip.compress(b"{not json")).decode()}},
    ],
)
def test_unreadable_delivery_is_a_bad_delivery(event):
    with pytest.raises(transform.BadDelivery, match="not a CloudWatch Logs subscription event"):
        transform.parse_request(event)


def test_log_events_that_cannot_become_events_are_skipped_with_a_reason():
    delivery = transform.Delivery(
        "DATA_MESSAGE",
        "/g",
        "s",
        [
            {"id": "1", "timestamp": "soon", "message": "ERROR x"},
            {"id": "", "timestamp": 1, "message": "ERROR y"},
            {"id": "3", "timestamp": 1795338902120, "message": "ERROR nul \x00 inside"},
        ],
    )
    found, skipped = transform.to_events(delivery, received_at=NOW)
    assert [e.message for e in found] == ["nul \ufffd inside"]  # the report kept, the NUL replaced
    assert [s["reason"] for s in skipped] == [
        "log event timestamp is not an integer",
        "log event without an id or a message",
    ]


def test_oversize_extra_fields_are_dropped_but_the_event_kept():
    line = '{"level": "ERROR", "message": "big", "blob": "' + "x" * 20_000 + '"}'
    delivery = transform.Delivery("DATA_MESSAGE", "/g", "s", [{"id": "9", "timestamp": 1795338902120, "message": line}])
    (event,), _ = transform.to_events(delivery, received_at=NOW)
    assert "blob" not in event.context and event.context["log_event_id"] == "9"


def delivery_of(lines):
    return transform.Delivery(
        "DATA_MESSAGE",
        "/aws/ecs/app",
        "web/1",
        [{"id": str(1000 + n), "timestamp": 1795338902120 + n, "message": line} for n, line in enumerate(lines)],
    )


def test_timestamp_first_lines_become_events():
    found, skipped = transform.to_events(
        delivery_of(
            [
                "2026-11-22 10:00:00,123 WARN [main] com.acme.Foo: pool at 90%",
                "2026-11-22 10:00:00,124 INFO [main] com.acme.Foo: served",
                "2026/11/22 10:00:00 [error] 123#0: *1 upstream timed out",
            ]
        ),
        received_at=NOW,
    )
    assert skipped == []
    assert [(e.level, e.message) for e in found] == [
        ("WARNING", "[main] com.acme.Foo: pool at 90%"),
        ("ERROR", "123#0: *1 upstream timed out"),
    ]


JAVA = [
    "2026-11-22 10:00:00,123 ERROR [http-nio-8080-exec-1] c.a.OrderController: order failed",
    "java.lang.IllegalStateException: inventory unavailable",
    "\tat com.acme.Inventory.reserve(Inventory.java:42)",
    "\tat com.acme.OrderController.place(OrderController.java:17)",
    "Caused by: java.net.SocketTimeoutException: Read timed out",
    "\tat java.base/java.net.SocketInputStream.read(SocketInputStream.java:168)",
    "\t... 12 more",
    "2026-11-22 10:00:01,000 INFO [main] c.a.Health: ok",
]
PYTHON = [
    "2026-11-22 10:00:02,000 ERROR app.worker: job 7 failed",
    "Traceback (most recent call last):",
    '  File "/app/worker.py", line 12, in run',
    "    total = prices[item]",
    "KeyError: 'sku-9'",
    "2026-11-22 10:00:03,000 WARNING app.worker: retrying job 7",
]


def test_java_and_python_stack_traces_join_the_event_above():
    found, skipped = transform.to_events(delivery_of(JAVA + PYTHON), received_at=NOW)
    assert skipped == []
    assert [(e.level, e.message) for e in found] == [
        ("ERROR", "[http-nio-8080-exec-1] c.a.OrderController: order failed"),
        ("ERROR", "app.worker: job 7 failed"),
        ("WARNING", "app.worker: retrying job 7"),
    ]
    assert found[0].stack == "\n".join(JAVA[1:7])
    assert found[1].stack == "\n".join(PYTHON[1:5])
    assert found[2].stack is None


def test_a_continuation_without_a_level_bearing_event_above_is_ignored():
    lines = ["\tat com.acme.Orphan.run(Orphan.java:1)", "INFO fine", '  File "x.py", line 1', "ERROR real", "\tat a.B"]
    found, skipped = transform.to_events(delivery_of(lines), received_at=NOW)
    assert skipped == [] and [(e.message, e.stack) for e in found] == [("real", "\tat a.B")]


def test_a_multi_line_trace_keeps_the_json_stack_first():
    line = '{"level": "error", "msg": "boom", "stack": "Error: boom\\n    at f (a.js:1:1)"}'
    (event,), _ = transform.to_events(delivery_of([line, "    at g (b.js:2:2)"]), received_at=NOW)
    assert event.stack == "Error: boom\n    at f (a.js:1:1)\n    at g (b.js:2:2)"


def test_a_hostile_deep_json_line_is_skipped_alone():
    deep = '{"level": "ERROR", "message": "x", "a": ' + "[" * 100_000 + "]" * 100_000 + "}"
    lines = ["ERROR first", deep, '{"level": "ERROR", "message": "second"}', "2026-11-22 10:00:00 ERROR third"]
    found, skipped = transform.to_events(delivery_of(lines), received_at=NOW)
    assert [e.message for e in found] == ["first", "second", "third"]
    assert skipped == [{"id": "1001", "reason": "log line is JSON nested too deeply to read"}]


def test_a_malformed_log_event_is_skipped_alone():
    delivery = transform.Delivery(
        "DATA_MESSAGE", "/g", "s", ["not a dict", {"id": "2", "timestamp": 1, "message": "ERROR ok"}]
    )
    found, skipped = transform.to_events(delivery, received_at=NOW)
    assert [e.message for e in found] == ["ok"]
    assert len(skipped) == 1 and skipped[0]["reason"].startswith("log event could not be read: AttributeError")


@pytest.mark.parametrize(
    ("fields", "bad"),
    [
        ('"note": "nul \\u0000 inside"', "note"),
        ('"nul\\u0000key": 1', "nul\x00key"),
        ('"lone": "\\ud800"', "lone"),
        ('"\\udfffkey": 1', "\udfffkey"),
        ('"ratio": NaN', "ratio"),
        ('"limit": Infinity', "limit"),
        ('"deep": ' + "[" * 80 + "]" * 80, "deep"),
    ],
)
def test_a_bad_extra_field_is_dropped_and_counted_the_event_kept(fields, bad):
    line = '{"level": "ERROR", "message": "checkout failed", "order_id": "A-1", ' + fields + "}"
    outcome = transform.convert(delivery_of([line, "ERROR clean"]), received_at=NOW)
    assert outcome.skipped == []
    assert [e.message for e in outcome.events] == ["checkout failed", "clean"]
    event = outcome.events[0]
    assert bad not in event.context and event.context["order_id"] == "A-1"
    assert event.context["log_fields_dropped"] == 1
    assert outcome.fields_dropped == 1


def test_a_bad_stack_is_dropped_and_counted():
    line = '{"level": "ERROR", "message": "m", "stack": "at \\u0000 f"}'
    outcome = transform.convert(delivery_of([line]), received_at=NOW)
    (event,) = outcome.events
    assert event.stack is None and outcome.fields_dropped == 1


def test_oversize_fields_count_as_dropped():
    line = '{"level": "ERROR", "message": "big", "blob": "' + "x" * 20_000 + '"}'
    assert transform.convert(delivery_of([line]), received_at=NOW).fields_dropped == 1


def test_a_line_longer_than_the_message_limit_is_cut_on_a_character_boundary():
    line = "2026-11-22 10:00:00,123 ERROR [main] Foo: " + "é" * 40_000
    (event,), _ = transform.to_events(delivery_of([line]), received_at=NOW)
    size = len(event.message.encode("utf-8"))
    assert events.MAX_MESSAGE_BYTES - 2 < size <= events.MAX_MESSAGE_BYTES
    assert event.context["log_message_bytes"] == len(line.encode("utf-8")) - len("2026-11-22 10:00:00,123 ERROR ")


def test_the_timestamp_first_fixture():
    delivery = transform.parse_request(load_event("log_source/timestamp_first.json"))
    found, skipped = transform.to_events(delivery, received_at=NOW)
    assert skipped == []
    assert [(e.level, e.message) for e in found] == [
        ("ERROR", "[http-nio-8080-exec-1] c.a.OrderController: order A-1042 failed"),
        ("WARNING", "31#31: *4 an upstream response is buffered to a temporary file"),
        ("ERROR", "query failed"),
        ("ERROR", "failed to list *v1.Pod: pods is forbidden"),
    ]
    assert found[0].stack.count("\n") == 2 and found[2].context["table"] == "orders"


def test_a_blank_line_a_container_printed_is_not_a_skipped_log_event():
    lines = [
        '{"log":"2026-11-22 10:00:00,123 ERROR [main] c.a.Foo: boom\\n","stream":"stderr"}',
        '{"log":"\\n","stream":"stdout","time":"2026-11-22T10:00:00.000000000Z"}',
        '{"type":["not","a","platform","event"],"msg":"x"}',
    ]
    found, skipped = transform.to_events(delivery_of(lines), received_at=NOW)
    assert skipped == [] and [e.message for e in found] == ["[main] c.a.Foo: boom"]


@pytest.mark.parametrize(
    "exception",
    [
        "java.lang.Exception: boom",  # the base classes themselves: no prefix before "Exception"
        "java.lang.Error: boom",
        "java.lang.Throwable",
        "Exception: boom",  # Python's raise Exception("boom")
        "System.Exception: boom",  # .NET
        'psycopg2.errors.UniqueViolation: duplicate key value violates unique constraint "orders_pkey"',
        "django.core.exceptions.ImproperlyConfigured: SECRET_KEY must not be empty",
        "StopIteration",
    ],
)
def test_the_exception_line_under_a_header_joins_its_stack(exception):
    lines = ["2026-11-22 10:00:00,123 ERROR [main] c.a.Foo: failed", exception, "\tat c.a.Foo.run(Foo.java:1)"]
    found, skipped = transform.to_events(delivery_of(lines), received_at=NOW)
    assert skipped == [] and [(e.message, e.stack) for e in found] == [("[main] c.a.Foo: failed", "\n".join(lines[1:]))]


def test_a_capitalised_level_after_a_dot_is_not_an_exception_line():
    lines = ["2026-11-22 10:00:00,123 ERROR [main] c.a.Foo: failed", "app.ERROR: a second report", "\tat a.B"]
    found, _ = transform.to_events(delivery_of(lines), received_at=NOW)
    assert found[0].stack is None


def test_a_multi_line_log_event_keeps_its_first_line_as_the_message_and_the_rest_as_the_stack():
    # The CloudWatch agent's multi_line_start_pattern sends a header and its trace as one log event.
    line = "\n".join(JAVA[:7]) + "\r\n"
    (event,), skipped = transform.to_events(delivery_of([line, "\tat c.a.Next.frame(Next.java:1)"]), received_at=NOW)
    assert skipped == []
    assert event.message == "[http-nio-8080-exec-1] c.a.OrderController: order failed"
    assert event.stack == "\n".join([*JAVA[1:7], "\tat c.a.Next.frame(Next.java:1)"])


def test_an_indented_line_with_no_entry_above_has_no_level_of_its_own():
    # pino-pretty prints an INFO line's error object below it; a multi-line INFO message arrives line by line
    lines = ["[10:00:00.123] INFO (1234): retried", "    err: {", '      "type": "Error",', "  ERROR_COUNT=0", "    }"]
    assert transform.to_events(delivery_of(lines), received_at=NOW) == ([], [])


def test_a_right_aligned_level_starts_a_new_entry_not_a_continuation():
    # tracing (Rust) pads its levels to five characters: " INFO", " WARN", "ERROR"; Python's %(levelname)8s too
    lines = ["ERROR handler: payment failed", " WARN handler: retrying in 2s", "   WARNING low disk", "\tat x.Y"]
    found, skipped = transform.to_events(delivery_of(lines), received_at=NOW)
    assert skipped == []
    assert [(e.level, e.message, e.stack) for e in found] == [
        ("ERROR", "handler: payment failed", None),
        ("WARNING", "handler: retrying in 2s", None),
        ("WARNING", "low disk", "\tat x.Y"),
    ]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"level": "error", "msg": "bad \\u0000 byte"}', "bad \ufffd byte"),
        ('{"level": "error", "msg": "half \\ud800 a pair"}', "half \ufffd a pair"),
        (
            "2026-11-22 10:00:00,123 ERROR [main] c.a.Foo: raw \udcff\udcfe bytes",
            "[main] c.a.Foo: raw \ufffd\ufffd bytes",
        ),
    ],
)
def test_an_error_report_whose_message_the_schema_refuses_is_kept_with_the_characters_replaced(line, message):
    (event,), skipped = transform.to_events(delivery_of([line]), received_at=NOW)
    assert skipped == [] and event.message == message
    assert event.context["log_message_replaced"] == message.count("\ufffd")


def test_a_trace_wrapped_line_by_line_in_dockers_json_joins_the_entry_above():
    lines = [
        '{"log":"2026-11-22 10:00:00,123 ERROR [main] c.a.Foo: boom\\n","stream":"stderr"}',
        '{"log":"java.lang.IllegalStateException: no stock\\n","stream":"stderr"}',
        '{"log":"\\tat c.a.Stock.take(Stock.java:31)\\n","stream":"stderr"}',
        '{"log":"\\n","stream":"stderr"}',
        '{"log":"2026-11-22 10:00:01,000 INFO [main] c.a.Foo: ok\\n","stream":"stdout"}',
        '{"log":"\\tat c.a.Other.frame(Other.java:1)\\n","stream":"stdout"}',
    ]
    found, skipped = transform.to_events(delivery_of(lines), received_at=NOW)
    assert skipped == []
    assert [(e.message, e.stack) for e in found] == [
        ("[main] c.a.Foo: boom", "java.lang.IllegalStateException: no stock\n\tat c.a.Stock.take(Stock.java:31)\n")
    ]


@pytest.mark.parametrize(
    "line",
    [
        "a.A" + "a" * 262_144 + "!",  # a qualified name that never ends in ":" (the exception-line check)
        "E" * 262_144 + "!",
        "\x1b[" * 131_072,  # unterminated colour codes
        "2026-11-22T10:00:00Z stdout F " * 9_000,
        '{"log":"' + "\\t" * 131_072,  # a Docker line that never closes, under an entry
    ],
)
def test_hostile_lines_cost_linear_time_through_convert(line):
    import time

    start = time.perf_counter()
    found, _ = transform.to_events(delivery_of(["ERROR boom", line]), received_at=NOW)
    assert time.perf_counter() - start < 0.5 and len(found) == 1
