"""log_source's level rules on a labelled corpus, beside Grafana Loki's ``detected_level`` rules, and their speed.

python -m bench.loglevels    the per-format table (precision, recall, F1 of "WARNING or above"), the
                             false-positive rate on INFO-only logs, and lines per second, for both corpora

The corpus is ``bench/logcorpus/*.txt`` (see its README): one file per family of formats, each line labelled
with its true level. The holdout, ``bench/logholdout/*.txt``, has the same form and was collected without
reading the rules: the corpus says how well the rules fit the lines they were written against, the holdout
how well they do on lines they have not seen. A line counts as positive when its true level is WARNING or
above; a classifier says positive when the level it reads is WARNING or above (Loki's: warn, error, critical or fatal).
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.report import Figure, best_of

__all__ = ["CORPUS", "HOLDOUT", "Score", "load", "log_source_says", "loki_level", "loki_says", "run", "score"]

CORPUS = Path(__file__).parent / "logcorpus"
HOLDOUT = Path(__file__).parent / "logholdout"
LABELS = ("NONE", "DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
POSITIVE = frozenset(("WARNING", "ERROR", "CRITICAL"))
INFO_ONLY = "info_only"
TARGET_F1 = 0.95
TARGET_FALSE_POSITIVES = 0.01
TARGET_RATE = 200_000


# Escapes for what a text line cannot hold verbatim: <TAB>, <ESC>, <CR>, <NUL>, <U+XXXX>, and <PAD:N> for N
# characters of filler (lines over 32 KiB).
_ESCAPE = re.compile(r"<(TAB|ESC|CR|NUL|U\+[0-9A-Fa-f]{4,6}|PAD:\d{1,7})>")
_NAMED = {"TAB": "\t", "ESC": "\x1b", "CR": "\r", "NUL": "\x00"}
_FILLER = "lorem ipsum dolor sit amet "


def _unescape(match: re.Match[str]) -> str:
    name = match.group(1)
    if name in _NAMED:
        return _NAMED[name]
    if name.startswith("PAD:"):
        n = int(name[4:])
        return (_FILLER * (n // len(_FILLER) + 1))[:n]
    return chr(int(name[2:], 16))


def load(folder: Path = CORPUS) -> dict[str, list[tuple[str, str]]]:
    """{format: [(label, line)]} from the corpus files, escapes (``<TAB>`` for a tab, see _ESCAPE) expanded."""
    corpus: dict[str, list[tuple[str, str]]] = {}
    for path in sorted(folder.glob("*.txt")):
        rows = []
        for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not text or text.startswith("#"):
                continue
            label, sep, line = text.partition(" ")
            if label not in LABELS or not sep:
                raise ValueError(f"{path.name}:{number}: a line must start with one of {', '.join(LABELS)} and a space")
            rows.append((label, _ESCAPE.sub(_unescape, line)))
        corpus[path.stem] = rows
    return corpus


# --------------------------------------------------------------------------- the two classifiers


def log_source_says(line: str) -> bool:
    from producers.log_source import levels

    try:
        parsed = levels.parse(line)
    except RecursionError:
        return False
    return parsed is not None and levels.RANK[parsed.level] >= levels.RANK["WARNING"]


# Grafana Loki's detected_level, reimplemented from pkg/distributor/field_detection.go of grafana/loki (v3):
# extractLogLevelFromLogLine (JSON keys, then logfmt keys, then detectLevelFromLogLine's substring checks in
# their fixed order), with the default -validation.log-level-from-json-max-depth of 2. A CloudWatch Logs line
# carries no OTLP structured metadata, so the severity-number branch never applies.
_LOKI_FIELDS = (
    "level",
    "LEVEL",
    "Level",
    "log.level",
    "severity",
    "SEVERITY",
    "Severity",
    "SeverityText",
    "lvl",
    "LVL",
    "Lvl",
    "severity_text",
    "Severity_Text",
    "SEVERITY_TEXT",
)
_LOKI_FIELD_SET = frozenset(_LOKI_FIELDS)
_LOKI_MAX_DEPTH = 2
_LOKI_NORMAL = {
    **dict.fromkeys(("trace", "trc"), "trace"),
    **dict.fromkeys(("debug", "dbg"), "debug"),
    **dict.fromkeys(("info", "inf", "information"), "info"),
    **dict.fromkeys(("warn", "wrn", "warning"), "warn"),
    **dict.fromkeys(("error", "err"), "error"),
    "critical": "critical",
    "fatal": "fatal",
}
# detectLevelFromLogLine: the first group with a substring in the line wins, in this order.
_LOKI_SUBSTRINGS = (
    ("info", ("info:", "INFO:", "[info]", "[INFO]", "info", "INFO")),
    ("error", ("err:", "ERR:", "[err]", "[ERR]", "[error]", "[ERROR]")),
    ("warn", ("warn:", "WARN:", "[warn]", "[WARN]", "[warning]", "[WARNING]", "warning", "WARNING")),
    ("critical", ("critical:", "CRITICAL:", "[critical]", "[CRITICAL]")),
    ("debug", ("debug:", "DEBUG:", "[debug]", "[DEBUG]", "debug", "DEBUG")),
)


def _loki_from_line(line: str) -> str:
    for level, needles in _LOKI_SUBSTRINGS:
        if any(n in line for n in needles):
            return level
    return "unknown"


def _loki_json(obj: Any, depth: int) -> str | None:
    """getLevelUsingJSONParser: keys in document order, string values only, objects searched depth-first."""
    if depth >= _LOKI_MAX_DEPTH or not isinstance(obj, dict):
        return None
    for key, value in obj.items():
        if isinstance(value, str):
            if key in _LOKI_FIELD_SET:
                return value
        elif isinstance(value, dict):
            found = _loki_json(value, depth + 1)
            if found is not None:
                return found
    return None


def _logfmt_pairs(line: str) -> Iterable[tuple[str, str]]:
    """Loki's logfmt decoder, as far as key/value scanning goes: stops at the first syntax error."""
    i, n = 0, len(line)
    while i < n:
        while i < n and line[i] <= " ":
            i += 1
        if i >= n:
            return
        start = i
        while i < n and line[i] > " " and line[i] not in '="':
            i += 1
        if i == start:
            return  # '=' or '"' where a key should start
        key = line[start:i]
        if i >= n or line[i] != "=":
            if i < n and line[i] == '"':
                return
            yield key, ""
            continue
        i += 1
        if i < n and line[i] == '"':
            i += 1
            chars = []
            while i < n and line[i] != '"':
                if line[i] == "\\" and i + 1 < n:
                    i += 1
                chars.append(line[i])
                i += 1
            if i >= n:
                return  # unterminated quote
            i += 1
            yield key, "".join(chars)
        else:
            start = i
            while i < n and line[i] > " ":
                if line[i] in '="':
                    return
                i += 1
            yield key, line[start:i]


