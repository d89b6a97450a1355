#!/usr/bin/env bash
# Uploads a built zip to an existing Lambda function by hand; Terraform does it otherwise.
set -Eeuo pipefail

ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
readonly ROOT

usage() {
  cat <<'EOF'
Usage: ./deploy.sh [--force] NAME STAGE

Uploads target/NAME.zip (made by ./build.sh NAME) to the existing Lambda function
${PROJECT:-event-pipeline}-STAGE-NAME, for example event-pipeline-qa-error_source, with
UpdateFunctionCode, waits until the update is Successful and the function Active, and checks that
the CodeSha256 Lambda reports is the zip's. Before uploading it checks that the function's handler,
runtime and architecture are the ones in target/NAME.json.

Options:
  --force     upload even when handler, runtime or architecture differ from target/NAME.json
  -h, --help  show this text

Environment:
  AWS credentials and region as for the AWS CLI (AWS_PROFILE, AWS_REGION, ...)
  AWS_ENDPOINT_URL   a local endpoint instead of AWS (for example a moto server)
  PROJECT            function name prefix (default: event-pipeline)
  TARGET_DIR         where the zips are (default: target/)
  PYTHON             interpreter with boto3 installed (default: python3)

Example:
  ./build.sh error_source ./producers/error_source && ./deploy.sh error_source qa
EOF
}

die() {
  printf 'deploy.sh: error: %s\n' "$*" >&2
  exit 1
}

usage_error() {
  printf 'deploy.sh: %s\n\n' "$*" >&2
  usage >&2
  exit 2
}

force=0
positional=()
while (($#)); do
  case $1 in
    -h | --help) usage; exit 0 ;;
    --force) force=1 ;;
    --) shift; positional+=("$@"); break ;;
    -*) usage_error "unknown option: $1" ;;
    *) positional+=("$1") ;;
  esac
  shift
done
((${#positional[@]} == 2)) || usage_error "expected NAME and STAGE"
name=${positional[0]}
stage=${positional[1]}
[[ $name =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || usage_error "invalid name '$name': a function folder name, like error_source"
[[ $stage =~ ^[a-z0-9][a-z0-9-]*$ ]] || usage_error "invalid stage '$stage': lower-case letters, digits and dashes, like qa"

target=${TARGET_DIR:-$ROOT/target}
zip=$target/$name.zip
manifest=$target/$name.json
[[ -f $zip ]] || die "$zip not found: build it first with ./build.sh $name"
[[ -f $manifest ]] || die "$manifest not found: rebuild with ./build.sh $name"
function_name=${PROJECT:-event-pipeline}-$stage-$name
python=${PYTHON:-python3}
"$python" -c 'import boto3' 2>/dev/null \
  || die "$python cannot import boto3: install the dev requirements (pip install -r requirements-dev.txt) or set PYTHON"

exec "$python" - "$function_name" "$zip" "$manifest" "$force" <<'PY'
import base64
import hashlib
import json
import os
import sys

import boto3
import botocore.exceptions

function_name, zip_path, manifest_path, force = sys.argv[1:]


def fail(message: str) -> None:
    print(f"deploy.sh: error: {message}", file=sys.stderr)
    sys.exit(1)


with open(zip_path, "rb") as f:
    data = f.read()
digest = hashlib.sha256(data).digest()
code_sha256 = base64.b64encode(digest).decode("ascii")
with open(manifest_path, encoding="utf-8") as f:
    manifest = json.load(f)
if manifest.get("sha256") != digest.hex():
    fail(f"{zip_path} does not match {manifest_path} (changed after the build?): rebuild it with build.sh")

try:
    # boto3 reads AWS_ENDPOINT_URL and AWS_DEFAULT_REGION itself; AWS_REGION is what Lambda and
    # the local stack set, so it counts too.
    client = boto3.client("lambda", region_name=os.environ.get("AWS_REGION") or None)
    config = client.get_function_configuration(FunctionName=function_name)
except botocore.exceptions.ClientError as e:
    if e.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
        fail(f"there is no Lambda function {function_name} in this account and region: create it with Terraform first")
    fail(f"could not read {function_name}: {e}")
except botocore.exceptions.BotoCoreError as e:
    fail(f"could not reach Lambda: {e}")

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
mismatches = [
    f"{key} is {actual[key]} there, {expected[key]} in the zip" for key in expected if expected[key] != actual[key]
]
if mismatches and force != "1":
    fail(f"{function_name} does not fit this zip: {'; '.join(mismatches)} (--force uploads anyway)")

waiter_config = {"Delay": 2, "MaxAttempts": 150}
try:
    if config.get("CodeSha256") == code_sha256:
        print(f"deploy.sh: {function_name} already runs this zip (CodeSha256 {code_sha256}); nothing to do")
        sys.exit(0)
    # An update still in progress (from Terraform, say) would make ours fail with a conflict.
    client.get_waiter("function_updated").wait(FunctionName=function_name, WaiterConfig=waiter_config)
    print(f"deploy.sh: uploading {zip_path} ({len(data)} bytes) to {function_name}")
    client.update_function_code(FunctionName=function_name, ZipFile=data)
    client.get_waiter("function_updated").wait(FunctionName=function_name, WaiterConfig=waiter_config)
    client.get_waiter("function_active").wait(FunctionName=function_name, WaiterConfig=waiter_config)
    config = client.get_function_configuration(FunctionName=function_name)
except botocore.exceptions.WaiterError as e:
    reason = (e.last_response or {}).get("LastUpdateStatusReason", "")
    fail(f"{function_name} did not finish updating: {e} {reason}".strip())
except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
    fail(f"uploading to {function_name} failed: {e}")

if config.get("CodeSha256") != code_sha256:
    fail(f"{function_name} reports CodeSha256 {config.get('CodeSha256')}, but the zip's is {code_sha256}")
print(
    f"deploy.sh: {function_name} updated: CodeSha256 {code_sha256}, "
    f"LastUpdateStatus {config.get('LastUpdateStatus')}, State {config.get('State')}"
)
PY
