"""The level of a log line, read from its header by named rules, one per family of formats (pure, no I/O).

``parse(line)`` gives a :class:`Line` (level, message, extra fields, stack, the rule that matched) or None
when the line carries no level this module recognises. The first character picks the rules to try, so most
lines cost one or two anchored regular expressions (precompiled, possessive); ``json.loads`` runs only for
a line that starts with ``{``.

The level is the header's, never a word of the message: the header is scanned from the start, over what
may sit before a level (timestamps, process and thread ids, ``[thread]`` groups, request ids, key=value
fields, a dash or a bar, one logger or host name followed by a dash or the level) and the scan stops at the
first word that is none of these. A level word must be the whole token (``com.acme.ErrorHandler`` and
``[WARN-thread-3]`` are names, not levels). In free text an all-capitals word is a level (``WARN``,
``ERROR``); a word in any other case only where its place says it is one: in brackets (``[error]``,
``[core:error]``), before a colon (``warn:``), between tabs, or as the value of a level key (JSON, logfmt).
So ``2026/11/22 10:00:00 error reading body`` (Go's log package, which has no levels) is not an error report.
"""

from __future__ import annotations

import json
import re
from typing import Any, NamedTuple

__all__ = ["LEVEL_WORDS", "RANK", "Line", "parse"]

RANK = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40, "CRITICAL": 50}

# Every spelling of a level, upper-cased, and the schema level it means.
LEVEL_WORDS: dict[str, str] = {
    **dict.fromkeys(
        ("TRACE", "TRC", "TRAC", "VERBOSE", "VRB", "FINEST", "FINER", "FINE", "DEBUG", "DBG", "DEBU"), "DEBUG"
    ),
    **dict.fromkeys([f"TRACE{n}" for n in range(1, 9)], "DEBUG"),  # httpd 2.4's trace1 ... trace8
    **dict.fromkeys(("INFO", "INF", "INFORMATION", "NOTICE", "NOTE", "CONFIG"), "INFO"),
    **dict.fromkeys(("WARN", "WARNING", "WRN"), "WARNING"),
    **dict.fromkeys(("ERROR", "ERR", "ERRO", "SEVERE", "DPANIC"), "ERROR"),  # zap's dpanic: panics in development only
    **dict.fromkeys(
        ("CRITICAL", "CRIT", "FATAL", "FATA", "FTL", "EMERG", "EMERGENCY", "ALERT", "PANIC", "PANI"), "CRITICAL"
    ),
}
# logrus's TTY format cuts every level to four letters: TRAC DEBU INFO WARN ERRO FATA PANI.
# One-letter levels (Android logcat, glog/klog, Ruby's Logger): A is logcat's "assert".
LETTERS = {"V": "DEBUG", "D": "DEBUG", "I": "INFO", "W": "WARNING", "E": "ERROR", "F": "CRITICAL", "A": "CRITICAL"}
# MongoDB's severities: F, E, W, I, D1-D5.
MONGODB = {"F": "CRITICAL", "E": "ERROR", "W": "WARNING", "I": "INFO", "D": "DEBUG"}
# Syslog severity (priority mod 8): emerg, alert, crit, err, warning, notice, info, debug.
SYSLOG = ("CRITICAL", "CRITICAL", "CRITICAL", "ERROR", "WARNING", "INFO", "INFO", "DEBUG")


class Line(NamedTuple):
    level: str
    message: str
    extra: dict[str, Any]
    stack: str | None
    rule: str


def _word(token: str, loose: bool) -> str | None:
    """The level a header token spells: capitals anywhere, any case where ``loose`` (its place says so)."""
    if token.isupper():
        return LEVEL_WORDS.get(token)
    return LEVEL_WORDS.get(token.upper()) if loose else None


