"""A caller's own COPY formatter must give bulk.copy_line's text: error_sink's, on every row its stream() makes."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from consumers.error_sink import transform
from shared import bulk
from test.support import error_event, kinesis_event, wire

CHARS = st.sampled_from("ab\\\t\n\ré\x01\"'\U0001f600")
text = st.text(alphabet=CHARS, max_size=8)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=10,
)


@settings(max_examples=300, deadline=None)
@given(
    source=st.text(alphabet=CHARS, min_size=1, max_size=8),
    message=st.text(alphabet=CHARS, min_size=1, max_size=8),
    stack=st.none() | text,
    context=st.dictionaries(text, json_values, max_size=3),
    shard=st.sampled_from(["shardId-000000000000", "shard\twith\\specials\n", ""]),
)
def test_error_sink_lines_are_db_lines(source, message, stack, context, shard):
    event = error_event(1, source=source, message=message, stack=stack, context=context)
    if stack is None:
        del event["stack"]
    plan = transform.plan(kinesis_event([("k", wire(event))], shard_id=shard)["Records"])
    assert plan.rows, plan.dead_letters
    assert [transform.copy_line(row) for row in plan.rows] == [bulk.copy_line(row) for row in plan.rows]


def test_rows_that_are_not_all_text_go_to_bulk():
    row = ("id", "source", "ERROR", "message", "t1", "t2", "{}", None, b"\x00", 7, 3)
    assert transform.copy_line(row) == bulk.copy_line(row)
