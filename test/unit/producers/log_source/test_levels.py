"""levels: each named rule on realistic lines of the formats it covers, and the traps around them."""

import json

import pytest

from producers.log_source import levels

UUID = "6f1c2b7e-8a4d-4c3b-9f2e-1d0a5b6c7e8f"


def found(line):
    parsed = levels.parse(line)
    return None if parsed is None else (parsed.level, parsed.rule)


@pytest.mark.parametrize(
    ("line", "level", "message"),
    [
        # log4j / logback / Spring Boot
        (
            "2026-11-22 10:00:00,123 WARN [main] com.acme.Foo: pool at 90%",
            "WARNING",
            "[main] com.acme.Foo: pool at 90%",
        ),
        ("10:00:00.123 [main] ERROR com.acme.Foo - payment declined", "ERROR", "com.acme.Foo - payment declined"),
        (
            "2026-11-22T10:00:00.123+01:00  WARN 12345 --- [main] c.a.Foo : slow",
            "WARNING",
            "12345 --- [main] c.a.Foo : slow",
        ),
        (
            "22-Nov-2026 10:00:00.123 SEVERE [main] org.apache.catalina.core.StandardContext.startInternal x",
            "ERROR",
            None,
        ),
        ("176 [main] FATAL org.foo.Bar  - out of memory", "CRITICAL", "org.foo.Bar  - out of memory"),
        # Python logging
        (
            "2026-11-22 10:00:00,123 WARNING urllib3.connectionpool Retrying",
            "WARNING",
            "urllib3.connectionpool Retrying",
        ),
        ("2026-11-22 10:00:00,123 - app.db - ERROR - connection lost", "ERROR", "connection lost"),
        ("WARNING:root:disk almost full", "WARNING", "root:disk almost full"),
        ("CRITICAL:app:cannot start", "CRITICAL", "app:cannot start"),
        # Go: log with a level prefix, slog and logrus text (logfmt)
        ("2026/11/22 10:00:00 ERROR: upstream closed", "ERROR", "upstream closed"),
        (
            'time=2026-11-22T10:00:00.000Z level=WARN msg="queue is filling up" depth=900',
            "WARNING",
            "queue is filling up",
        ),
        ('time="2026-11-22T10:00:00Z" level=error msg="dial tcp: refused"', "ERROR", "dial tcp: refused"),
        ("ts=2026-11-22T10:00:00Z caller=main.go:12 level=warn msg=slow", "WARNING", "slow"),
        ("lvl=eror msg=x", None, None),
        ("level=warn msg=go", "WARNING", "go"),
        # Rails (Ruby's Logger)
        ("E, [2026-11-22T10:00:00.123456 #1234] ERROR -- : Timeout::Error", "ERROR", "Timeout::Error"),
        ("I, [2026-11-22T10:00:00.123456 #1234]  INFO -- : Started GET /", "INFO", "Started GET /"),
        ("[2026-11-22T10:00:00.123+00:00] ERROR PG::ConnectionBad", "ERROR", "PG::ConnectionBad"),
        # OpenStack and Hadoop-family: date time pid LEVEL module
        ("2026-05-16 00:00:00.008 25746 ERROR nova.compute.manager [req-1] Instance failed", "ERROR", None),
        ("081109 203615 148 WARN dfs.DataNode$PacketResponder: slow", "WARNING", None),
        (
            "2015-07-29 17:41:44,747 - WARN  [QuorumPeer[myid=1]/0:0:0:0:0:0:0:0:2181:Learner@233] - timeout",
            "WARNING",
            None,
        ),
        # Lambda's runtimes: Python text, Node.js text, the JSON format
        (f"[ERROR]\t2026-11-22T09:15:02.120Z\t{UUID}\tKeyError: 'id'", "ERROR", "KeyError: 'id'"),
        (f"2026-11-22T09:15:02.120Z\t{UUID}\tERROR\tInvoke Error", "ERROR", "Invoke Error"),
        (f"2026-11-22T09:15:02.120Z\t{UUID}\twarn\tslow call", "WARNING", "slow call"),
        # httpd and nginx error logs
        ("[Sun Dec 04 04:47:44 2005] [error] [client 1.2.3.4] Directory index forbidden", "ERROR", None),
        ("[Wed Oct 11 14:32:52.123456 2026] [core:error] [pid 1234] AH00037: bad", "ERROR", "[pid 1234] AH00037: bad"),
        ("[Wed Oct 11 14:32:52.123456 2026] [mpm_event:notice] [pid 1:tid 2] AH00489: resuming", "INFO", None),
        ("2026/11/22 10:00:00 [crit] 123#0: *1 SSL_do_handshake() failed", "CRITICAL", None),
        ("2026/11/22 10:00:00 [emerg] 1#1: bind() to 0.0.0.0:80 failed", "CRITICAL", None),
        ("2026/11/22 10:00:00 [notice] 1#1: signal process started", "INFO", None),
        # one-letter levels
        ("03-17 16:13:38.811  1702  2395 W WindowManager: window leaked", "WARNING", "WindowManager: window leaked"),
        ("03-17 16:13:38.811  1702  2395 E AndroidRuntime: FATAL EXCEPTION: main", "ERROR", None),
        ("03-17 16:13:38.811  1702  2395 I ActivityManager: Start proc", "INFO", None),
        ("W/ActivityManager( 1234): Timeout executing service", "WARNING", "Timeout executing service"),
        ("E1122 10:00:00.000000    1234 reflector.go:138] watch failed", "ERROR", "watch failed"),
        ("I1122 10:00:00.000000 1234 server.go:12] listening", "INFO", "listening"),
        # syslog
        ("<3>Nov 22 10:00:00 host app[1]: disk failure", "ERROR", None),
        ("<12>1 2026-11-22T10:00:00Z host app 1 - - low memory", "WARNING", None),
        ("<134>Nov 22 10:00:00 host app: served", "INFO", None),
        ("<0>kernel panic", "CRITICAL", None),
        ("Nov 22 10:00:00 web1 app[123]: ERROR could not write", "ERROR", "could not write"),
        # others: .NET console, Serilog, logrus TTY, java.util.logging second line
        ("warn: Microsoft.AspNetCore.Server.Kestrel[22] heartbeat slow", "WARNING", None),
        ("[10:00:00 WRN] Disk space low", "WARNING", "Disk space low"),
        ("ERRO[0003] failed to pull image", "ERROR", "failed to pull image"),
        ("SEVERE: Servlet.service() threw exception", "ERROR", "Servlet.service() threw exception"),
        # key=value fields before the level (Sidekiq), Celery's bracket, slog's in-between levels, httpd's traceN
        ("2026-11-22T10:00:17.000Z pid=42 tid=gx2 class=MailerJob jid=abc ERROR: Net::ReadTimeout", "ERROR", None),
        ("[2026-11-22 10:00:11,002: ERROR/ForkPoolWorker-2] Task app.tasks.send_mail[5b1e] raised", "ERROR", None),
        ("time=2026-11-22T10:00:14.000Z level=WARN+2 msg=quota", "WARNING", "quota"),
        ("time=2026-11-22T10:00:14.000Z level=ERROR-1 msg=x", "ERROR", "x"),
        ("[Wed Oct 11 14:32:56.000006 2026] [ssl:trace3] [pid 1236:tid 142] Handshake: done", "DEBUG", None),
        ("I/Process ( 4150): Sending signal. PID: 4150 SIG: 9", "INFO", None),
        ("F/libc    ( 4150): Fatal signal 6 (SIGABRT)", "CRITICAL", None),
        # servers: PostgreSQL, MySQL, Redis's marks, Elasticsearch's padded brackets, Monolog, loguru, structlog
        ('2026-11-22 10:00:00.123 UTC [1234] ERROR:  relation "orders" does not exist', "ERROR", None),
        ("2026-11-22 10:00:00.200 UTC [88] LOG:  checkpoint starting: time", None, None),
        (
            "2026-11-22T10:00:01.123456Z 0 [Warning] [MY-010068] [Server] CA certificate ca.pem is self signed.",
            "WARNING",
            None,
        ),
        ("1:M 22 Nov 2026 10:00:02.123 # WARNING Memory overcommit must be enabled!", "WARNING", None),
        ("1:M 22 Nov 2026 10:00:02.124 * Ready to accept connections tcp", "INFO", "Ready to accept connections tcp"),
        (
            "[2026-11-22T10:00:04,123][WARN ][o.e.c.r.a.DiskThresholdMonitor] [node-1] high disk watermark",
            "WARNING",
            None,
        ),
        ("[2026-11-22 10:00:08] production.ERROR: SQLSTATE[HY000] [2002] Connection refused", "ERROR", None),
        ("[2026-11-22 10:00:08] local.INFO: ErrorController booted [] []", "INFO", None),
        ("2026-11-22 10:00:00 app.worker: job done", None, None),  # a logger name before a colon is not Monolog's
        ("2026-11-22 10:00:09.123 | ERROR    | app.main:run:12 - job failed", "ERROR", None),
        ("2026-11-22 10:00:10 [error    ] payment failed                 order_id=A-1042", "ERROR", None),
        # Lambda's platform: a timeout has no level word, it is an error all the same
        (
            f"2026-11-22T09:15:03.008Z {UUID} Task timed out after 3.00 seconds",
            "ERROR",
            "Task timed out after 3.00 seconds",
        ),
        (f"2026-11-22T09:15:07.000Z\t{UUID}\torder A-1043 received", None, None),
    ],
)
def test_text_formats(line, level, message):
    parsed = levels.parse(line)
    assert (parsed and parsed.level) == level
    if message is not None:
        assert parsed.message == message