# ANSI escape sequences: CSI ("\x1b[31m", "\x1b[0;39m", "\x1b[38;5;196m", "\x1b[K") and the two-character ones.
# Container logs are full of them: a logger that colours its level when it thinks it writes to a terminal.
_ANSI = re.compile(r"\x1b(?:\[[0-?]*+[ -/]*+[@-~]|[@-Z\\-_])")
# What may precede the first character of a line and is no part of it: a byte-order mark, the NULs that
# copytruncate leaves at the start of a log file, blanks.
_NOT_TEXT = " \t\r\n\v\f\x00\ufeff"


def _plain(text: str) -> str:
    """``text`` without its ANSI escape sequences."""
    return _ANSI.sub("", text) if "\x1b" in text else text


def _rest(line: str, pos: int) -> str:
    return line[pos:].lstrip(" \t:-|>")


# --------------------------------------------------------------------------- the header scanner

# One header token: a [bracket group] (one level of nested brackets, as in "[QuorumPeer[myid=1]/...]") or a
# run of non-blanks; the blanks before it are captured to see a tab.
# Possessive quantifiers: an unclosed bracket must fail in linear time, not try every split of its text.
_TOKEN = re.compile(r"([ \t]*+)(?:\[((?:[^\[\]\n]++|\[[^\[\]\n]*+\])*+)\]|([^ \t\n]++))")
# A run of tokens that start with a digit (dates, times, pids, "123#0:"), skipped in one step.
_NUMBERS = re.compile(r"(?:[ \t]*+#?[0-9][0-9A-Za-z:.,/+#_-]*+(?=[ \t]|$))++")
# What may stand between the start and the level: numbers, dates, times, pids ("1234", "#1234", "123#0:"),
# dashes and bars, zones ("UTC", "+00:00"), a request id (a UUID, as Lambda's Node.js and Java runtimes print it).
_SKIP = re.compile(
    r"(?:-+|\|+|:+|#?[0-9][0-9A-Za-z:.,/+#_-]*|UTC|GMT|[AP]M|[+-][0-9]{2}:?[0-9]{2}|"
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})"
).fullmatch
# The common shape in one step: numbers, a dash or bar, one [group], then a word in capitals (the scanner
# below reaches the same verdict token by token; this only saves it the steps, and defers to it otherwise).
_COMMON = re.compile(
    r"(?:[ \t]*+#?[0-9][0-9A-Za-z:.,/+#_-]*+(?=[ \t]))*+[ \t]*+(?:(?:-++|\|)[ \t]++)?"
    r"(?:\[([^\[\]\n]*+)\][ \t]*+)?([A-Z]{3,11}):?(?=[ \t]|$)"
).match
_DASH = frozenset(("-", "--", "---", "|", "::"))
_KEYED = re.compile(r"(?:level|lvl|severity|loglevel)=\"?([A-Za-z]+)(?:[+-]\d+)?\"?", re.IGNORECASE).fullmatch


def _bracket(inner: str) -> str | None:
    """The level inside one bracket group: ``[error]``, ``[core:error]`` (httpd 2.4), ``[10:00:00 WRN]`` (Serilog)."""
    inner = inner.strip()  # "[WARN ]" (Elasticsearch), "[error    ]" (structlog)
    if " " in inner:  # "[10:00:00 WRN]" (Serilog), "[2026-11-22 10:00:10,001: INFO/MainProcess]" (Celery),
        # "[2026-11-22T10:00:00Z ERROR app::db]" (Rust's env_logger): the first word after the time, last or
        # followed by one name
        if not inner[:1].isdigit():
            return None
        words = inner.split()
        for n, word in enumerate(words):
            if not word[:1].isdigit():
                return _word(word.partition("/")[0], True) if n >= len(words) - 2 else None
        return None
    if ":" in inner:
        inner = inner.rpartition(":")[2]
    return _word(inner, True)


