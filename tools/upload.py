"""Upload one built zip to an existing Lambda function by hand: ``make upload NAME=error_source STAGE=qa``.

Uploads target/NAME.zip (made by ./build.sh NAME) to ${PROJECT:-event-pipeline}-STAGE-NAME with
UpdateFunctionCode, waits until the update is Successful and the function Active, and checks that the
CodeSha256 Lambda reports is the zip's. Before uploading it checks that the zip is the one its manifest
describes, that a database function's zip carries the RDS CA bundle, and that the function's handler,
runtime and architecture are the ones in target/NAME.json (FORCE=1, or --force, uploads anyway).
Terraform (make deploy STAGE=...) does all of this for every function; this is for one function, by hand.

Environment: AWS credentials and region as for the AWS CLI (AWS_PROFILE, AWS_REGION, ...);
AWS_ENDPOINT_URL (a local endpoint, such as a moto server); PROJECT (function name prefix,
default event-pipeline); TARGET_DIR (where the zips are, default target/).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import re
import sys
import zipfile
from pathlib import Path
from typing import Any, NoReturn

from tools import ca_bundle, lambda_zip

__all__ = ["main"]

ROOT = Path(__file__).resolve().parent.parent
RDS_CA_BUNDLE = ca_bundle.PATH
WAITER = {"Delay": 2, "MaxAttempts": 150}


class UploadError(Exception):
    """The upload cannot go on; the message says why."""


def say(message: str) -> None:
    print(f"upload: {message}", flush=True)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="make upload NAME=name STAGE=stage [FORCE=1]   (python -m tools.upload)",
        usage="make upload NAME=name STAGE=stage [FORCE=1]",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("name", help="a function pipeline.json lists, like error_source")
    parser.add_argument("stage", help="the stage it is deployed in, like qa")
    parser.add_argument("--force", action="store_true", help="upload even when handler, runtime or architecture differ")
    return parser


def _usage_error(parser: argparse.ArgumentParser, message: str) -> NoReturn:
    parser.print_usage(sys.stderr)
    print(f"upload: {message}", file=sys.stderr)
    sys.exit(2)


def is_database_function(name: str, root: Path = ROOT) -> bool:
    """Whether pipeline.json says ``name`` reaches the database; an unreadable manifest or an unknown name is
    refused rather than taken as "no", which would skip the CA bundle's check."""
    try:
        functions = lambda_zip.read_manifest(root)["functions"]
    except lambda_zip.BuildError as e:
        raise UploadError(str(e)) from None
    if name not in functions:
        raise UploadError(f"{name} is not a function of {root / lambda_zip.MANIFEST}")
    return bool(functions[name].get("database"))


def check_zip(name: str, zip_path: Path, manifest_path: Path) -> tuple[bytes, dict[str, Any]]:
    """The zip's bytes and its manifest, once both say they are the build's and the zip can be shipped."""
    if not zip_path.is_file():
        raise UploadError(f"{zip_path} not found: build it first with ./build.sh {name}")
    if not manifest_path.is_file():
        raise UploadError(f"{manifest_path} not found: rebuild with ./build.sh {name}")
    data = zip_path.read_bytes()
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    if manifest.get("sha256") != hashlib.sha256(data).hexdigest():
        raise UploadError(f"{zip_path} does not match {manifest_path} (changed after the build?): rebuild it")
    if is_database_function(name):
        with zipfile.ZipFile(zip_path) as zf:
            wrong = ca_bundle.problem(zf.read(RDS_CA_BUNDLE)) if RDS_CA_BUNDLE in zf.namelist() else "is missing"
        if wrong is not None:
            raise UploadError(
                f"{zip_path}: its {RDS_CA_BUNDLE} {wrong}, and {name} cannot verify the database without it: "
                f"run `make rds-ca`, then ./build.sh {name}"
            )
    return data, manifest


def upload(client: Any, function_name: str, data: bytes, manifest: dict[str, Any], *, force: bool) -> None:
    from botocore.exceptions import BotoCoreError, ClientError, WaiterError

    code_sha256 = base64.b64encode(hashlib.sha256(data).digest()).decode("ascii")
    try:
        config = client.get_function_configuration(FunctionName=function_name)
    except ClientError as e:
        if e.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            raise UploadError(
                f"there is no Lambda function {function_name} in this account and region: deploy the stage "
                '(make deploy STAGE=...), or create the function once by hand (README, "One function by hand to QA")'
            ) from None
        raise UploadError(f"could not read {function_name}: {e}") from None
    except BotoCoreError as e:
        raise UploadError(f"could not reach Lambda: {e}") from None

    expected = {
        "Handler": manifest.get("handler"),
        "Runtime": manifest.get("runtime"),
        "Architecture": manifest.get("architecture"),
    }
    actual = {
        "Handler": config.get("Handler"),
        "Runtime": config.get("Runtime"),
        "Architecture": (config.get("Architectures") or ["x86_64"])[0],
    }
    mismatches = [f"{k} is {actual[k]} there, {expected[k]} in the zip" for k in expected if expected[k] != actual[k]]
    if mismatches and not force:
        raise UploadError(f"{function_name} does not fit this zip: {'; '.join(mismatches)} (FORCE=1 uploads anyway)")

    try:
        if config.get("CodeSha256") == code_sha256:
            say(f"{function_name} already runs this zip (CodeSha256 {code_sha256}); nothing to do")
            return
        # An update still in progress (from Terraform, say) would make ours fail with a conflict.
        client.get_waiter("function_updated").wait(FunctionName=function_name, WaiterConfig=WAITER)
        say(f"uploading {len(data)} bytes to {function_name}")
        client.update_function_code(FunctionName=function_name, ZipFile=data)
        client.get_waiter("function_updated").wait(FunctionName=function_name, WaiterConfig=WAITER)
        client.get_waiter("function_active").wait(FunctionName=function_name, WaiterConfig=WAITER)
        config = client.get_function_configuration(FunctionName=function_name)
    except WaiterError as e:
        reason = (e.last_response or {}).get("LastUpdateStatusReason", "")
        raise UploadError(f"{function_name} did not finish updating: {e} {reason}".strip()) from None
    except (ClientError, BotoCoreError) as e:
        raise UploadError(f"uploading to {function_name} failed: {e}") from None

    if config.get("CodeSha256") != code_sha256:
        raise UploadError(
            f"{function_name} reports CodeSha256 {config.get('CodeSha256')}, but the zip's is {code_sha256}"
        )
    say(
        f"{function_name} updated: CodeSha256 {code_sha256}, "
        f"LastUpdateStatus {config.get('LastUpdateStatus')}, State {config.get('State')}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", args.name):
        _usage_error(parser, f"invalid name '{args.name}': a function folder name, like error_source")
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", args.stage):
        _usage_error(parser, f"invalid stage '{args.stage}': lower-case letters, digits and dashes, like qa")
    target = Path(os.environ.get("TARGET_DIR") or ROOT / "target")
    function_name = f"{os.environ.get('PROJECT') or 'event-pipeline'}-{args.stage}-{args.name}"
    try:
        data, manifest = check_zip(args.name, target / f"{args.name}.zip", target / f"{args.name}.json")
        import boto3

        # boto3 reads AWS_ENDPOINT_URL and AWS_DEFAULT_REGION itself; AWS_REGION is what Lambda and the local stack
        # set, so it counts too.
        client = boto3.client("lambda", region_name=os.environ.get("AWS_REGION") or None)
        upload(client, function_name, data, manifest, force=args.force)
    except UploadError as e:
        print(f"upload: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