@pytest.mark.parametrize(
    ("obj", "level"),
    [
        ({"level": 50, "time": 1795338902120, "pid": 7, "hostname": "h", "msg": "boom"}, "ERROR"),  # pino
        ({"level": 40, "msg": "slow"}, "WARNING"),
        ({"level": 60, "msg": "dying"}, "CRITICAL"),
        ({"level": 30, "msg": "ok"}, "INFO"),
        (
            {"name": "api", "hostname": "h", "pid": 1, "level": 50, "msg": "x", "time": "2026", "v": 0},
            "ERROR",
        ),  # bunyan
        ({"level": "warn", "message": "rate limited", "service": "api"}, "WARNING"),  # winston
        ({"levelname": "ERROR", "message": "x"}, "ERROR"),
        ({"severity": "CRITICAL", "message": "x"}, "CRITICAL"),  # Google Cloud
        ({"log.level": "warn", "message": "x", "@timestamp": "2026"}, "WARNING"),  # ECS, dotted key
        ({"log": {"level": "error", "logger": "app"}, "message": "x"}, "ERROR"),  # ECS, nested
        ({"lvl": "crit", "msg": "x"}, "CRITICAL"),
        ({"SeverityNumber": 17, "Body": "x"}, "ERROR"),  # OpenTelemetry
        ({"severity_number": 13, "body": "x"}, "WARNING"),
        ({"severity_number": 9, "body": "x"}, "INFO"),
        ({"severity_number": 21, "body": "x"}, "CRITICAL"),
        ({"SeverityText": "Warning", "Body": "x"}, "WARNING"),
        ({"severity_text": "ERROR", "body": "x"}, "ERROR"),
        ({"PRIORITY": "3", "MESSAGE": "x", "_PID": "1"}, "ERROR"),  # journald, string
        ({"PRIORITY": 4, "MESSAGE": "x"}, "WARNING"),  # journald, number
        ({"PRIORITY": "6", "MESSAGE": "x"}, "INFO"),
        ({"level": "Error", "message": "x"}, "ERROR"),
        ({"level": "severe", "message": "x"}, "ERROR"),
        ({"level": "LOUD", "message": "x"}, None),
        ({"message": "no level at all"}, None),
        ({"log": "2026-11-22 10:00:00,123 ERROR [main] Foo: boom\n", "stream": "stderr"}, "ERROR"),  # Docker
        ({"@t": "2026-11-22T10:00:19.000Z", "@mt": "Payment {Id} failed", "@l": "Error", "Id": 7}, "ERROR"),  # Serilog
        ({"type": "platform.runtimeDone", "record": {"requestId": UUID, "status": "error"}}, "ERROR"),  # Lambda
        ({"t": {"$date": "2026"}, "s": "E", "c": "NETWORK", "id": 23, "msg": "Error receiving"}, "ERROR"),  # MongoDB
        ({"t": {"$date": "2026"}, "s": "D1", "c": "QUERY", "id": 1, "msg": "x"}, "DEBUG"),
        ({"s": "E", "msg": "not MongoDB's shape"}, None),
        ({"version": "1.1", "host": "h", "short_message": "disk full", "level": 3}, "ERROR"),  # GELF: syslog severity
        ({"version": "1.1", "host": "h", "short_message": "ok", "level": 6}, "INFO"),
        ({"type": "platform.report", "record": {"requestId": UUID, "status": "timeout"}}, "ERROR"),
        ({"type": "platform.runtimeDone", "record": {"requestId": UUID, "status": "success"}}, None),
    ],
)
def test_json_formats(obj, level):
    parsed = levels.parse(json.dumps(obj))
    assert (parsed and parsed.level) == level
    if parsed is not None:
        assert parsed.rule in ("json", "lambda_platform")