def _scan(line: str, pos: int, rule: str) -> Line | None:
    """The header scanner: the level among the first tokens from ``pos``, skipping what may precede it."""
    fast = _COMMON(line, pos)
    if fast is not None:
        level = LEVEL_WORDS.get(fast.group(2))
        if level is not None and (fast.group(1) is None or _bracket(fast.group(1)) is None):
            return Line(level, _rest(line, fast.end()), {}, None, rule)
    named = False  # one unknown word (a logger or host name) may be passed over, if a dash or a level follows
    for _ in range(8):
        numbers = _NUMBERS.match(line, pos)
        if numbers is not None:
            pos = numbers.end()
        m = _TOKEN.match(line, pos)
        if m is None:
            return None
        blanks, inner, token = m.groups()
        pos = m.end()
        if inner is not None:
            level = _bracket(inner)
            if level is not None:
                return Line(level, _rest(line, pos), {}, None, rule)
            if named:
                return None
            continue  # a thread, a time, a module or a pid group
        colon = token[-1] == ":"
        word = token[:-1] if colon else token
        if colon and "." in word:
            word = word.rpartition(".")[2]  # Monolog's "channel.LEVEL:" (capitals only, as it writes them)
            level = LEVEL_WORDS.get(word) if word.isupper() else None
        else:
            level = _word(word, colon or "\t" in blanks or line[pos : pos + 1] == "\t")
        if level is not None:
            return Line(level, _rest(line, pos), {}, None, rule)
        if token in _DASH:
            continue
        if named:
            return None
        if _SKIP(token):
            continue
        if "=" in token:
            keyed = _KEYED(token)
            if keyed is not None:
                level = LEVEL_WORDS.get(keyed.group(1).upper())
                return None if level is None else Line(level, _rest(line, pos), {}, None, rule)
            continue  # a key=value field before the level ("pid=42 tid=gx1 INFO: ...", Sidekiq)
        named = True
    return None


# --------------------------------------------------------------------------- rules by first character

