"""The local CLI as a user runs it: demo end to end, up until Ctrl-C, invoke on fixture events, and its errors."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from local.postgres import LocalPostgres, free_port
from local.stack import ROOT
from test.support import error_event, kinesis_event, wire

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _no_stack_env():
    """The environment of a shell where no stack's settings were exported."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DATABASE_", "STAGE", "STREAM_"))}


def test_demo_shows_every_accepted_event_landing_once_and_keeps_its_rows(state_dir):
    out = subprocess.run(
        [sys.executable, "-m", "local", "--state-dir", str(state_dir), "demo", "--port", str(free_port())],
        cwd=ROOT,
        env=_no_stack_env(),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout == ""  # the demo's report is progress: stderr
    assert "error_source answered 202: 5 accepted" in out.stderr
    assert "errors table holds 5 rows (dead letters: 0)" in out.stderr
    assert "every accepted event landed exactly once" in out.stderr
    assert f"PostgreSQL keeps its data in {state_dir / 'pg'}: rows stay there" in out.stderr
    assert "stack stopped" in out.stderr
    # What it said: the next start of that data finds the demo's rows.
    server = LocalPostgres(state_dir / "pg").start()
    try:
        import psycopg2

        with psycopg2.connect(server.url) as conn, conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM errors")
            assert cur.fetchone() == (5,)
    finally:
        server.stop()


def _wait_for(log, text, proc, timeout=120):
    deadline = time.monotonic() + timeout
    while text not in log.read_text() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    return log.read_text()


def _ctrl_c(proc):
    """What a terminal does on Ctrl-C: SIGINT to every process of the foreground process group."""
    os.killpg(proc.pid, signal.SIGINT)
    return proc.wait(60)


def _started(state_dir, *args):
    out, err = state_dir / "out.log", state_dir / "err.log"
    with out.open("w") as o, err.open("w") as e:
        proc = subprocess.Popen(
            [sys.executable, "-m", "local", "--state-dir", str(state_dir), *args],
            cwd=ROOT,
            env=_no_stack_env(),
            stdout=o,
            stderr=e,
            start_new_session=True,  # its own process group, as a shell's foreground job
        )
    return proc, out, err


def test_up_on_a_port_of_its_own_says_where_its_data_is_and_stops_on_ctrl_c(state_dir):
    port = free_port()
    proc, out, err = _started(state_dir, "up", "--port", str(port))
    try:
        log = _wait_for(err, "polling for", proc)
        assert "polling for" in log, log + out.read_text()
        # Each long step, before and after with its duration.
        assert f"starting moto on http://127.0.0.1:{port}" in log
        assert re.search(r"moto ready in \d+\.\d s", log), log
        assert f"starting PostgreSQL, a new database (initdb) in {state_dir / 'pg'}" in log
        assert re.search(r"PostgreSQL ready in \d+\.\d s", log), log
        assert f"PostgreSQL keeps its data in {state_dir / 'pg'}: rows stay there when the stack stops" in log
        assert "alerts (error_alert's alerts)" in log and "failures (on-failure records)" in log
        exports = out.read_text().splitlines()
        assert exports and all(line.startswith("    export ") for line in exports), exports
        assert f"    export AWS_ENDPOINT_URL=http://127.0.0.1:{port}" in exports

        # Another terminal: the settings come from stack.json, and the response alone is on stdout.
        command = [sys.executable, "-m", "local", "--state-dir", str(state_dir)]
        reply = subprocess.run(
            [*command, "invoke", "read_table", '{"table": "errors"}'],
            cwd=ROOT, env=_no_stack_env(), capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert reply.returncode == 0, reply.stderr
        assert json.loads(reply.stdout)["statusCode"] == 200
        # A second stack on the same folder is refused, before touching the first one's database.
        second = subprocess.run(
            [*command, "up", "--port", str(free_port())],
            cwd=ROOT, env=_no_stack_env(), capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert second.returncode == 1
        assert second.stderr.startswith("python -m local up: a stack is already up with its settings in ")
        assert second.stderr.count("\n") == 1, second.stderr
    finally:
        code = _ctrl_c(proc)
    log = err.read_text()
    assert code == 0, log
    assert "Traceback" not in log, log
    assert log.rstrip().endswith("[local] stack stopped"), log
    assert not (state_dir / "pg" / "postmaster.pid").exists()  # PostgreSQL was stopped
    assert not (state_dir / "stack.json").exists()
    with __import__("socket").socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0  # moto was stopped


def test_ctrl_c_while_the_demo_starts_stops_everything_without_a_traceback(state_dir):
    port = free_port()
    proc, _, err = _started(state_dir, "--port", str(port), "demo")
    try:
        log = _wait_for(err, "starting PostgreSQL", proc)
        assert "starting PostgreSQL" in log, log
    finally:
        code = _ctrl_c(proc)
    log = err.read_text()
    assert code == 130, log
    assert "Traceback" not in log and "KeyboardInterrupt" not in log, log
    assert "SIGINT: stopping the stack" in log
    assert "[local] stack stopped" in log and log.rstrip().endswith("[local] interrupted"), log
    assert "every accepted event landed" not in log  # it stopped rather than ran on
    assert not (state_dir / "pg" / "postmaster.pid").exists()
    with __import__("socket").socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0


@pytest.mark.parametrize(
    ("function", "event", "expect"),
    [
        ("producers/error_source", "error_source/http_post.json", '"statusCode": 202'),
        ("error_source", "error_source/direct_invoke.json", '"rejected"'),
        ("consumers.error_sink.handler.handler", "error_sink/kinesis_plain.json", '"batchItemFailures": []'),
    ],
)
def test_invoke_runs_a_handler_on_an_event_file(local_stack, function, event, expect):
    out = subprocess.run(
        [sys.executable, "-m", "local", "invoke", function, str(ROOT / "test" / "events" / event)],
        cwd=ROOT,
        env={**os.environ, **local_stack.env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert expect in out.stdout
    json.loads(out.stdout)  # the response alone, as JSON: the function's log lines and metrics are on stderr


def _local(*args, env=None, state_dir=None, stdin=None):
    prefix = ["--state-dir", str(state_dir)] if state_dir else []
    return subprocess.run(
        [sys.executable, "-m", "local", *prefix, *args],
        cwd=ROOT,
        env=env if env is not None else _no_stack_env(),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _one_line(out, command, code, message):
    assert out.returncode == code, out.stdout + out.stderr
    assert out.stdout == ""
    assert out.stderr.startswith(f"python -m local {command}: "), out.stderr
    assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr, out.stderr
    assert message in out.stderr, out.stderr


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["invoke", "read_table", "BAD"], 2, "is not JSON: Expecting property name enclosed in double quotes"),
        (["invoke", "read_table", "missing.json"], 2, "event file missing.json does not exist: give a JSON file"),
        (["invoke", "read_table", '{"table": errors}'], 2, "the event given inline is not JSON"),
        (["invoke", "nope", "{}"], 2, "unknown function 'nope'; known: error_alert, error_sink"),
        (["invoke", "read_table", "{}"], 1, "no local stack is up"),
        (["maintain"], 1, "no local stack is up"),
        (["alerts"], 1, "start one with `make up` in another terminal"),
        (["failures", "read_table"], 2, "'read_table' has no event source mapping in pipeline.json"),
        (["logs", "missing.log"], 2, "cannot read log lines from missing.log"),
        (["redrive", "nope"], 1, "no local stack is up"),
        (["replay", "nope", "--from", "trim-horizon"], 1, "no local stack is up"),
    ],
)
def test_a_mistake_is_one_line_on_stderr_with_what_to_do(state_dir, args, code, message):
    args = [str(state_dir / "bad.json") if a == "BAD" else a for a in args]
    (state_dir / "bad.json").write_text("{bad")
    _one_line(_local(*args, state_dir=state_dir), args[0], code, message)


def test_settings_of_a_stack_that_is_gone_say_so(state_dir):
    # An up killed without its cleanup leaves stack.json behind; its endpoints no longer answer.
    port = free_port()
    (state_dir / "stack.json").write_text(json.dumps({"AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}"}))
    out = _local("invoke", "read_table", '{"table": "errors"}', state_dir=state_dir)
    _one_line(out, "invoke", 1, f"the local stack does not answer at 127.0.0.1:{port} (AWS_ENDPOINT_URL), from the")


def test_a_function_error_prints_lambdas_error_payload_and_exits_1(local_stack):
    out = _local("invoke", "error_sink", '{"Records": 5}', env={**os.environ, **local_stack.env})
    assert out.returncode == 1, out.stderr
    payload = json.loads(out.stdout)
    assert payload["errorType"] == "TypeError" and payload["stackTrace"]
    assert "consumers/error_sink" in payload["stackTrace"][0]  # from the handler's frame on, as Lambda shows it
    assert out.stderr.splitlines()[-1] == (
        "python -m local invoke: error_sink raised an error (Unhandled): TypeError: 'int' object is not subscriptable"
    )
    assert "Traceback" not in out.stderr


def _rows(local_stack, sink, n, first):
    events = [error_event(first + i) for i in range(n)]
    reply = sink(kinesis_event([(f"k{i}", wire(e)) for i, e in enumerate(events)], first_seq=first), None)
    assert reply["rowsWritten"] == n
    return sorted(e["event_id"] for e in events)


def test_invoke_all_follows_the_cursors_and_prints_every_row(local_stack, sink, db):
    ids = _rows(local_stack, sink, 5, 7100)
    env = {**os.environ, **local_stack.env}
    one = _local("invoke", "read_table", '{"table": "errors", "limit": 2}', env=env)
    assert one.returncode == 0 and len(json.loads(one.stdout)["rows"]) == 2
    every = _local("invoke", "read_table", '{"table": "errors", "limit": 2}', "--all", env=env)
    assert every.returncode == 0, every.stderr
    answer = json.loads(every.stdout)
    assert sorted(r["event_id"] for r in answer["rows"]) == ids
    assert answer["pages"] == 3 and answer["next"] is None and answer["resume"]


def _readme_block(heading):
    text = (ROOT / "README.md").read_text()
    section = text[text.index(heading) :]
    block = section[section.index("```sh\n") + 6 :]
    return block[: block.index("```")]


def test_the_readmes_paging_example_pages_as_typed(local_stack, sink, db):
    # The QA cycle as typed, by bash, against the stack. up's part, delivering the sent events to error_sink, is
    # done by draining the mapping after the line that sends them.
    if shutil.which("jq") is None:
        pytest.skip("the example reads the cursor with jq, which is not installed")
    env = {**os.environ, **local_stack.env}
    mapping = local_stack.mapping("error_sink", window_s=0.0)
    mapping.seek_to_end()
    lines = [line.split("   #")[0].strip() for line in _readme_block("### QA cycle").splitlines() if line.strip()]
    send = next(n for n, line in enumerate(lines) if "invoke error_source" in line)

    def bash(commands):
        script = "set -e\n" + "".join(f"{c}\necho @@@\n" for c in commands)
        run = subprocess.run(["bash", "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, f"{script}\n{run.stdout}\n{run.stderr}"
        return dict(zip(commands, run.stdout.split("@@@\n"), strict=False))

    sent = bash(lines[: send + 1])
    assert len(json.loads(sent[lines[send]])["accepted"]) == 5
    assert mapping.drain() > 0
    read = {c: json.loads(out) for c, out in bash(lines[send + 1 :]).items() if c.startswith(".venv")}
    first = next(r for c, r in read.items() if c.endswith('"limit": 2}\''))
    second = next(r for c, r in read.items() if "after" in c)
    every = next(r for c, r in read.items() if c.endswith("--all"))
    assert len(first["rows"]) == 2 and first["next"]
    assert len(second["rows"]) == 2 and second["rows"] != first["rows"]  # the second page, not the first again
    assert len(every["rows"]) == 5 and every["pages"] == 3
    assert [r["event_id"] for r in every["rows"][:4]] == [r["event_id"] for r in first["rows"] + second["rows"]]


def test_alerts_shows_what_error_alert_published_once(local_stack):
    env = {**os.environ, **local_stack.env}
    local_stack.read_alerts()  # whatever earlier tests left
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)  # a window no other test used
    window = {"start": start.isoformat().replace("+00:00", "Z"), "end": (start + timedelta(minutes=1)).isoformat()}
    source = f"cli-{uuid.uuid4().hex[:8]}"
    final = {"Records": [], "state": {"counts": {source: 4}}, "isFinalInvokeForWindow": True, "window": window,
             "shardId": "shardId-000000000000"}  # fmt: skip
    published = _local("invoke", "error_alert", json.dumps(final), env=env)
    assert published.returncode == 0, published.stderr
    shown = _local("alerts", env=env)
    assert shown.returncode == 0, shown.stderr
    (alert,) = json.loads(shown.stdout)
    assert alert["source"] == source and alert["count"] == 4
    assert "1 alert(s) from SNS topic 'alerts.fifo'" in shown.stderr
    again = _local("alerts", env=env)
    assert json.loads(again.stdout) == [] and "0 alert(s)" in again.stderr


def test_failures_lists_the_on_failure_records_and_leaves_them_for_redrive(local_stack, db, capsys):
    from local.__main__ import _announce_failure

    esm = local_stack.mapping("error_sink", window_s=0.0, max_retries=0, bisect=False)
    esm.seek_to_end()
    local_stack.read_failures("error_sink")  # whatever earlier tests left
    esm.handler = lambda event, context: (_ for _ in ()).throw(RuntimeError("database down"))
    esm.on_failure = _announce_failure("error_sink")  # as up, consume and replay set it
    local_stack.kinesis().put_record(StreamName="errors", PartitionKey="k", Data=b"{}")
    esm.drain()
    announced = capsys.readouterr().err
    assert "error_sink: 1 record(s) of shardId-" in announced and "skipped (RetryAttemptsExhausted)" in announced
    assert "python -m local failures error_sink lists it" in announced
    env = {**os.environ, **local_stack.env}
    for _ in range(2):  # listing takes nothing off the queue
        out = _local("failures", "error_sink", env=env)
        assert out.returncode == 0, out.stderr
        (record,) = json.loads(out.stdout)["error_sink-errors-failures"]
        assert record["requestContext"]["condition"] == "RetryAttemptsExhausted"
        assert "error_sink-errors-failures: 1 on-failure record(s), left in the queue" in out.stderr
    assert len(local_stack.read_failures("error_sink")) == 1


def test_make_up_passes_port_to_the_stack():
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    out = subprocess.run(["make", "-n", "up", "PORT=4600"], cwd=ROOT, capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert "-m local up --port 4600" in out.stdout
    plain = subprocess.run(["make", "-n", "up"], cwd=ROOT, capture_output=True, text=True, check=False)
    assert "-m local up" in plain.stdout and "--port" not in plain.stdout