def test_json_message_extra_and_stack():
    pino = {"level": 50, "msg": "request failed", "pid": 7, "err": {"type": "Error", "stack": "Error: x\n    at f"}}
    parsed = levels.parse(json.dumps(pino))
    assert parsed.message == "request failed" and parsed.stack == "Error: x\n    at f"
    assert parsed.extra == {"pid": 7, "err": {"type": "Error", "stack": "Error: x\n    at f"}}
    lam = {
        "timestamp": "2026-11-22T09:15:02.120Z",
        "level": "ERROR",
        "message": {"errorType": "KeyError", "errorMessage": "'id'", "stackTrace": ['  File "h.py", line 3']},
        "requestId": UUID,
    }
    parsed = levels.parse(json.dumps(lam))
    assert (parsed.level, parsed.message, parsed.stack) == ("ERROR", "KeyError: 'id'", '  File "h.py", line 3')
    assert parsed.extra == {"timestamp": "2026-11-22T09:15:02.120Z", "requestId": UUID}


@pytest.mark.parametrize(
    ("line", "level"),
    [
        # a level word in the message is not the level
        ("INFO instruction cache parity error corrected", "INFO"),
        ("2026-11-22 10:00:00,123 INFO [main] c.a.Job: 0 ERROR rows, WARN threshold 5", "INFO"),
        ('time=2026-11-22T10:00:00Z level=info msg="level=error in upstream"', "INFO"),
        ('time=2026-11-22T10:00:00Z msg="level=error in upstream" level=debug', "DEBUG"),
        ('{"level": "info", "message": "ERROR: nothing wrong"}', "INFO"),
        ("2026/11/22 10:00:00 [info] 12#0: client sent error page", "INFO"),
        # a level-looking word in a thread or logger name is not the level
        ("10:00:00.123 [WARN-thread-3] INFO com.acme.ErrorHandler - handled", "INFO"),
        ("2026-11-22 10:00:00,123 [ERROR-pool-1] DEBUG com.acme.Foo - tick", "DEBUG"),
        ("2026-11-22 10:00:00,123 - com.acme.ErrorHandler - INFO - retry scheduled", "INFO"),
        ("2026-11-22 10:00:00 com.acme.ErrorHandler started", None),
        # no header level: not an error report
        ("2026/11/22 10:00:00 error reading body: EOF", None),  # Go's log package has no levels
        ("2026-11-22 10:00:00 retrying after ERROR from upstream", None),
        ("Error connecting to database", None),
        ("START RequestId: 6f1c2b7e-8a4d-4c3b-9f2e-1d0a5b6c7e8f Version: $LATEST", None),
        ("an error occurred", None),
        ("{not json", None),
        ("[1, 2]", None),
        ("", None),
        # mixed case where the place says it is a level
        ("Warning: deprecated flag", "WARNING"),
        ("error: cannot open file", "ERROR"),
        ("[Sun Dec 04 04:47:44 2005] [Error] x", "ERROR"),
        ("2026-11-22 10:00:00\tWarn\tpkg/file.go:12\tslow", "WARNING"),  # zap console, tab-separated
    ],
)
def test_traps(line, level):
    parsed = levels.parse(line)
    assert (parsed and parsed.level) == level