# Lambda's Python runtime: "[ERROR]\t2026-11-22T09:15:02.120Z\t<request id>\t<message>".
_LAMBDA_TEXT = re.compile(r"\[([A-Z]+)\]\t(?:\S+Z\t[0-9a-fA-F-]{36}\t)?")
# Lambda's own report of a timeout: "<time> <request id> Task timed out after 3.00 seconds".
_LAMBDA_TIMEOUT = re.compile(r"\S+Z[ \t][0-9a-fA-F-]{36}[ \t](Task timed out after )")
# Android logcat threadtime: "03-17 16:13:38.811  1702  2395 W Tag: message".
_LOGCAT = re.compile(r"\d\d-\d\d \d\d:\d\d:\d\d\.\d+\s+\d+\s+\d+\s+([VDIWEFA]) ")
# A Kubernetes node's container log (CRI): "<RFC 3339 time> stdout|stderr F|P <the line>", as an agent that
# tails /var/log/containers without the cri parser ships it; the level is the inner line's.
_CRI = re.compile(r"\d{4}-\d\d-\d\dT[\d:.]+(?:Z|[+-]\d\d:\d\d) (?:stdout|stderr) [FP] ")
# Redis: "1:M 22 Nov 2026 10:00:00.123 # message", the mark is the level.
_REDIS = re.compile(r"\d+:[XCSM] \d{1,2} [A-Z][a-z]{2} \d{4} [\d:.]+ ([.*#-]) ")
REDIS = {".": "DEBUG", "-": "DEBUG", "*": "INFO", "#": "WARNING"}
# logcat brief: "W/Tag( 1234): message".
_LOGCAT_BRIEF = re.compile(r"([VDIWEFA])/[^(]*\(\s*\d+\): ")
# glog / klog: "E1122 10:00:00.000000 1234 file.go:12] message".
_GLOG = re.compile(r"([IWEF])\d{4} \d\d:\d\d:\d\d\.\d+ +\d+ [^\]\s]+\] ?")
# Ruby's Logger (Rails): "E, [2026-11-22T10:00:00.123456 #1234] ERROR -- : message".
_RAILS = re.compile(r"[DIWEFAU], \[[^\]]*\] +([A-Z]+) -- [^:]*: ?")
# .NET's simple console formatter (Microsoft.Extensions.Logging): "fail: Category[event id]", the message on
# the next lines, indented (they join the entry as continuation lines). Its "info:", "warn:" and "crit:" are
# level words before a colon already (leading_word); these three are spelt only by it.
_DOTNET = re.compile(r"(trce|dbug|fail): \S")
DOTNET = {"trce": "DEBUG", "dbug": "DEBUG", "fail": "ERROR"}
# PHP's error_log: "[22-Nov-2026 10:00:01 UTC] PHP Fatal error:  Uncaught ...", or without the date on stderr.
# Its levels are phrases; E_ERROR and E_PARSE stop the script (CRITICAL, as Monolog's ErrorHandler maps them).
_PHP = re.compile(r"(?:\[[^\]\n]{1,64}\] )?PHP ([A-Z][a-z]+(?: [A-Za-z]+){0,2}):[ \t]+")
PHP = {
    "Fatal error": "CRITICAL",
    "Parse error": "CRITICAL",
    "Recoverable fatal error": "ERROR",
    "Catchable fatal error": "ERROR",
    "Warning": "WARNING",
    "Notice": "INFO",
    "Deprecated": "INFO",
    "Strict Standards": "INFO",
}
# Node.js's process warnings on stderr: "(node:1234) [DEP0005] DeprecationWarning: ...", "(node:1) Warning: ...".
_NODE_WARNING = re.compile(r"\(node:\d+\) ((?:\[[A-Z]+\d+\] )?[A-Za-z]*Warning: )")
# npm's log prefixes ("npm ERR! code ELIFECYCLE" before npm 9, "npm error ..." after), as a container that
# starts with `npm start` prints them when the app dies.
_NPM = re.compile(r"npm (ERR!|error|WARN|warn|notice|info|http|verb|timing|sill) ")
NPM = {"ERR!": "ERROR", "error": "ERROR", "WARN": "WARNING", "warn": "WARNING", "notice": "INFO", "info": "INFO"}
# Heroku's router and l2met-style lines: "at=error code=H12 desc=\"Request timeout\" ...", "at" first.
_HEROKU = re.compile(r"at=([a-z]+)(?=[ \t]|$)")
# Erlang/OTP's report headers (error_logger, and Elixir/RabbitMQ before the logger module):
# "=ERROR REPORT==== 22-Nov-2026::10:00:03 ===", the report's lines below it.
_ERLANG_REPORT = re.compile(r"=(ERROR|WARNING|INFO|CRASH|SUPERVISOR|PROGRESS) REPORT====")
ERLANG = {"ERROR": "ERROR", "CRASH": "ERROR", "SUPERVISOR": "ERROR", "WARNING": "WARNING", "INFO": "INFO"}
# A level as the first word: "ERROR ...", "WARNING:root:...", "SEVERE: ...", "warn: ..." (.NET), "WARN[0000]" (logrus).
_LEADING = re.compile(r"([A-Za-z]+)(\[\d+\])?(?::|[ \t]|$)")
# Classic syslog without a priority: "Nov 22 10:00:00 host app[123]: ...", the level then heads the message.
_SYSLOG_TEXT = re.compile(r"[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \S+ [^:\s]+: ")
# Syslog with its priority: "<3>...", "<134>1 2026-...".
_PRIORITY = re.compile(r"<(\d{1,3})>")
# logfmt: the first token is key=value.
_LOGFMT_START = re.compile(r"[\w.@-]+=")
# The level key's value; slog writes levels between the named ones as "WARN+2".
_LOGFMT_LEVEL = re.compile(
    r"(?:^|[ \t])(?:level|lvl|severity|log\.level|loglevel)=(\"?)([A-Za-z]+)(?:[+-]\d+)?\1(?=[ \t]|$)", re.I
)
_LOGFMT_MSG = re.compile(r"(?:^|[ \t])(?:msg|message)=(?:\"((?:[^\"\\]|\\.)*)\"|(\S+))")


def _php(line: str) -> Line | None:
    m = _PHP.match(line)
    if m is None or (level := PHP.get(m.group(1))) is None:
        return None
    return Line(level, line[m.end() :], {}, None, "php")


