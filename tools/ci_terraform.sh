#!/usr/bin/env bash
# Terraform for CI and developers alike: static checks, and plan/apply of one stage on the built zips.
set -Eeuo pipefail

ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
readonly ROOT
readonly TF_DIR=$ROOT/terraform

usage() {
  cat <<'USAGE'
Usage: tools/ci_terraform.sh validate
       tools/ci_terraform.sh checkov
       tools/ci_terraform.sh plan STAGE
       tools/ci_terraform.sh apply STAGE
       tools/ci_terraform.sh output STAGE [NAME]

validate     terraform fmt -check, init -backend=false, validate (offline with a provider mirror; make check)
checkov      checkov on the defaults and on environments/prod.tfvars (checkov from $CHECKOV, PATH or
             .cache/checkov-venv: make checkov; make tf-check)
plan STAGE   init with the stage's remote state, then plan environments/STAGE.tfvars on the zips in
             target/ (./build.sh --all) into .cache/terraform/STAGE.tfplan
apply STAGE  plan as above, then apply exactly that plan
output STAGE terraform output -json [NAME] of the stage's state

Remote state, first that applies:
  terraform/environments/backend-STAGE.hcl     (from environments/backend.hcl.example)
  TF_STATE_BUCKET [TF_STATE_REGION]            S3 key event-pipeline/STAGE/terraform.tfstate, S3 lock file
  TF_LOCAL_STATE=1                             local state, for a rehearsal against a moto server
Either of the first two copies environments/backend_override.tf.example to terraform/backend_override.tf.

Environment:
  AWS_REGION          region to deploy to (default: eu-west-1); credentials as for the AWS CLI
  TF_PLUGIN_MIRROR    a provider mirror folder, used when it exists (default: /opt/tf-plugins)
  TF_PLUGIN_CACHE_DIR provider cache (CI sets .cache/terraform/plugins)
USAGE
}

die() {
  printf 'ci_terraform.sh: error: %s\n' "$*" >&2
  exit 1
}

usage_error() {
  printf 'ci_terraform.sh: %s\n\n' "$*" >&2
  usage >&2
  exit 2
}

note() {
  printf 'ci_terraform.sh: %s\n' "$*" >&2
}

case ${1:-} in -h | --help) usage; exit 0 ;; esac
command -v terraform >/dev/null 2>&1 \
  || die "terraform is not on PATH: install it (tools/install_terraform.sh does, as root)"
export TF_IN_AUTOMATION=1 TF_INPUT=0 CHECKPOINT_DISABLE=1
mkdir -p "$ROOT/.cache/terraform"
if [[ -n ${TF_PLUGIN_CACHE_DIR:-} ]]; then
  # The physical path: Terraform links providers into its data folder from here, and a link made
  # through a linked .cache (a CI cache, gitlab-ci-local's test checkout) would outlive its target.
  mkdir -p "$TF_PLUGIN_CACHE_DIR"
  TF_PLUGIN_CACHE_DIR=$(cd -- "$TF_PLUGIN_CACHE_DIR" && pwd -P)
  export TF_PLUGIN_CACHE_DIR
fi

# Where providers cannot be downloaded (this project's sandboxes), a local mirror stands in; a CLI
# config that the environment names and that exists always wins.
mirror=${TF_PLUGIN_MIRROR:-/opt/tf-plugins}
if [[ -d $mirror && ! -f ${TF_CLI_CONFIG_FILE:-/nonexistent} ]]; then
  export TF_CLI_CONFIG_FILE=$ROOT/.cache/terraform/mirror.tfrc
  cat >"$TF_CLI_CONFIG_FILE" <<CONFIG
provider_installation {
  filesystem_mirror {
    path    = "$mirror"
    include = ["registry.terraform.io/hashicorp/*"]
  }
  direct {
    exclude = ["registry.terraform.io/hashicorp/*"]
  }
}
CONFIG
fi

tf() {
  terraform -chdir="$TF_DIR" "$@"
}

find_checkov() {
  local candidate
  for candidate in "${CHECKOV:-}" "$(command -v checkov || true)" "$ROOT/.cache/checkov-venv/bin/checkov"; do
    if [[ -n $candidate && -x $candidate ]]; then
      printf '%s\n' "$candidate"
      return 0
    fi
  done
  return 1
}

validate() {
  export TF_DATA_DIR=$ROOT/.cache/terraform/data-check
  note "terraform fmt -check"
  tf fmt -check -recursive -diff
  note "terraform init -backend=false, validate"
  tf init -backend=false -lockfile=readonly -no-color >/dev/null
  tf validate -no-color
}

run_checkov() {
  local checkov
  checkov=$(find_checkov) || die "checkov not found: make checkov installs it into .cache/checkov-venv (or set CHECKOV)"
  note "checkov (defaults)"
  "$checkov" -d "$TF_DIR" --framework terraform --skip-download --quiet --compact
  note "checkov (environments/prod.tfvars)"
  "$checkov" -d "$TF_DIR" --framework terraform --skip-download --quiet --compact \
    --var-file "$TF_DIR/environments/prod.tfvars"
}