def test_rules_are_named():
    assert found("2026-11-22 10:00:00,123 WARN x") == ("WARNING", "timestamp_first")
    assert found("[Sun Dec 04 04:47:44 2005] [error] x") == ("ERROR", "bracketed")
    assert found("E1122 10:00:00.000000 1 f.go:1] x") == ("ERROR", "glog")
    assert found("03-17 16:13:38.811  1702  2395 W T: x") == ("WARNING", "logcat")
    assert found("E, [2026-11-22T10:00:00.123456 #1] ERROR -- : x") == ("ERROR", "rails")
    assert found("<4>x") == ("WARNING", "syslog_priority")
    assert found("level=warn msg=x") == ("WARNING", "logfmt")
    assert found("WARN x") == ("WARNING", "leading_word")
    assert found(f"[ERROR]\t2026-11-22T09:15:02.120Z\t{UUID}\tx") == ("ERROR", "lambda_text")


def test_json_nested_past_the_recursion_limit_raises_for_the_caller_to_name():
    with pytest.raises(RecursionError):
        levels.parse('{"level": "ERROR", "a": ' + "[" * 100_000 + "]" * 100_000 + "}")


def test_an_escaped_quote_does_not_end_a_logfmt_value():
    parsed = levels.parse('time=1 msg="a \\" level=error" level=info')
    assert (parsed.level, parsed.message) == ("INFO", 'a " level=error')


