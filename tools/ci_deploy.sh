#!/usr/bin/env bash
# A deploy job: role credentials from the job's OIDC token, terraform apply on the built zips,
# migrate, smoke test. Developers run the same with their own credentials: make deploy STAGE=qa.
set -Eeuo pipefail

ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
readonly ROOT

usage() {
  cat <<'USAGE'
Usage: tools/ci_deploy.sh STAGE

Deploys the zips in target/ (./build.sh --all, or the build job's artifacts; never rebuilt here) to
STAGE (qa or prod):
  1. credentials: with GITLAB_OIDC_TOKEN set (a GitLab job's id_tokens), the AWS SDKs in boto3 and
     Terraform exchange it for AWS_ROLE_ARN's credentials (sts:AssumeRoleWithWebIdentity); otherwise
     the usual AWS CLI credentials (AWS_PROFILE, ...). The identity is printed before anything changes.
  2. tools/ci_terraform.sh apply STAGE: terraform apply with environments/STAGE.tfvars
  3. invoke ${PROJECT}-STAGE-migrate, which must answer 200
  4. smoke test: python -m tools.smoke_test --stage STAGE (in prod: --read-only, nothing written)

Environment:
  GITLAB_OIDC_TOKEN  a GitLab ID token (the deploy jobs' id_tokens); needs AWS_ROLE_ARN
  AWS_ROLE_ARN       the role to assume with it (CI: AWS_ROLE_ARN_QA / AWS_ROLE_ARN_PROD)
  AWS_REGION         region (default: eu-west-1)
  TF_STATE_BUCKET    remote state, see tools/ci_terraform.sh --help
  PROJECT            function name prefix (default: event-pipeline)
  PYTHON             interpreter with boto3 (default: .venv/bin/python, else python3)
USAGE
}

die() {
  printf 'ci_deploy.sh: error: %s\n' "$*" >&2
  exit 1
}

note() {
  printf 'ci_deploy.sh: %s\n' "$*" >&2
}

case ${1:-} in
  -h | --help) usage; exit 0 ;;
  qa | prod) stage=$1 ;;
  "") printf 'ci_deploy.sh: missing STAGE\n\n' >&2; usage >&2; exit 2 ;;
  *) printf 'ci_deploy.sh: unknown stage %s: qa or prod\n\n' "$1" >&2; usage >&2; exit 2 ;;
esac
(($# == 1)) || { printf 'ci_deploy.sh: too many arguments\n\n' >&2; usage >&2; exit 2; }

cd "$ROOT"
export AWS_REGION=${AWS_REGION:-eu-west-1}
export AWS_DEFAULT_REGION=${AWS_DEFAULT_REGION:-$AWS_REGION} # the name boto3 reads
project=${PROJECT:-event-pipeline}
python=${PYTHON:-}
if [[ -z $python ]]; then
  if [[ -x $ROOT/.venv/bin/python ]]; then python=$ROOT/.venv/bin/python; else python=python3; fi
fi
"$python" -c 'import boto3' 2>/dev/null || die "$python cannot import boto3: run make setup, or set PYTHON"

# 1. Credentials. The token goes to a file only this user can read, and the SDKs do the exchange (and
# refresh it for a long apply); no key is ever written or printed.
if [[ -n ${GITLAB_OIDC_TOKEN:-} ]]; then
  [[ -n ${AWS_ROLE_ARN:-} ]] \
    || die "GITLAB_OIDC_TOKEN is set but AWS_ROLE_ARN is empty: set the CI/CD variable AWS_ROLE_ARN_${stage^^}"
  token_dir=$(mktemp -d)
  trap 'rm -rf "$token_dir"' EXIT
  (umask 077 && printf '%s' "$GITLAB_OIDC_TOKEN" >"$token_dir/token")
  unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_PROFILE
  export AWS_WEB_IDENTITY_TOKEN_FILE=$token_dir/token
  export AWS_ROLE_SESSION_NAME="gitlab-${CI_PROJECT_ID:-0}-${CI_PIPELINE_ID:-0}-${CI_JOB_ID:-0}"
elif [[ ${GITLAB_CI:-} == true ]]; then
  die "no GITLAB_OIDC_TOKEN in this GitLab job: the deploy jobs need id_tokens (see .gitlab-ci.yml)"
fi
"$python" - "$stage" <<'PY' || die "no usable AWS credentials (see above); nothing was changed"
import sys

import boto3
import botocore.exceptions

try:
    identity = boto3.client("sts").get_caller_identity()
except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:
    print(f"ci_deploy.sh: could not get AWS credentials: {e}", file=sys.stderr)
    sys.exit(1)
print(f"ci_deploy.sh: deploying {sys.argv[1]} as {identity['Arn']} (account {identity['Account']})", file=sys.stderr)
PY

# 2. Infrastructure and code, from the built zips.
"$ROOT/tools/ci_terraform.sh" apply "$stage"

# 3. Schema. migrate runs alone (reserved concurrency 1) and is idempotent.
note "invoking $project-$stage-migrate"
"$python" -m tools.invoke "$project-$stage-migrate" '{}'

# 4. Smoke test: events end to end in QA; in production only a read, so no test rows land there.
smoke=(--stage "$stage" --project "$project" --region "$AWS_REGION")
[[ $stage == prod ]] && smoke+=(--read-only)
"$python" -m tools.smoke_test "${smoke[@]}"
note "$stage deployed"