init_stage() { # STAGE
  local stage=$1 args=(-input=false -lockfile=readonly -no-color -reconfigure)
  [[ -f $TF_DIR/environments/$stage.tfvars ]] || die "no terraform/environments/$stage.tfvars"
  export TF_DATA_DIR=$ROOT/.cache/terraform/data-$stage
  if [[ -f $TF_DIR/environments/backend-$stage.hcl ]]; then
    args+=("-backend-config=environments/backend-$stage.hcl")
  elif [[ -n ${TF_STATE_BUCKET:-} ]]; then
    args+=(
      "-backend-config=bucket=$TF_STATE_BUCKET"
      "-backend-config=key=event-pipeline/$stage/terraform.tfstate"
      "-backend-config=region=${TF_STATE_REGION:-$AWS_REGION}"
      "-backend-config=encrypt=true"
      "-backend-config=use_lockfile=true"
    )
  elif [[ ${TF_LOCAL_STATE:-} == 1 ]]; then
    note "TF_LOCAL_STATE=1: state stays in $TF_DIR (a rehearsal, not a deployment)"
    init_local_state=1
  else
    die "no remote state for $stage: set TF_STATE_BUCKET, or write terraform/environments/backend-$stage.hcl" \
      "from backend.hcl.example (TF_LOCAL_STATE=1 keeps local state, for a rehearsal)"
  fi
  if [[ -z ${init_local_state:-} && ! -f $TF_DIR/backend_override.tf ]]; then
    cp "$TF_DIR/environments/backend_override.tf.example" "$TF_DIR/backend_override.tf"
  fi
  note "terraform init ($stage)"
  tf init "${args[@]}" >/dev/null
}

verify_artifacts() {
  # The zips must be the build's, byte for byte (each against the sha256 in its manifest): a deploy
  # ships what the build job made and never rebuilds. Function zips must carry the RDS CA bundle, or
  # the database functions would refuse to start (verify-full).
  python3 - "$ROOT/target" <<'PY' || die "target/ does not hold a deployable build (see above)"
import hashlib
import json
import sys
import zipfile
from pathlib import Path

BUNDLE = "shared/certs/rds-global-bundle.pem"
target = Path(sys.argv[1])
problems, count = [], 0
for manifest_path in sorted(target.glob("*.json")):
    manifest = json.loads(manifest_path.read_text())
    if not isinstance(manifest, dict) or "sha256" not in manifest:
        continue  # not a build manifest
    zip_path = target / manifest.get("zip", manifest_path.stem + ".zip")
    if not zip_path.is_file():
        problems.append(f"target/{zip_path.name} is missing next to its manifest: fetch the build's artifacts again")
        continue
    if hashlib.sha256(zip_path.read_bytes()).hexdigest() != manifest["sha256"]:
        problems.append(
            f"target/{zip_path.name} does not match the sha256 in target/{manifest_path.name}: not the build's zip"
        )
        continue
    if manifest.get("handler") and BUNDLE not in zipfile.ZipFile(zip_path).namelist():
        problems.append(f"target/{zip_path.name} has no {BUNDLE}: fetch it before building (make ci-build)")
        continue
    count += 1
if not count and not problems:
    problems.append("no built zips in target/: run make ci-build, or fetch the build job's artifacts")
for problem in problems:
    print(f"ci_terraform.sh: error: {problem}", file=sys.stderr)
if problems:
    sys.exit(1)
print(f"ci_terraform.sh: {count} zips in target/ match their manifests", file=sys.stderr)
PY
}

plan() { # STAGE
  local stage=$1
  verify_artifacts
  init_stage "$stage"
  note "terraform plan ($stage) on $ROOT/target"
  tf plan -input=false -no-color -var-file="environments/$stage.tfvars" \
    -var "artifacts_dir=$ROOT/target" -var "aws_region=$AWS_REGION" -out="$ROOT/.cache/terraform/$stage.tfplan"
}

export AWS_REGION=${AWS_REGION:-eu-west-1}
(($# >= 1)) || usage_error "missing command"
command=$1
shift
case $command in
  -h | --help) usage ;;
  validate | checkov)
    (($# == 0)) || usage_error "$command takes no arguments"
    if [[ $command == validate ]]; then validate; else run_checkov; fi
    ;;
  plan | apply | output)
    (($# >= 1)) || usage_error "$command needs a STAGE (qa or prod)"
    [[ $1 =~ ^[a-z][a-z0-9-]*$ ]] || usage_error "invalid stage '$1'"
    stage=$1
    shift
    case $command in
      plan)
        (($# == 0)) || usage_error "too many arguments"
        plan "$stage"
        ;;
      apply)
        (($# == 0)) || usage_error "too many arguments"
        plan "$stage"
        note "terraform apply ($stage)"
        tf apply -input=false -no-color "$ROOT/.cache/terraform/$stage.tfplan"
        ;;
      output)
        (($# <= 1)) || usage_error "too many arguments"
        init_stage "$stage"
        tf output -json "$@"
        ;;
    esac
    ;;
  *) usage_error "unknown command: $command" ;;
esac
