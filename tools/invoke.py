"""Invoke a deployed Lambda function and fail loudly: ``python -m tools.invoke NAME [EVENT]``.

The deploy jobs use it to run ``migrate`` after every apply; the smoke test uses ``invoke_function``.
Its arguments, event loading, ``--all`` paging and printing are ``python -m local invoke``'s (local/cli.py): the
response on stdout, one line on stderr when something is wrong. A call that fails, a function error, or a response
whose ``statusCode`` is 400 or more exits 1; an event file that is missing or not JSON exits 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from local import cli

__all__ = ["InvokeError", "call", "check_status", "invoke_function", "lambda_client"]


class InvokeError(Exception):
    """A function could not be invoked, raised, or answered with an error status."""


def lambda_client(region: str | None = None) -> Any:
    """A Lambda client that waits out migrate (up to 5 minutes); it retries throttling and transient errors
    only, which is safe because every function here is idempotent."""
    import boto3
    from botocore.config import Config

    config = Config(connect_timeout=10, read_timeout=330, retries={"mode": "standard", "max_attempts": 3})
    return boto3.client("lambda", region_name=region, config=config)


def call(client: Any, name: str, event: Any) -> tuple[Any, str | None]:
    """One RequestResponse invoke: (the decoded response, Lambda's FunctionError or None); InvokeError when the
    call itself fails or the answer is not JSON."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        response = client.invoke(FunctionName=name, Payload=json.dumps(event).encode("utf-8"))
        raw = response["Payload"].read()
    except (BotoCoreError, ClientError) as e:
        raise InvokeError(f"invoking {name} failed: {e}") from e
    try:
        payload = json.loads(raw) if raw else None
    except ValueError as e:
        raise InvokeError(f"{name} answered with something that is not JSON: {raw[:200]!r}") from e
    return payload, response.get("FunctionError")


def invoke_function(client: Any, name: str, event: Any) -> Any:
    """The function's decoded response; InvokeError when the call fails or the function raised."""
    payload, error = call(client, name, event)
    if error:
        detail = f"{payload.get('errorType')}: {payload.get('errorMessage')}" if isinstance(payload, dict) else payload
        raise InvokeError(f"{name} raised an error ({error}): {detail}")
    return payload


def check_status(name: str, payload: Any) -> Any:
    """``payload`` when it carries no error status (our functions answer ``{"statusCode": ...}``)."""
    status = payload.get("statusCode") if isinstance(payload, dict) else None
    if isinstance(status, int) and status >= 400:
        raise InvokeError(f"{name} answered {status}: {json.dumps(payload)[:500]}")
    return payload


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.invoke", description=__doc__.split("\n\n")[0])
    cli.add_invoke_arguments(parser, function_help="the function's name, e.g. event-pipeline-qa-migrate")
    parser.add_argument("--region", help="AWS region (default: AWS_REGION / the AWS CLI configuration)")
    args = parser.parse_args(argv)
    try:
        from botocore.exceptions import BotoCoreError
    except ImportError:
        print(f"{parser.prog}: botocore is not installed here: run it with .venv/bin/python", file=sys.stderr)
        return 1

    try:
        event = cli.load_event(args.event)
        client = lambda_client(args.region)
        return cli.run_invoke(
            args.function,
            event,
            lambda payload: call(client, args.function, payload),
            all_pages=args.all_pages,
            fail_on_status=True,
        )
    except cli.CliError as e:
        print(f"invoke: error: {e}", file=sys.stderr)
        return e.code
    except (InvokeError, BotoCoreError) as e:  # BotoCoreError: no region or credentials, before any call
        print(f"invoke: error: {e}", file=sys.stderr)
        return cli.EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
