"""local/cli.py: what `python -m local invoke` and `python -m tools.invoke` share, without a stack or AWS."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import pytest

from local import cli
from local.stack import ROOT


def test_an_event_is_inline_json_a_file_or_stdin(tmp_path):
    path = tmp_path / "event.json"
    path.write_text('{"table": "errors"}')
    assert cli.load_event('{"table": "errors"}') == {"table": "errors"}
    assert cli.load_event(str(path)) == {"table": "errors"}
    assert cli.load_event("-", stdin=io.StringIO("[1, 2]")) == [1, 2]


@pytest.mark.parametrize(
    ("argument", "message"),
    [
        ("missing.json", "event file missing.json does not exist: give a JSON file, or the JSON itself in quotes"),
        ('{"table": errors}', "the event given inline is not JSON: Expecting value at line 1 column 11"),
        ("BAD", "is not JSON: Expecting property name enclosed in double quotes at line 1 column 2"),
    ],
)
def test_an_event_that_cannot_be_read_is_one_reason_and_exit_2(tmp_path, argument, message):
    if argument == "BAD":
        argument = str(tmp_path / "bad.json")
        (tmp_path / "bad.json").write_text("{bad")
    with pytest.raises(cli.CliError) as err:
        cli.load_event(argument)
    assert err.value.code == cli.EXIT_USAGE
    assert message in str(err.value)


def _pages(table_rows, limit):
    """A read_table stand-in: pages of ``limit`` rows with a ``next`` cursor (the offset, as text)."""
    calls = []

    def invoke(event):
        calls.append(event)
        start = int(event.get("after", "0"))
        rows = table_rows[start : start + limit]
        more = start + limit < len(table_rows)
        return {"statusCode": 200, "rows": rows, "next": str(start + limit) if more else None, "resume": "r"}, None

    return invoke, calls


def test_all_follows_next_until_it_is_null_and_answers_every_row():
    invoke, calls = _pages(list(range(5)), 2)
    payload, error = cli.follow_pages(invoke, {"table": "errors", "limit": 2})
    assert error is None
    assert payload["rows"] == [0, 1, 2, 3, 4] and payload["pages"] == 3 and payload["next"] is None
    assert [c.get("after") for c in calls] == [None, "2", "4"]
    assert all(c["limit"] == 2 and c["table"] == "errors" for c in calls)


def test_all_answers_a_response_without_rows_as_it_came():
    summary = {"statusCode": 200, "summary": {"total": 3}}
    assert cli.follow_pages(lambda e: (summary, None), {"summary": True}) == (summary, None)
    refused = {"statusCode": 400, "error": "bad cursor"}
    assert cli.follow_pages(lambda e: (refused, None), {"after": "x"}) == (refused, None)


def test_all_stops_on_a_cursor_that_does_not_move():
    stuck = {"statusCode": 200, "rows": [1], "next": "same"}
    with pytest.raises(cli.CliError, match="handed back the cursor it was given"):
        cli.follow_pages(lambda e: (stuck, None), {"after": "same"})


def test_a_function_error_prints_lambdas_payload_and_fails(capsys):
    error = {"errorType": "RuntimeError", "errorMessage": "database down"}
    with pytest.raises(cli.CliError) as err:
        cli.run_invoke("error_sink", {}, lambda e: (error, "Unhandled"))
    assert err.value.code == cli.EXIT_FAILED
    assert str(err.value) == "error_sink raised an error (Unhandled): RuntimeError: database down"
    assert json.loads(capsys.readouterr().out) == error


def test_an_error_status_fails_only_when_asked(capsys):
    refused = {"statusCode": 403, "error": "disabled in stage 'prod'"}
    assert cli.run_invoke("reset_table", {}, lambda e: (refused, None)) == 0
    with pytest.raises(cli.CliError, match="reset_table answered 403: disabled in stage 'prod'"):
        cli.run_invoke("reset_table", {}, lambda e: (refused, None), fail_on_status=True)
    assert capsys.readouterr().out.count('"statusCode": 403') == 2  # printed both times


def test_scripts_invoke_shares_the_parsing_and_refuses_bad_json_before_calling_aws(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{bad")
    out = subprocess.run(
        [sys.executable, "-m", "tools.invoke", "event-pipeline-qa-read_table", str(bad), "--all"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 2, out.stderr
    assert out.stdout == ""
    assert out.stderr.startswith("invoke: error: event file ") and out.stderr.count("\n") == 1, out.stderr
    assert "Traceback" not in out.stderr


def test_scripts_invoke_follows_pages_through_its_lambda_client(monkeypatch, capsys):
    from tools import invoke as aws

    pages = {None: {"rows": [1, 2], "next": "c1"}, "c1": {"rows": [3], "next": None}}

    class Lambda:
        def invoke(self, FunctionName, Payload):
            page = pages[json.loads(Payload).get("after")]
            return {"Payload": io.BytesIO(json.dumps({"statusCode": 200, **page}).encode())}

    monkeypatch.setattr(aws, "lambda_client", lambda region=None: Lambda())
    assert aws.main(["event-pipeline-qa-read_table", '{"table": "errors"}', "--all"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["rows"] == [1, 2, 3] and answer["pages"] == 2
