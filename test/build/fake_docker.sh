#!/usr/bin/env bash
# Stands in for the docker client in tests, on machines without an engine: `docker info` succeeds and
# `docker build` does what the Dockerfile's stages do (pip install -r requirements.txt into a folder,
# then tools/lambda_zip.py), on this machine, from the build context build.sh staged. It records
# its arguments in $FAKE_DOCKER_LOG and installs wheels from $FAKE_DOCKER_WHEELHOUSE only.
set -euo pipefail
printf '%s\n' "$*" >>"${FAKE_DOCKER_LOG:-/dev/null}"
case ${1:-} in
  info) exit 0 ;;
  build) shift ;;
  *) echo "fake docker: unsupported command: $*" >&2; exit 1 ;;
esac
declare -A build_arg=()
out='' context=''
while (($#)); do
  case $1 in
    --build-arg) build_arg[${2%%=*}]=${2#*=}; shift ;;
    --output) out=${2#type=local,dest=}; shift ;;
    --file | --platform | --target) shift ;;
    *) context=$1 ;;
  esac
  shift
done
deps=$(mktemp -d)
trap 'rm -rf "$deps"' EXIT
platform=manylinux2014_$([[ ${build_arg[ARCH]} == arm64 ]] && echo aarch64 || echo x86_64)
python3 -m pip install --quiet --no-compile --disable-pip-version-check --only-binary=:all: \
  --platform "$platform" --implementation cp --python-version "${build_arg[PYTHON_VERSION]}" \
  --no-index --find-links "$FAKE_DOCKER_WHEELHOUSE" --target "$deps" -r "$context/requirements.txt"
layer_flag=()
[[ ${build_arg[LAYER]} == 1 ]] && layer_flag=(--layer)
# shellcheck disable=SC2086 # FUNCTIONS is a space-separated list, as in the Dockerfile
python3 "$context/tools/lambda_zip.py" --root "$context" --deps "$deps" --out-dir "$out" \
  --runtime "${build_arg[RUNTIME]}" --arch "${build_arg[ARCH]}" --builder docker \
  --max-bytes "${build_arg[MAX_ZIP_BYTES]}" "${layer_flag[@]}" ${build_arg[FUNCTIONS]}
