"""COPY formatting and the streaming COPY source: every row reaches the server once, in order, escaped."""

import itertools

from hypothesis import given
from hypothesis import strategies as st

from shared import bulk

ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _text(rows):
    return "".join(map(bulk.copy_line, rows))


def test_copy_lines_escape_and_mark_nulls():
    text = _text([("a\tb", None, b"\x00\xff", 3), ("back\\slash\r\n", "", None, -1)])
    assert text == "a\\tb\t\\N\t\\\\x00ff\t3\nback\\\\slash\\r\\n\t\t\\N\t-1\n"


@given(st.text(alphabet=st.sampled_from("ab\\\t\n\ré\x01")))
def test_escaping_matches_the_character_map(value):
    assert bulk.copy_line((value,)) == value.translate(ESCAPES) + "\n"


def _drain(source, size):
    chunks = []
    while chunk := source.read(size):
        chunks.append(chunk)
    return "".join(chunks)


def test_source_peeks_without_losing_the_first_row():
    rows = [(i, f"r{i}") for i in range(50)]
    source = bulk._CopySource(iter(rows))
    assert not source.empty()
    assert _drain(source, 64) == _text(rows)
    assert source.rows == rows


def test_a_peeked_row_is_formatted_only_when_read():
    formatted = []

    def line(row):
        formatted.append(row)
        return bulk.copy_line(row)

    source = bulk._CopySource(iter([(1,), (2,)]), line)
    assert not source.empty()
    assert formatted == []
    assert _drain(source, 64) == "1\n2\n"
    assert formatted == [(1,), (2,)]


def test_source_of_nothing_is_empty():
    assert bulk._CopySource(iter(())).empty()


def test_drain_after_a_partial_read_holds_every_row_once():
    rows = [(i,) for i in range(100)]
    source = bulk._CopySource(iter(rows))
    source.empty()
    source.read(10)  # the driver stopped early (a COPY error)
    assert source.drain() == rows
    assert source.drain() == rows  # a second pass adds nothing
    assert source.lines(source.rows) == _text(rows)


def test_rows_are_produced_only_as_the_driver_reads():
    produced = itertools.count()
    source = bulk._CopySource((next(produced),) for _ in range(1000))
    source.read(8)
    assert next(produced) < 10
