"""COPY formatting and the streaming COPY source: every row reaches the server once, in order, escaped."""

import itertools

from hypothesis import given
from hypothesis import strategies as st

from shared import db

ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def test_copy_text_escapes_and_marks_nulls():
    text = db.copy_text([("a\tb", None, b"\x00\xff", 3), ("back\\slash\r\n", "", None, -1)]).getvalue()
    assert text == "a\\tb\t\\N\t\\\\x00ff\t3\nback\\\\slash\\r\\n\t\t\\N\t-1\n"


@given(st.text(alphabet=st.sampled_from("ab\\\t\n\ré\x01")))
def test_escaping_matches_the_character_map(value):
    assert db.copy_text([(value,)]).getvalue() == value.translate(ESCAPES) + "\n"


def _drain(source, size):
    chunks = []
    while chunk := source.read(size):
        chunks.append(chunk)
    return "".join(chunks)


def test_source_peeks_without_losing_the_first_row():
    rows = [(i, f"r{i}") for i in range(50)]
    source = db._CopySource(iter(rows))
    assert not source.empty()
    assert _drain(source, 64) == db.copy_text(rows).getvalue()
    assert source.rows == rows


def test_source_of_nothing_is_empty():
    assert db._CopySource(iter(())).empty()


def test_text_after_a_partial_read_holds_every_row_once():
    rows = [(i,) for i in range(100)]
    source = db._CopySource(iter(rows))
    source.empty()
    source.read(10)  # the driver stopped early (a COPY error)
    assert source.text() == db.copy_text(rows).getvalue()
    assert source.text() == db.copy_text(rows).getvalue()  # a second pass adds nothing
    assert source.rows == rows


def test_rows_are_produced_only_as_the_driver_reads():
    produced = itertools.count()
    source = db._CopySource((next(produced),) for _ in range(1000))
    source.read(8)
    assert next(produced) < 10