def _lambda_or_bracket(line: str) -> Line | None:
    m = _LAMBDA_TEXT.match(line)
    if m is not None and (level := LEVEL_WORDS.get(m.group(1))) is not None:
        return Line(level, line[m.end() :], {}, None, "lambda_text")
    return _scan(line, 0, "bracketed") or _php(line)


def _digit(line: str) -> Line | None:
    m = _CRI.match(line)
    if m is not None:
        inner = line[m.end() :].strip(_NOT_TEXT)
        if not inner or _CRI.match(inner) is not None:  # unwrapped once: a prefix inside one is no container's
            return None
        return _json(inner) if inner[:1] == "{" else _text(inner)
    m = _LOGCAT.match(line)
    if m is not None:
        return Line(LETTERS[m.group(1)], line[m.end() :], {}, None, "logcat")
    m = _REDIS.match(line)
    if m is not None:
        return Line(REDIS[m.group(1)], line[m.end() :], {}, None, "redis")
    found = _scan(line, 0, "timestamp_first")
    if found is None and (m := _LAMBDA_TIMEOUT.match(line)) is not None:
        return Line("ERROR", line[m.start(1) :], {}, None, "lambda_platform")
    return found


def _priority(line: str) -> Line | None:
    m = _PRIORITY.match(line)
    if m is None or int(m.group(1)) > 191:
        return None
    return Line(SYSLOG[int(m.group(1)) % 8], line[m.end() :], {}, None, "syslog_priority")


def _letter(line: str) -> Line | None:
    first = line[0]
    if line[1:2] == "," and (m := _RAILS.match(line)) is not None:
        level = LEVEL_WORDS.get(m.group(1))
        return None if level is None else Line(level, line[m.end() :], {}, None, "rails")
    if first in "IWEF" and line[1:2].isdigit() and (m := _GLOG.match(line)) is not None:
        return Line(LETTERS[first], line[m.end() :], {}, None, "glog")
    if line[1:2] == "/" and (m := _LOGCAT_BRIEF.match(line)) is not None:
        return Line(LETTERS[first], line[m.end() :], {}, None, "logcat")
    if first == "n" and (m := _NPM.match(line)) is not None:
        return Line(NPM.get(m.group(1), "DEBUG"), line[m.end() :], {}, None, "npm")
    if first == "P" and line.startswith("PHP "):
        return _php(line)
    if first in "tdf" and (m := _DOTNET.match(line)) is not None:
        return Line(DOTNET[m.group(1)], line[m.end(1) + 2 :], {}, None, "dotnet_console")
    m = _LEADING.match(line)
    if m is not None:
        word = m.group(1)
        loose = m.group(2) is not None or line[m.end(1) : m.end(1) + 1] in (":", "\t")
        level = _word(word, loose)
        if level is not None:
            return Line(level, _rest(line, m.end()), {}, None, "leading_word")
    if first == "a" and (m := _HEROKU.match(line)) is not None:
        level = LEVEL_WORDS.get(m.group(1).upper())
        if level is not None:
            return Line(level, line[m.end() :].lstrip(), {}, None, "logfmt")
    if _LOGFMT_START.match(line):
        return _logfmt(line)
    m = _SYSLOG_TEXT.match(line)
    if m is not None:
        found = _scan(line, m.end(), "syslog_text")
        if found is not None:
            return found
    return None


def _logfmt(line: str) -> Line | None:
    """``time=... level=WARN msg="..."`` (Go's slog, logrus, go-kit): the first level key outside quotes."""
    seen, quotes = 0, 0
    for m in _LOGFMT_LEVEL.finditer(line):
        quotes += line.count('"', seen, m.start()) - line.count('\\"', seen, m.start())  # \" does not close
        seen = m.start()
        if quotes % 2:
            continue  # inside a quoted value
        level = LEVEL_WORDS.get(m.group(2).upper())
        if level is None:
            return None
        msg = _LOGFMT_MSG.search(line)
        message = line if msg is None else (msg.group(1) if msg.group(1) is not None else msg.group(2))
        return Line(level, message.replace('\\"', '"'), {}, None, "logfmt")
    return None