@pytest.mark.timeout(20)  # not a speed figure: with backtracking regexes these lines would not finish at all
@pytest.mark.parametrize(
    "line",
    [
        "[" + "a" * 100_000,  # an unclosed bracket
        "2026-11-22 10:00:00 [" + "ab" * 50_000,
        "1" * 100_000 + "!",
        "2026-11-22 " + "1 " * 50_000 + "!",
        'a=1 msg="' + " level=x" * 30_000,  # many level keys inside one quoted value
        "a=" * 100_000,
        "Nov 22 10:00:00 " + "a" * 100_000,
    ],
)
def test_hostile_text_lines_are_read_in_linear_time(line):
    assert levels.parse(line) is None


def test_the_one_step_header_match_agrees_with_the_token_scanner(monkeypatch):
    from bench import loglevels

    lines = [line for rows in loglevels.load().values() for _, line in rows]
    lines += [
        "2026/11/22 10:00:00 [warn] ERROR later",  # a level in the group comes first
        "2026-11-22 10:00:00 - [WARN-thread-3] INFO x",
        "2026-11-22 10:00:00 ERROR:x",
        "2026-11-22 10:00:00 ERRORS x",
        "10:00:00 [main] NOTALEVEL ERROR",
    ]
    fast = [levels.parse(line) for line in lines]
    monkeypatch.setattr(levels, "_COMMON", lambda line, pos: None)
    assert [levels.parse(line) for line in lines] == fast