def _loki_logfmt(line: str) -> str:
    """getValueUsingLogfmtParser: the value of the earliest hint that appears (keys compared case-insensitively)."""
    best, result = len(_LOKI_FIELDS), ""
    for key, value in _logfmt_pairs(line):
        for index, hint in enumerate(_LOKI_FIELDS):
            if index < best and key.lower() == hint.lower():
                best, result = index, value
                if index == 0:
                    return result
    return result


def _is_json(line: str) -> bool:
    stripped = line.strip()
    return stripped[:1] == "{" and stripped[-1:] == "}"


def loki_level(line: str) -> str:
    """Loki's detected_level of one line: trace, debug, info, warn, error, critical, fatal or unknown."""
    if _is_json(line):
        try:
            value = _loki_json(json.loads(line), 0) or ""
        except (ValueError, RecursionError):
            value = ""
    elif "=" in line:
        value = _loki_logfmt(line)
    else:
        return _loki_from_line(line)
    return _LOKI_NORMAL.get(value.lower()) or _loki_from_line(line)


def loki_says(line: str) -> bool:
    return loki_level(line) in ("warn", "error", "critical", "fatal")


# --------------------------------------------------------------------------- scoring


@dataclass(frozen=True, slots=True)
class Score:
    tp: int
    fp: int
    fn: int
    tn: int

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float | None:
        """None when the lines hold no positive at all (F1 says nothing there; the false-positive rate does)."""
        if self.tp + self.fn == 0:
            return None
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def false_positive_rate(self) -> float:
        return self.fp / (self.fp + self.tn) if self.fp + self.tn else 0.0

    def __add__(self, other: Score) -> Score:
        return Score(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn, self.tn + other.tn)