# --------------------------------------------------------------------------- JSON

# Keys that carry a level, in the order they are asked; the value may be a word or a number.
_JSON_LEVEL_KEYS = (
    "level",
    "levelname",
    "severity",
    "log.level",
    "lvl",
    "log_level",
    "loglevel",
    "Level",
    "LEVEL",
    "LogLevel",  # .NET's JSON console formatter
    "Severity",
    "SEVERITY",
    "SeverityText",
    "severity_text",
    "severityText",
    "@l",  # Serilog's compact JSON
)
# The objects one level down that hold the record's own level: ECS's nested form {"log": {"level": ...}}. Any
# other object's "level" or "severity" is a field of what the record talks about ({"job": {"level": "error"}}).
_LEVEL_CONTAINERS = ("log",)
_LAMBDA_PLATFORM_FAILED = frozenset(("platform.runtimeDone", "platform.report", "platform.initRuntimeDone"))
_JSON_NUMBER_KEYS = ("severity_number", "SeverityNumber", "severityNumber")  # OpenTelemetry, 1-24
_JSON_PRIORITY_KEYS = ("PRIORITY", "priority", "syslog.severity")  # systemd journal: syslog severity 0-7
_JSON_MESSAGE_KEYS = (
    "message",
    "msg",
    "short_message",
    "MESSAGE",
    "Body",
    "body",
    "error",
    "err",
    "errorMessage",
    "log",
)
_JSON_STACK_KEYS = ("stack", "stack_trace", "stackTrace", "exc_info", "exception", "error.stack_trace", "full_message")
_OTEL = ("DEBUG",) * 8 + ("INFO",) * 4 + ("WARNING",) * 4 + ("ERROR",) * 4 + ("CRITICAL",) * 4