@pytest.mark.parametrize(
    "line",
    [
        '{"log":"\\n","stream":"stdout","time":"2026-11-22T10:00:00.000000000Z"}',  # Docker: a blank line printed
        '{"log":"  \\r\\n","stream":"stderr"}',
        '{"type":["a"],"msg":"x"}',  # a "type" that cannot be a Lambda platform event's
        '{"type":{"name":"order"},"msg":"x"}',
        '{"PRIORITY":"\u00b3","MESSAGE":"x"}',  # a digit int() refuses
        '{"severity_number":"\u00b2","body":"x"}',
    ],
)
def test_json_lines_without_a_level_are_none_and_never_raise(line):
    assert levels.parse(line) is None


@pytest.mark.parametrize(
    ("line", "level", "message"),
    [
        # Spring Boot's console pattern on a terminal (docker run -t, Kubernetes with tty: true)
        (
            "\x1b[2m2026-11-22T10:00:06.200+01:00\x1b[0;39m \x1b[31mERROR\x1b[0;39m \x1b[35m12345\x1b[0;39m "
            "\x1b[2m---\x1b[0;39m \x1b[2m[main]\x1b[0;39m \x1b[36mo.s.boot.SpringApplication\x1b[0;39m "
            "\x1b[2m:\x1b[0;39m Application run failed",
            "ERROR",
            "12345 --- [main] o.s.boot.SpringApplication : Application run failed",
        ),
        ("\x1b[33mWARNING\x1b[0m:  StatReload detected changes", "WARNING", "StatReload detected changes"),  # uvicorn
        ("\x1b[31mERRO\x1b[0m[0003] failed to connect", "ERROR", "failed to connect"),  # logrus on a TTY
        ("\x1b[90m10:04AM\x1b[0m \x1b[31mERR\x1b[0m db unavailable", "ERROR", "db unavailable"),  # zerolog console
        ("\x1b[38;5;196mERROR\x1b[0m payment failed", "ERROR", "payment failed"),  # 256 colours
        ("\x1b[2m2026-11-22T10:00:05Z\x1b[0m \x1b[33m WARN\x1b[0m \x1b[2mapp::pool\x1b[0m: full", "WARNING", None),
        ('{"level":"\\u001b[31merror\\u001b[39m","message":"no redis"}', "ERROR", "no redis"),  # winston colorize+json
        ("\x1b[32mINFO\x1b[0m:     Started server process", "INFO", None),
        # a byte-order mark, and the NULs copytruncate leaves at the start of a rotated file
        ("\ufeff2026-11-22 10:00:00,123 ERROR [main] c.a.Foo: first line", "ERROR", "[main] c.a.Foo: first line"),
        ("\x00\x00\x00\x002026-11-22 10:00:00,125 ERROR [main] c.a.Foo: truncated", "ERROR", None),
        # slog's JSON handler names the levels between the named ones "WARN+2", "ERROR-4", as its text handler does
        ('{"time":"2026-11-22T10:00:02Z","level":"WARN+2","msg":"quota"}', "WARNING", "quota"),
        ('{"time":"2026-11-22T10:00:02Z","level":"DEBUG-4","msg":"verbose"}', "DEBUG", "verbose"),
    ],
)
def test_colour_codes_byte_order_marks_and_nuls_do_not_hide_the_level(line, level, message):
    parsed = levels.parse(line)
    assert parsed is not None and parsed.level == level
    assert message is None or parsed.message == message
    assert "\x1b" not in parsed.message


