"""Accuracy on the labelled corpus (bench/logcorpus): log_source's rules hold their floors on every format and
never fall below Grafana Loki's detected_level rules. Speed is printed by ``python -m bench.loglevels``, not tested."""

import pytest

from bench import loglevels

CORPUS = loglevels.load()
GRADED = [name for name in CORPUS if name != loglevels.INFO_ONLY]


def test_every_format_has_enough_lines_of_both_kinds():
    for name in GRADED:
        rows = CORPUS[name]
        positives = sum(label in loglevels.POSITIVE for label, _ in rows)
        assert len(rows) >= 40 and 10 <= positives <= len(rows) - 10, name


@pytest.mark.parametrize("name", GRADED)
def test_f1_and_precision_floors_per_format(name):
    ours = loglevels.score(CORPUS[name], loglevels.log_source_says)
    wrong = loglevels.misses(CORPUS[name], loglevels.log_source_says)
    assert ours.f1 >= 0.95, wrong
    assert ours.precision >= 0.95, wrong


@pytest.mark.parametrize("name", GRADED)
def test_never_below_lokis_rules(name):
    ours = loglevels.score(CORPUS[name], loglevels.log_source_says)
    loki = loglevels.score(CORPUS[name], loglevels.loki_says)
    assert ours.f1 >= loki.f1


def test_false_positives_on_info_only_logs_at_most_one_percent():
    ours = loglevels.score(CORPUS[loglevels.INFO_ONLY], loglevels.log_source_says)
    assert ours.tp == ours.fn == 0  # the file holds no WARNING or above
    assert ours.false_positive_rate <= 0.01, loglevels.misses(CORPUS[loglevels.INFO_ONLY], loglevels.log_source_says)


@pytest.mark.parametrize(
    ("line", "level"),
    [
        # Loki's rules as field_detection.go writes them: JSON keys, logfmt keys, then substrings in a fixed order.
        ('{"level": "warn", "msg": "x"}', "warn"),
        ('{"log": {"level": "ERROR"}}', "error"),  # one object down
        ('{"a": {"b": {"level": "error"}}}', "unknown"),  # two down: past the default depth of 2
        ('{"level": 50, "msg": "x"}', "unknown"),  # numbers are not read
        ("time=1 lvl=crit msg=x", "unknown"),  # "crit" is not normalised, and no substring matches
        ("level=error msg=boom", "error"),
        ("ERROR something broke", "unknown"),  # a bare ERROR is none of the substrings
        ("[ERROR] something broke", "error"),
        ("INFO retry after [ERROR]", "info"),  # info is checked first
        ("disk warning", "warn"),
    ],
)
def test_the_loki_reference_follows_its_source(line, level):
    assert loglevels.loki_level(line) == level
