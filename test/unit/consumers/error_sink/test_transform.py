"""error_sink's transform: every user record becomes a row or a dead letter with a reason, never an exception."""

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from consumers.error_sink import transform
from shared import kinesis
from test.support import error_event, kinesis_event, load_event, wire


def test_plain_batch_mixes_rows_duplicates_and_poison():
    plan = transform.plan(load_event("error_sink/kinesis_plain.json")["Records"])
    assert plan.records_in == 6
    assert [r[0] for r in plan.rows] == [
        "00000000-0000-4000-8000-000000000001",
        "00000000-0000-4000-8000-000000000002",
        "00000000-0000-4000-8000-000000000001",  # a duplicate: the database folds it
    ]
    reasons = [d[5] for d in plan.dead_letters]
    assert "not JSON" in reasons[0]
    assert "unknown field(s): hello" in reasons[1]
    assert "message contains a NUL" in reasons[2]
    assert len(plan.rows) + len(plan.dead_letters) == plan.records_in


def test_rows_carry_normalised_values_and_provenance():
    plan = transform.plan(load_event("error_sink/kinesis_plain.json")["Records"])
    row = dict(zip(transform.ERROR_COLUMNS, plan.rows[1], strict=True))
    assert row["level"] == "CRITICAL"
    assert row["context"] == "{}"
    assert row["shard_id"] == "shardId-000000000000"
    assert row["sub_sequence_number"] == 0
    assert row["occurred_at"] == "2026-11-22T09:15:02.120000+00:00"


def test_dead_letters_keep_the_raw_bytes_and_position():
    records = load_event("error_sink/kinesis_plain.json")["Records"]
    plan = transform.plan(records)
    dead = dict(zip(transform.DEAD_LETTER_COLUMNS, plan.dead_letters[0], strict=True))
    assert dead["raw"] == b'{"source": "truncated json'
    assert dead["sequence_number"] == records[2]["kinesis"]["sequenceNumber"]
    assert dead["event_source_arn"] == records[0]["eventSourceARN"]
    assert dead["partition_key"] == "k3"


def test_aggregated_batch_gives_sub_sequence_numbers():
    plan = transform.plan(load_event("error_sink/kinesis_aggregated.json")["Records"])
    assert plan.records_in == 11 and not plan.dead_letters
    assert [r[10] for r in plan.rows] == [*range(10), 0]
    assert len({r[9] for r in plan.rows}) == 2  # two Kinesis records


def test_corrupt_aggregate_is_one_whole_record_dead_letter():
    data = bytearray(kinesis.aggregate([("k", wire(error_event(1))), ("k", wire(error_event(2)))])[0].data)
    data[30] ^= 0xFF
    plan = transform.plan(kinesis_event([("k", bytes(data)), ("k2", wire(error_event(3)))])["Records"])
    assert plan.records_in == 2
    assert len(plan.rows) == 1
    (dead,) = plan.dead_letters
    assert dead[3] == transform.WHOLE_RECORD and "MD5" in dead[5] and dead[6] == bytes(data)


def test_outcome_metrics_name_the_accounting():
    outcome = transform.Outcome(records_in=10, rows_written=6, duplicates=3, dead_letters=1)
    assert outcome.metrics() == {"RecordsIn": 10, "RowsWritten": 6, "DuplicatesSkipped": 3, "DeadLetters": 1}


def test_empty_batch_plans_nothing():
    plan = transform.plan([])
    assert (plan.records_in, plan.rows, plan.dead_letters) == (0, [], [])


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=400),
        json_values.map(lambda v: json.dumps(v).encode()),
        st.fixed_dictionaries(
            {},
            optional={
                k: json_values | st.text()
                for k in (
                    "event_id",
                    "source",
                    "level",
                    "message",
                    "occurred_at",
                    "received_at",
                    "context",
                    "stack",
                )
            },
        ).map(lambda v: json.dumps(v).encode()),
    )
)
def test_any_bytes_become_a_row_or_a_dead_letter(data):
    plan = transform.plan(kinesis_event([("k", data)])["Records"])
    assert plan.records_in == 1
    assert len(plan.rows) + len(plan.dead_letters) == 1
    if plan.dead_letters:
        assert plan.dead_letters[0][5]  # a reason, always


def test_stream_yields_the_rows_of_plan_and_fills_the_plan_as_it_goes():
    many = [(f"k{i}", b"{broken" if i == 70 else wire(error_event(i))) for i in range(3 * transform.CHUNK)]
    # The fixture, and more than a chunk with a poison record among them: the first row comes before the rest
    # are read, and the rows and dead letters are those of plan().
    for records in (load_event("error_sink/kinesis_plain.json")["Records"], kinesis_event(many)["Records"]):
        out = transform.Plan()
        rows = transform.stream(records, out)
        first = next(rows)
        assert out.rows[0] == first and 1 <= out.records_in <= transform.CHUNK
        assert [first, *rows] == transform.plan(records).rows
        assert out == transform.plan(records)


def test_a_user_records_last_fields_are_the_rows_last_columns():
    """A chunk of valid records gets its provenance columns by slicing each UserRecord: the order must agree."""
    assert kinesis.UserRecord._fields[2:] == transform.ERROR_COLUMNS[-3:]


def test_chunks_give_what_records_taken_one_by_one_give():
    """A corrupt aggregate and poison records inside full chunks: plan() (a chunk at a time) against take() of
    each de-aggregated record alone, which never reaches the chunk's column checks."""
    corrupt = bytearray(kinesis.aggregate([("k", wire(error_event(1))), ("k", wire(error_event(2)))])[0].data)
    corrupt[30] ^= 0xFF
    aggregated = kinesis.aggregate([(f"a{i}", wire(error_event(1000 + i))) for i in range(100)])
    records = [(f"k{i}", b"{broken" if i % 37 == 5 else wire(error_event(i))) for i in range(150)]
    records[64:64] = [("bad", bytes(corrupt))] + [(r.partition_key, r.data) for r in aggregated]
    event = kinesis_event(records)["Records"]
    expected = transform.Plan(event_source_arn=event[0]["eventSourceARN"])
    for item in kinesis.deaggregate(event):
        transform.take(item, expected)
    got = transform.plan(event)
    assert got == expected
    assert got.records_in == 251 and len(got.dead_letters) == 5 and len(got.rows) == 246