@pytest.mark.parametrize(
    ("line", "level", "rule"),
    [
        ("fail: Microsoft.AspNetCore.Diagnostics.ExceptionHandlerMiddleware[1]", "ERROR", "dotnet_console"),
        ("crit: Microsoft.AspNetCore.Server.Kestrel[0]", "CRITICAL", "leading_word"),
        ("dbug: Microsoft.AspNetCore.Hosting.Diagnostics[1]", "DEBUG", "dotnet_console"),
        ("trce: Microsoft.AspNetCore.Routing.Matching.DfaMatcher[1001]", "DEBUG", "dotnet_console"),
        ('{"EventId":1,"LogLevel":"Error","Category":"Orders.Api","Message":"unhandled","State":{}}', "ERROR", "json"),
        ('{"EventId":0,"LogLevel":"Critical","Category":"Kestrel","Message":"Unable to start"}', "CRITICAL", "json"),
        ("FATA[0005] cannot open database", "CRITICAL", "leading_word"),  # logrus TTY, four letters
        ("PANI[0006] invariant violated", "CRITICAL", "leading_word"),
        ("TRAC[0000] entered", "DEBUG", "leading_word"),
        ('{"level":"dpanic","ts":1700647203.1,"caller":"x/x.go:1","msg":"invariant broken"}', "ERROR", "json"),
        ("2026-11-22T10:00:00.000+0100\tDPANIC\tx/x.go:1\tinvariant broken", "ERROR", "timestamp_first"),
    ],
)
def test_level_spellings_of_dotnet_logrus_and_zap(line, level, rule):
    assert found(line) == (level, rule)


def test_dotnet_console_words_are_levels_only_with_their_colon():
    assert found("fail: Orders.Api[0]") == ("ERROR", "dotnet_console")
    assert found("failed: to open the file") is None
    assert found("fail to open the file") is None
    assert found("info: error budget ok") == ("INFO", "leading_word")


@pytest.mark.parametrize(
    ("line", "level"),
    [
        ("[2026-11-22T10:00:01Z ERROR orders::db] connection failed: Connection refused", "ERROR"),  # env_logger
        ("[2026-11-22T10:00:02Z WARN  orders::cache] cache miss ratio 0.61", "WARNING"),
        ("[2026-11-22T10:00:00Z INFO  orders] starting", "INFO"),
        ("[2026-11-22 10:00:00 +0000] [1] [ERROR] Worker (pid:7) was sent SIGKILL!", "ERROR"),  # gunicorn, unchanged
        ("[10:00:00 ERR] An unhandled exception has occurred", "ERROR"),  # Serilog, unchanged
    ],
)
def test_a_level_after_the_time_inside_one_bracket_group(line, level):
    assert found(line) == (level, "bracketed")


def test_a_word_deep_inside_a_bracket_group_is_not_a_level():
    assert levels.parse("[2026-11-22 10:00:00 error handler for orders] started") is None


@pytest.mark.parametrize(
    ("line", "level", "message"),
    [
        (
            "[22-Nov-2026 10:00:01 UTC] PHP Fatal error:  Uncaught Error: Call to undefined function mysql_connect()",
            "CRITICAL",
            "Uncaught Error: Call to undefined function mysql_connect()",
        ),
        ("[22-Nov-2026 10:00:02 UTC] PHP Parse error:  syntax error, unexpected token", "CRITICAL", None),
        (
            "[22-Nov-2026 10:00:03 Europe/Paris] PHP Recoverable fatal error:  Object could not be converted",
            "ERROR",
            None,
        ),
        ("PHP Fatal error:  Allowed memory size of 134217728 bytes exhausted", "CRITICAL", None),  # CLI, stderr
        ("PHP Warning:  Undefined variable $total in /app/cart.php on line 14", "WARNING", None),
        ("[22-Nov-2026 10:00:04 UTC] PHP Deprecated:  Creation of dynamic property", "INFO", None),
    ],
)
def test_php_error_log_phrases(line, level, message):
    parsed = levels.parse(line)
    assert parsed is not None and parsed.level == level
    assert message is None or parsed.message == message


def test_php_is_a_level_only_in_its_place():
    assert levels.parse("PHP is great: really") is None
    assert levels.parse("[22-Nov-2026 10:00:04 UTC] PHP Unknown thing:  x") is None


