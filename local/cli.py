"""What invoking locally (``python -m local invoke``) and on AWS (``python -m tools.invoke``) share.

The arguments (a function, an event, ``--all``), reading the event, following ``read_table``'s cursors, printing
the response and the exit status. Both commands parse the same way and answer the same way: the response alone on
stdout (so ``| jq`` works), one line on stderr when something is wrong, and

- exit 2 when what was typed is wrong: a missing file, an event that is not JSON, an unknown function;
- exit 1 when the invocation failed: the function raised (Lambda's FunctionError) or could not be reached, and,
  with ``fail_on_status`` (``tools.invoke``, whose caller is the deploy job), when it answered a ``statusCode`` of
  400 or more.

Standard library only: ``tools/invoke.py`` imports it without the local stack's dependencies.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

__all__ = [
    "EXIT_FAILED",
    "EXIT_USAGE",
    "CliError",
    "Invoke",
    "add_invoke_arguments",
    "follow_pages",
    "load_event",
    "print_response",
    "run_invoke",
]

EXIT_FAILED = 1  # the command ran and failed
EXIT_USAGE = 2  # what was typed is wrong (argparse uses 2 too)

# An invocation: the event in, (the response payload, Lambda's FunctionError or None) out.
Invoke = Callable[[Any], tuple[Any, str | None]]

EXAMPLE = '\'{"table": "errors"}\''


class CliError(Exception):
    """A one-line reason for the user, and the exit status that goes with it."""

    def __init__(self, message: str, code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.code = code


def add_invoke_arguments(parser: argparse.ArgumentParser, *, function_help: str) -> None:
    parser.add_argument("function", help=function_help)
    parser.add_argument(
        "event",
        nargs="?",
        default="{}",
        help=f"the event: inline JSON ({EXAMPLE}), a JSON file, or - for stdin (default: {{}})",
    )
    parser.add_argument(
        "--all",
        dest="all_pages",
        action="store_true",
        help="follow the response's `next` cursor (read_table) and print every page's rows as one response",
    )


def load_event(argument: str, stdin: TextIO | None = None) -> Any:
    """The event an argument names: inline JSON, a file, or ``-`` (stdin). CliError (exit 2) saying what to fix."""
    if argument == "-":
        text, where = (stdin or sys.stdin).read(), "the event read from stdin"
    elif argument.lstrip()[:1] in ("{", "[", '"') or argument.strip() in ("", "null", "true", "false"):
        text, where = argument, "the event given inline"
    else:
        path = Path(argument)
        if not path.is_file():
            what = "is a folder" if path.is_dir() else "does not exist"
            raise CliError(
                f"event file {argument} {what}: give a JSON file, or the JSON itself in quotes ({EXAMPLE})", EXIT_USAGE
            )
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise CliError(f"cannot read event file {argument}: {e}", EXIT_USAGE) from None
        where = f"event file {argument}"
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise CliError(f"{where} is not JSON: {e.msg} at line {e.lineno} column {e.colno}", EXIT_USAGE) from None


def _status(payload: Any) -> int | None:
    status = payload.get("statusCode") if isinstance(payload, dict) else None
    return status if isinstance(status, int) else None


def follow_pages(invoke: Invoke, event: Any) -> tuple[Any, str | None]:
    """Invoke with ``event``, then again with ``"after": next`` while the response has a ``next`` cursor.

    Answers the last page's response with the rows of every page and ``"pages"``; a response without ``rows`` (a
    summary, an error) is answered as it came. A page that fails ends the walk with that page's answer.
    """
    if not isinstance(event, dict):
        raise CliError("--all needs an event that is a JSON object", EXIT_USAGE)
    rows: list[Any] = []
    pages = 0
    current = dict(event)
    while True:
        payload, error = invoke(current)
        status = _status(payload)
        if error or not isinstance(payload, dict) or not isinstance(payload.get("rows"), list):
            return payload, error
        if status is not None and status >= 400:
            return payload, error
        rows.extend(payload["rows"])
        pages += 1
        cursor = payload.get("next")
        if not cursor:
            return {**payload, "rows": rows, "pages": pages}, None
        if cursor == current.get("after"):
            raise CliError(f"page {pages} handed back the cursor it was given; stopping rather than loop")
        current = {**current, "after": cursor}


def print_response(payload: Any, out: TextIO | None = None) -> None:
    print(json.dumps(payload, indent=2, default=str), file=out or sys.stdout, flush=True)


def run_invoke(name: str, event: Any, invoke: Invoke, *, all_pages: bool = False, fail_on_status: bool = False) -> int:
    """Invoke, print the response on stdout; CliError (exit 1) when the function raised, or with ``fail_on_status``
    answered an error status."""
    payload, error = follow_pages(invoke, event) if all_pages else invoke(event)
    print_response(payload)
    if error:
        detail = f"{payload.get('errorType')}: {payload.get('errorMessage')}" if isinstance(payload, dict) else payload
        raise CliError(f"{name} raised an error ({error}): {detail}")
    status = _status(payload)
    if fail_on_status and status is not None and status >= 400:
        reason = payload.get("error") if isinstance(payload, dict) else None
        raise CliError(f"{name} answered {status}" + (f": {reason}" if reason else ""))
    return 0