def score(rows: list[tuple[str, str]], says: Callable[[str], bool]) -> Score:
    tp = fp = fn = tn = 0
    for label, line in rows:
        truth, said = label in POSITIVE, says(line)
        if truth and said:
            tp += 1
        elif said:
            fp += 1
        elif truth:
            fn += 1
        else:
            tn += 1
    return Score(tp, fp, fn, tn)


def misses(rows: list[tuple[str, str]], says: Callable[[str], bool]) -> list[tuple[str, str]]:
    """The rows a classifier gets wrong (to read when a figure drops)."""
    return [(label, line) for label, line in rows if (label in POSITIVE) != says(line)]


def rate(lines: list[str], repeats: int) -> float:
    """Lines per second log_source's rules classify (best of ``repeats`` passes over ``lines``)."""
    from producers.log_source import levels

    parse = levels.parse

    def one_pass() -> None:
        for line in lines:
            parse(line)

    return len(lines) / best_of(one_pass, repeats)


def _lines_for_rate(corpus: dict[str, list[tuple[str, str]]], n: int) -> list[str]:
    every = [line for rows in corpus.values() for _, line in rows]
    return (every * (n // len(every) + 1))[:n]


def _convert_rate(corpus: dict[str, list[tuple[str, str]]]) -> tuple[float, float]:
    """Log events per second through transform.convert (decode excluded), and the share that became events."""
    from datetime import UTC, datetime

    from producers.log_source import transform

    lines = _lines_for_rate(corpus, 20_000)
    log_events = [{"id": str(n), "timestamp": 1795338902120 + n, "message": line} for n, line in enumerate(lines)]
    delivery = transform.Delivery("DATA_MESSAGE", "/bench/loglevels", "corpus", log_events)
    received = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)
    outcome = transform.convert(delivery, received_at=received)
    seconds = best_of(lambda: transform.convert(delivery, received_at=received), 3)
    return len(log_events) / seconds, len(outcome.events) / len(log_events)


def _fmt(value: float | None) -> str:
    return "   -" if value is None else f"{value:.3f}"


def report(corpus: dict[str, list[tuple[str, str]]]) -> tuple[str, dict[str, tuple[Score, Score]]]:
    """The per-format table, and the scores behind it: {format: (log_source, Loki)}."""
    scores = {name: (score(rows, log_source_says), score(rows, loki_says)) for name, rows in corpus.items()}
    header = f"{'format':<18}{'lines':>6}  {'log_source P / R / F1':<24}{'Loki P / R / F1':<24}"
    out = [header, "-" * len(header)]
    total_ours = total_loki = Score(0, 0, 0, 0)
    for name, (ours, loki) in scores.items():
        total_ours, total_loki = total_ours + ours, total_loki + loki
        out.append(
            f"{name:<18}{len(corpus[name]):>6}  "
            f"{_fmt(ours.precision)} {_fmt(ours.recall)} {_fmt(ours.f1):<8}"
            f"{_fmt(loki.precision)} {_fmt(loki.recall)} {_fmt(loki.f1):<8}"
        )
    lines = sum(len(rows) for rows in corpus.values())
    out.append(
        f"{'overall':<18}{lines:>6}  "
        f"{_fmt(total_ours.precision)} {_fmt(total_ours.recall)} {_fmt(total_ours.f1):<8}"
        f"{_fmt(total_loki.precision)} {_fmt(total_loki.recall)} {_fmt(total_loki.f1):<8}"
    )
    return "\n".join(out), scores


def _holdout_figures(scores: dict[str, tuple[Score, Score]]) -> list[Figure]:
    """The holdout's figures: information, not targets (the rules are not tuned to it: it says how they generalise)."""
    ours = loki = Score(0, 0, 0, 0)
    for mine, theirs in scores.values():
        ours, loki = ours + mine, loki + theirs
    graded = {name: pair for name, pair in scores.items() if pair[0].f1 is not None}
    worst_name, (worst, _) = min(graded.items(), key=lambda item: item[1][0].f1 or 0.0)
    info_ours, info_loki = scores[INFO_ONLY]
    return [
        Figure("log levels, holdout: F1, all lines", _fmt(ours.f1), f"Loki {_fmt(loki.f1)}"),
        Figure("log levels, holdout: F1, worst format", f"{_fmt(worst.f1)} ({worst_name})"),
        Figure(
            "log levels, holdout: false positives on INFO-only logs",
            f"{info_ours.false_positive_rate:.1%}",
            f"Loki {info_loki.false_positive_rate:.1%}",
        ),
    ]


def run(*, quick: bool = False) -> list[Figure]:
    """The figures for ``python -m bench``: worst F1, the margin over Loki, false positives, lines per second;
    the holdout's figures beside them. Both per-format tables are printed on the way."""
    corpus, holdout = load(), load(HOLDOUT)
    table, scores = report(corpus)
    holdout_table, holdout_scores = report(holdout)
    print(f"corpus ({CORPUS.name}):\n{table}\n\nholdout ({HOLDOUT.name}):\n{holdout_table}\n", flush=True)
    graded = {name: pair for name, pair in scores.items() if pair[0].f1 is not None}
    worst_name, (worst, _) = min(graded.items(), key=lambda item: item[1][0].f1 or 0.0)
    margins = {name: (ours.f1 or 0.0) - (loki.f1 or 0.0) for name, (ours, loki) in graded.items()}
    closest = min(margins, key=margins.__getitem__)
    info_ours, info_loki = scores[INFO_ONLY]
    n = 20_000 if quick else 200_000
    per_s = rate(_lines_for_rate(corpus, n), 3 if quick else 5)
    return [
        Figure(
            "log levels: F1, worst format",
            f"{worst.f1:.3f} ({worst_name})",
            "",
            f">= {TARGET_F1}",
            (worst.f1 or 0.0) >= TARGET_F1,
        ),
        Figure(
            "log levels: F1 over Loki's rules, closest format",
            f"{margins[closest]:+.3f} ({closest})",
            "",
            ">= 0 on every format",
            margins[closest] >= 0,
        ),
        Figure(
            "log levels: false positives on INFO-only logs",
            f"{info_ours.false_positive_rate:.1%}",
            f"Loki {info_loki.false_positive_rate:.1%}",
            f"<= {TARGET_FALSE_POSITIVES:.0%}",
            info_ours.false_positive_rate <= TARGET_FALSE_POSITIVES,
        ),
        Figure(
            "log levels: classification rate",
            f"{per_s / 1000:,.0f}k lines/s",
            "",
            f">= {TARGET_RATE // 1000}k lines/s",
            per_s >= TARGET_RATE,
            note="one core, levels.parse over the corpus lines repeated",
        ),
        *_holdout_figures(holdout_scores),
    ]


def _show(title: str, corpus: dict[str, list[tuple[str, str]]]) -> None:
    table, scores = report(corpus)
    print(f"{title}\n{table}")
    info_ours, info_loki = scores[INFO_ONLY]
    print(
        f"\nfalse positives on INFO-only logs ({len(corpus[INFO_ONLY])} lines): "
        f"log_source {info_ours.fp} ({info_ours.false_positive_rate:.1%}), "
        f"Loki {info_loki.fp} ({info_loki.false_positive_rate:.1%})"
    )
    wrong = [(name, label, line) for name, rows in corpus.items() for label, line in misses(rows, log_source_says)]
    if wrong:
        print(f"\nlog_source's {len(wrong)} wrong line(s):")
        for name, label, line in wrong:
            print(f"  {name}: {label}: {line[:140]!r}")
    print()


def main() -> int:
    corpus = load()
    _show(f"corpus ({CORPUS.name}):", corpus)
    _show(f"holdout ({HOLDOUT.name}, lines the rules were not written against):", load(HOLDOUT))
    lines = _lines_for_rate(corpus, 200_000)
    start = time.perf_counter()
    per_s = rate(lines, 5)
    print(f"log_source classifies {per_s:,.0f} lines/s on one core ({time.perf_counter() - start:.1f} s measured)")
    events_per_s, share = _convert_rate(corpus)
    print(
        f"transform.convert, whole deliveries of the corpus lines ({share:.0%} WARNING or above, each one validated "
        f"as an event): {events_per_s:,.0f} log events/s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