@pytest.mark.parametrize(
    ("line", "level"),
    [
        (
            "2026-11-22T10:00:01.123456789Z stderr F 2026-11-22 10:00:01,123 ERROR [main] c.a.App: payment failed",
            "ERROR",
        ),
        ('2026-11-22T10:00:03.123456789Z stdout F {"level":"error","msg":"boom","ts":1700647203.1}', "ERROR"),
        (
            "2026-11-22T10:00:02.123456789+01:00 stderr F I1122 10:00:02.123456       1 main.go:42] error budget ok",
            "INFO",
        ),
        ("2026-11-22T10:00:04.000000000Z stdout P W1122 10:00:04.000000       1 x.go:1] partial line", "WARNING"),
    ],
)
def test_a_kubernetes_cri_line_has_its_inner_lines_level(line, level):
    parsed = levels.parse(line)
    assert parsed is not None and parsed.level == level


def test_an_empty_cri_line_has_no_level():
    assert levels.parse("2026-11-22T10:00:04.000000000Z stdout F ") is None


@pytest.mark.parametrize(
    "line",
    [
        '{"job":{"level":"error","retries":0},"msg":"job summary"}',
        '{"msg":"ticket opened","ticket":{"id":7,"severity":"critical"}}',
        '{"alert":{"labels":{"severity":"critical"}},"message":"notified"}',
    ],
)
def test_the_level_of_an_object_the_record_talks_about_is_not_its_own(line):
    assert levels.parse(line) is None


@pytest.mark.parametrize(
    ("line", "level", "rule", "message"),
    [
        (
            "(node:1) [DEP0005] DeprecationWarning: Buffer() is deprecated",
            "WARNING",
            "node_warning",
            "[DEP0005] DeprecationWarning: Buffer() is deprecated",
        ),
        (
            "(node:42) MaxListenersExceededWarning: Possible EventEmitter memory leak detected.",
            "WARNING",
            "node_warning",
            None,
        ),
        ("(node:7) Warning: Closing file descriptor 3 on garbage collection", "WARNING", "node_warning", None),
        ("npm ERR! code ELIFECYCLE", "ERROR", "npm", "code ELIFECYCLE"),
        ('npm error Missing script: "start"', "ERROR", "npm", None),
        ("npm WARN deprecated inflight@1.0.6: This module is not supported", "WARNING", "npm", None),
        ("npm notice New minor version of npm available! 10.2.3 -> 10.2.4", "INFO", "npm", None),
        ("npm timing command:install Completed in 812ms", "DEBUG", "npm", None),
    ],
)
def test_node_process_warnings_and_npm_prefixes(line, level, rule, message):
    parsed = levels.parse(line)
    assert parsed is not None and (parsed.level, parsed.rule) == (level, rule)
    assert message is None or parsed.message == message


def test_node_and_npm_words_elsewhere_are_not_levels():
    assert levels.parse("(node:1) listening on 3000") is None
    assert levels.parse("npm install finished with errors") is None


@pytest.mark.parametrize(
    ("line", "level", "rule"),
    [
        (
            'at=error code=H12 desc="Request timeout" method=GET path="/" dyno=web.1 service=30000ms status=503',
            "ERROR",
            "logfmt",
        ),
        ('at=info method=GET path="/error" host=orders.herokuapp.com status=500 bytes=1543', "INFO", "logfmt"),
        ('at=warning code=H81 desc="Blank app"', "WARNING", "logfmt"),
        ("=ERROR REPORT==== 22-Nov-2026::10:00:03 ===", "ERROR", "erlang_report"),
        ("=CRASH REPORT==== 22-Nov-2026::10:00:03 ===", "ERROR", "erlang_report"),
        ("=WARNING REPORT==== 22-Nov-2026::10:00:02 ===", "WARNING", "erlang_report"),
        ("=PROGRESS REPORT==== 22-Nov-2026::10:00:01 ===", "INFO", "erlang_report"),
    ],
)
def test_heroku_router_and_erlang_report_headers(line, level, rule):
    assert found(line) == (level, rule)


def test_at_is_a_level_key_only_first():
    assert levels.parse("attempt=3 at=error msg=x") is None


def test_cri_prefixes_are_unwrapped_once_not_recursively():
    line = "2026-11-22T10:00:00Z stdout F " * 9_000 + "ERROR boom"  # 270 KB of prefixes
    assert levels.parse(line) is None