def _numeric(key: str, value: Any) -> str | None:
    if isinstance(value, str) and value.isascii() and value.isdigit():  # "²" is a digit int() refuses
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        return None
    if key in _JSON_NUMBER_KEYS:
        return _OTEL[value - 1] if 1 <= value <= 24 else None
    if key in _JSON_PRIORITY_KEYS:
        return SYSLOG[value] if 0 <= value <= 7 else None
    # pino and bunyan: 10 trace, 20 debug, 30 info, 40 warn, 50 error, 60 fatal.
    if 10 <= value <= 60 and value % 10 == 0:
        return ("DEBUG", "DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")[value // 10 - 1]
    return None


_OFFSET = re.compile(r"([A-Z]+)[+-][0-9]{1,2}").fullmatch


def _json_word(value: str) -> str | None:
    """The level a JSON string value names: ``"warn"``, a coloured ``"\x1b[31merror\x1b[39m"`` (winston's
    colorize before json), slog's levels between the named ones (``"WARN+2"``, ``"DEBUG-4"``)."""
    word = _plain(value).strip().upper()
    level = LEVEL_WORDS.get(word)
    if level is None and (offset := _OFFSET(word)) is not None:
        level = LEVEL_WORDS.get(offset.group(1))
    return level


def _json_level(obj: dict[str, Any]) -> tuple[str, str] | None:
    """(level, key) from the level keys of one object."""
    if "short_message" in obj:  # GELF: "level" is a syslog severity
        value = obj.get("level")
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 7:
            return SYSLOG[value], "level"
    elif "s" in obj and "c" in obj and "msg" in obj:  # MongoDB: {"t", "s": "E", "c": "NETWORK", "msg", ...}
        value = obj["s"]
        if isinstance(value, str) and value[:1] in MONGODB:
            return MONGODB[value[:1]], "s"
    for key in _JSON_LEVEL_KEYS:
        if key in obj:
            value = obj[key]
            level = _json_word(value) if isinstance(value, str) else _numeric(key, value)
            if level is not None:
                return level, key
    for key in (*_JSON_NUMBER_KEYS, *_JSON_PRIORITY_KEYS):
        if key in obj and (level := _numeric(key, obj[key])) is not None:
            return level, key
    return None


def _stack(value: Any) -> str | None:
    if isinstance(value, str):
        return value or None
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return "\n".join(value)
    return None


def _json(line: str) -> Line | None:
    """A JSON object: the level under a level key, at the top or one object down (``{"log": {"level": ...}}``)."""
    try:
        obj = json.loads(line)
    except ValueError:
        return None  # not JSON after all; RecursionError is left to the caller, which names it
    if not isinstance(obj, dict):
        return None
    found = _json_level(obj)
    kind = obj.get("type")
    if found is None and isinstance(kind, str) and kind in _LAMBDA_PLATFORM_FAILED:
        # Lambda's JSON platform events: an invocation that ended in an error or a timeout.
        record = obj.get("record")
        if isinstance(record, dict) and record.get("status") in ("error", "failure", "timeout"):
            extra = {k: v for k, v in record.items() if k != "status"}
            return Line("ERROR", f"{obj['type']}: {record['status']}", extra, None, "lambda_platform")
    nested = None
    if found is None:
        for key in _LEVEL_CONTAINERS:
            value = obj.get(key)
            if isinstance(value, dict) and (found := _json_level(value)) is not None:
                nested = key
                break
    if found is None:
        inner = obj.get("log")  # Docker's json-file driver: {"log": "<the text line>", "stream": ..., "time": ...}
        inner = inner.strip() if isinstance(inner, str) else ""  # "\n": a blank line the container printed
        if inner[:1] not in ("{", ""):
            text = _text(inner)
            if text is not None:
                extra = {k: v for k, v in obj.items() if k != "log"}
                return Line(text.level, text.message, extra, text.stack, "json")
        return None
    level, level_key = found
    extra = dict(obj)
    if nested is None:
        del extra[level_key]
    else:
        extra[nested] = {k: v for k, v in obj[nested].items() if k != level_key}
        if not extra[nested]:
            del extra[nested]
    message = None
    for key in _JSON_MESSAGE_KEYS:
        value = extra.get(key)
        if isinstance(value, str):
            message = value
            del extra[key]
            break
        if isinstance(value, dict) and isinstance(value.get("errorMessage"), str):
            # Lambda's JSON log format for an exception: {"message": {"errorMessage", "errorType", "stackTrace"}}
            message = f"{value.get('errorType') or 'Error'}: {value['errorMessage']}"
            stack = _stack(value.get("stackTrace"))
            del extra[key]
            return Line(level, message, extra, stack, "json")
    stack = None
    for key in _JSON_STACK_KEYS:
        if key in extra and (stack := _stack(extra[key])) is not None:
            del extra[key]
            break
    if stack is None:
        for key in ("err", "error"):  # pino's serialised error: {"err": {"type", "message", "stack"}}
            value = extra.get(key)
            if isinstance(value, dict) and (stack := _stack(value.get("stack") or value.get("stack_trace"))):
                if message is None and isinstance(value.get("message"), str):
                    message = value["message"]
                break
    return Line(level, line if message is None else message, extra, stack, "json")


# --------------------------------------------------------------------------- dispatch


def _text(line: str) -> Line | None:
    first = line[0]
    if first == "[":
        return _lambda_or_bracket(line)
    if first.isdigit():
        return _digit(line)
    if first == "<":
        return _priority(line)
    if first.isalpha():
        return _letter(line)
    if first == "=" and (m := _ERLANG_REPORT.match(line)) is not None:
        return Line(ERLANG.get(m.group(1), "INFO"), line[m.end() :].strip(" ="), {}, None, "erlang_report")
    if first == "(" and (m := _NODE_WARNING.match(line)) is not None:
        return Line("WARNING", line[m.start(1) :], {}, None, "node_warning")
    return None


def parse(line: str) -> Line | None:
    """The level and the parts of one log line, or None when it has no level this module recognises.

    JSON that nests past the interpreter's recursion limit raises RecursionError: the caller decides.
    """
    line = _plain(line).strip(_NOT_TEXT)
    if not line:
        return None
    if line[0] == "{":
        return _json(line)
    return _text(line)
