#!/usr/bin/env bash
# Builds deployable Lambda zips: target/NAME.zip and target/NAME.json, with Docker or without.
# Which functions there are, and their kinds, is pipeline.json's to say (read by tools/lambda_zip.py).
set -Eeuo pipefail

ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
readonly ROOT
readonly LAYER_NAME=dependencies-layer

usage() {
  cat <<'EOF'
Usage: ./build.sh [OPTIONS] NAME [PATH]
       ./build.sh [OPTIONS] --all
       ./build.sh [OPTIONS] --layer

Builds target/NAME.zip from the function folder PATH, shared/ and the dependencies pinned in
requirements.txt, and target/NAME.json (handler, runtime, architecture, sha256, size). The zip is
deterministic: the same inputs give the same bytes. NAME is a function pipeline.json lists; PATH
is its folder, KIND/NAME (producers/NAME, consumers/NAME or utilities/NAME); when left out, it is
the one pipeline.json gives.

Options:
  --all              every function pipeline.json lists, and the dependencies layer
  --layer            target/dependencies-layer.zip: the dependencies under python/
  --runtime RUNTIME  Lambda runtime, python3.X (default: python3.12)
  --arch ARCH        x86_64 (default) or arm64
  --docker           build inside the Lambda build image (Dockerfile); needs a running Docker engine
  --no-docker        build on this machine with pip --platform manylinux2014_<arch> --only-binary=:all:
                     (default: --docker when 'docker info' succeeds, otherwise --no-docker)
  -h, --help         show this text

Environment:
  REQUIREMENTS_FILE  dependencies to install (default: requirements.txt)
  TARGET_DIR         where zips are written (default: target/)
  BUILD_CACHE_DIR    installed dependencies, one folder per requirements/runtime/arch (default: .cache/build)
  PIP_CACHE_DIR      pip's cache, and the wheels downloaded once for every build (default: .cache/pip)
  PYTHON             interpreter that runs pip and writes the zip (default: python3)
  MAX_ZIP_BYTES      largest function zip accepted (default: 10000000)

Examples:
  ./build.sh error_source ./producers/error_source
  ./build.sh --all --arch arm64
EOF
}

die() {
  printf 'build.sh: error: %s\n' "$*" >&2
  exit 1
}

usage_error() {
  printf 'build.sh: %s\n\n' "$*" >&2
  usage >&2
  exit 2
}

note() {
  printf 'build.sh: %s\n' "$*" >&2
}

sha256_hex() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum | cut -d' ' -f1
  else
    shasum -a 256 | cut -d' ' -f1
  fi
}

# ---------------------------------------------------------------------------------------------
# Arguments
# ---------------------------------------------------------------------------------------------

all=0
layer=0
runtime=python3.12
arch=x86_64
mode=auto
positional=()
while (($#)); do
  case $1 in
    -h | --help) usage; exit 0 ;;
    --all) all=1 ;;
    --layer) layer=1 ;;
    --docker) mode=docker ;;
    --no-docker) mode=pip ;;
    --runtime | --arch)
      (($# >= 2)) || usage_error "$1 needs a value"
      if [[ $1 == --runtime ]]; then runtime=$2; else arch=$2; fi
      shift
      ;;
    --runtime=*) runtime=${1#*=} ;;
    --arch=*) arch=${1#*=} ;;
    --) shift; positional+=("$@"); break ;;
    -*) usage_error "unknown option: $1" ;;
    *) positional+=("$1") ;;
  esac
  shift
done

if [[ ! $runtime =~ ^python3\.([1-9][0-9]*)$ ]] || ((BASH_REMATCH[1] < 9)); then
  usage_error "unsupported runtime '$runtime': expected python3.X (3.9 or later), for example python3.12"
fi
readonly python_version=3.${BASH_REMATCH[1]}

case $arch in
  x86_64) machine=x86_64 docker_platform=linux/amd64 ;;
  arm64) machine=aarch64 docker_platform=linux/arm64 ;;
  *) usage_error "unsupported architecture '$arch': expected x86_64 or arm64" ;;
esac
# Wheels pip may pick, most preferred first. manylinux2014 (glibc 2.17) runs everywhere; python3.12
# and later run on Amazon Linux 2023 (glibc 2.34), which also runs manylinux_2_28 wheels, the only
# kind some packages publish for arm64 (psycopg2-binary 2.9.13). Earlier runtimes run on Amazon
# Linux 2 (glibc 2.26), so they get manylinux2014 only.
pip_platforms=("manylinux2014_$machine")
((${python_version#3.} >= 12)) && pip_platforms+=("manylinux_2_28_$machine")

# Discovery reads pipeline.json with Python (the docker path too), so the interpreter is needed here.
python=${PYTHON:-python3}
command -v "$python" >/dev/null 2>&1 || die "$python not found: install Python 3.9 or newer, or set PYTHON"

# ---------------------------------------------------------------------------------------------
# Which functions: relative folders like producers/error_source
# ---------------------------------------------------------------------------------------------

functions=()
names=()

add_function() { # REL_PATH
  local rel=$1 name=${1#*/} other
  for other in ${names[@]+"${names[@]}"}; do
    [[ $other != "$name" ]] || die "two function folders are named '$name'; each needs a unique name (target/$name.zip)"
  done
  functions+=("$rel")
  names+=("$name")
}

# The functions pipeline.json lists, as KIND/NAME; fails, naming it, when a folder and the manifest disagree.
known_functions() {
  "$python" "$ROOT/tools/lambda_zip.py" --root "$ROOT" --list
}

manifest_kinds() {
  "$python" -c 'import json, sys; print("\n".join(json.load(open(sys.argv[1]))["kinds"]))' "$ROOT/pipeline.json" \
    || die "cannot read the kinds from $ROOT/pipeline.json"
}

check_name() { # NAME
  [[ $1 =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] \
    || die "invalid name '$1': use letters, digits and underscores (it is part of the handler's Python module path)"
}

resolve_name() { # NAME: find its folder
  local rel
  check_name "$1"
  rel=$("$python" "$ROOT/tools/lambda_zip.py" --root "$ROOT" --resolve "$1") || exit 1
  add_function "$rel"
}

resolve_path() { # NAME PATH
  local name=$1 path=$2 abs rel
  check_name "$name"
  [[ -e $path ]] || die "path not found: $path"
  [[ -d $path ]] || die "not a folder: $path"
  abs=$(cd -- "$path" && pwd -P)
  [[ $abs == "$ROOT" || $abs == "$ROOT"/* ]] || die "path is outside the repository ($ROOT): $path"
  rel=${abs#"$ROOT"/}
  local kinds
  kinds=$(manifest_kinds | paste -sd '|' -)
  if [[ ! $rel =~ ^($kinds)/[^/]+$ ]]; then
    die "not a function folder: $path (expected <${kinds}>/<name>, the kinds pipeline.json lists)"
  fi
  [[ -f $abs/handler.py ]] || die "no handler.py in $path: a function folder needs handler.py with handler(event, context)"
  [[ ${rel#*/} == "$name" ]] \
    || die "name '$name' does not match the folder $rel: the zip and the handler are named after the folder (./build.sh ${rel#*/} $path)"
  [[ $("$python" "$ROOT/tools/lambda_zip.py" --root "$ROOT" --resolve "$name") == "$rel" ]] \
    || die "pipeline.json has no function '$name' of kind '${rel%%/*}': add its entry (python -m local new ... writes one)"
  add_function "$rel"
}

if ((all)); then
  ((${#positional[@]} == 0)) || usage_error "--all takes no NAME or PATH"
  listed=$(known_functions) || exit 1
  while IFS= read -r rel; do
    [[ -n $rel ]] && add_function "$rel"
  done <<<"$listed"
  ((${#functions[@]})) || die "pipeline.json lists no functions"
  layer=1
else
  case ${#positional[@]} in
    0) ((layer)) || usage_error "missing NAME (or --all, or --layer)" ;;
    1) resolve_name "${positional[0]}" ;;
    2) resolve_path "${positional[0]}" "${positional[1]}" ;;
    *) usage_error "too many arguments: ${positional[*]}" ;;
  esac
fi

# ---------------------------------------------------------------------------------------------
# Environment
# ---------------------------------------------------------------------------------------------

requirements=${REQUIREMENTS_FILE:-$ROOT/requirements.txt}
[[ -f $requirements ]] || die "requirements file not found: $requirements"
target=${TARGET_DIR:-$ROOT/target}
cache=${BUILD_CACHE_DIR:-$ROOT/.cache/build}
pip_cache=${PIP_CACHE_DIR:-$ROOT/.cache/pip}
max_zip_bytes=${MAX_ZIP_BYTES:-10000000}

docker_running() {
  command -v docker >/dev/null 2>&1 || return 1
  if command -v timeout >/dev/null 2>&1; then
    timeout 30 docker info >/dev/null 2>&1
  else
    docker info >/dev/null 2>&1
  fi
}

case $mode in
  docker)
    docker_running || die "--docker was asked for, but no Docker engine is running ('docker info' failed). Start Docker, or build without it: ./build.sh --no-docker ..."
    ;;
  auto) if docker_running; then mode=docker; else mode=pip; fi ;;
esac

if [[ $mode == pip ]]; then
  command -v "$python" >/dev/null 2>&1 || die "$python not found: install Python 3.9 or newer, or set PYTHON"
  "$python" -c 'import sys; sys.exit(sys.version_info < (3, 9))' 2>/dev/null \
    || die "$python is older than Python 3.9; set PYTHON to a newer interpreter"
  "$python" -m pip --version >/dev/null 2>&1 || die "pip is not available for $python: install it (python3 -m ensurepip) or set PYTHON"
fi

# Outputs are written under $work and renamed into $target only when complete, so an interrupted
# or failed build never leaves a partial zip. A failed build also removes the outputs of an
# earlier build of the same names, so target/ holds nothing that claims to match the sources.
mkdir -p "$target"
work=$(mktemp -d "$target/.build.XXXXXX")
temporaries=("$work")
building=0

on_exit() {
  local rc=$? name
  rm -rf "${temporaries[@]}"
  if ((rc != 0 && building)); then
    ((layer)) && names+=("$LAYER_NAME")
    for name in ${names[@]+"${names[@]}"}; do
      rm -f "$target/$name.zip" "$target/$name.json"
    done
    printf 'build.sh: build failed; no zip was written for: %s\n' "${names[*]}" >&2
  fi
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------------------------------------
# Build
# ---------------------------------------------------------------------------------------------

pip_() {
  PIP_ROOT_USER_ACTION=ignore "$python" -m pip "$@" --quiet --disable-pip-version-check
}

# Installs the requirements into $deps, once per (requirements, runtime, arch); later builds reuse
# the folder. Wheels are downloaded once into a wheelhouse in the pip cache and installed from
# there without the index, so a new runtime, arch or clone costs no download for wheels already
# fetched (pip's own HTTP cache is kept too, but not every index lets it cache).
install_dependencies() {
  local key dir tmp platform wheelhouse=$pip_cache/wheelhouse select=()
  for platform in "${pip_platforms[@]}"; do select+=(--platform "$platform"); done
  select+=(--implementation cp --python-version "$python_version" --only-binary=:all: -r "$requirements")
  key=$({ cat -- "$requirements"; printf '\n%s %s %s v1\n' "$runtime" "$arch" "${pip_platforms[*]}"; } | sha256_hex)
  dir=$cache/deps/$runtime-$arch-${key:0:16}
  if [[ -f $dir/.complete ]]; then
    note "dependencies for $runtime/$arch: reusing ${dir#"$ROOT"/}"
    deps=$dir/site
    return
  fi
  mkdir -p "$cache/deps" "$wheelhouse"
  tmp=$(mktemp -d "$cache/deps/.tmp.XXXXXX")
  temporaries+=("$tmp")
  note "dependencies for $runtime/$arch: pip install ${select[*]}"
  if ! pip_ install --no-compile --no-index --find-links "$wheelhouse" --target "$tmp/site" "${select[@]}" 2>/dev/null; then
    rm -rf "$tmp/site"
    if ! pip_ download --cache-dir "$pip_cache" --dest "$wheelhouse" "${select[@]}" \
      || ! pip_ install --no-compile --no-index --find-links "$wheelhouse" --target "$tmp/site" "${select[@]}"; then
      die "pip could not install the dependencies in $requirements for $runtime on $arch (pip's message is above)"
    fi
  fi
  touch "$tmp/.complete"
  if [[ -f $dir/.complete ]]; then
    rm -rf "$tmp" # another build got there first
  else
    rm -rf "$dir"
    mv "$tmp" "$dir"
  fi
  deps=$dir/site
}

build_with_pip() {
  install_dependencies
  local layer_flag=()
  ((layer)) && layer_flag=(--layer)
  "$python" "$ROOT/tools/lambda_zip.py" --root "$ROOT" --deps "$deps" --out-dir "$work/out" \
    --runtime "$runtime" --arch "$arch" --builder pip --max-bytes "$max_zip_bytes" \
    ${layer_flag[@]+"${layer_flag[@]}"} ${functions[@]+"${functions[@]}"} \
    || die "writing the zips failed (see above)"
}

build_with_docker() {
  # A small build context holding only what the zip needs, laid out like the repository.
  local ctx=$work/context rel kind
  mkdir -p "$ctx/tools"
  cp -- "$requirements" "$ctx/requirements.txt"
  cp -- "$ROOT/tools/lambda_zip.py" "$ctx/tools/"
  cp -- "$ROOT/pipeline.json" "$ctx/"
  cp -- "$ROOT/.dockerignore" "$ctx/"
  cp -R -- "$ROOT/shared" "$ctx/shared"
  for rel in ${functions[@]+"${functions[@]}"}; do
    kind=${rel%%/*}
    mkdir -p "$ctx/$kind"
    [[ -f $ROOT/$kind/__init__.py ]] && cp -- "$ROOT/$kind/__init__.py" "$ctx/$kind/"
    cp -R -- "$ROOT/$rel" "$ctx/$rel"
  done
  note "building in public.ecr.aws/sam/build-$runtime:latest-$arch ($docker_platform)"
  DOCKER_BUILDKIT=1 docker build --file "$ROOT/Dockerfile" --platform "$docker_platform" \
    --target artifact --output "type=local,dest=$work/out" \
    --build-arg "PYTHON_VERSION=$python_version" --build-arg "IMAGE_TAG=latest-$arch" \
    --build-arg "RUNTIME=$runtime" --build-arg "ARCH=$arch" --build-arg "LAYER=$layer" \
    --build-arg "FUNCTIONS=${functions[*]-}" --build-arg "MAX_ZIP_BYTES=$max_zip_bytes" \
    "$ctx" || die "docker build failed (see above)"
}

building=1
if [[ $mode == docker ]]; then build_with_docker; else build_with_pip; fi

outputs=(${names[@]+"${names[@]}"})
((layer)) && outputs+=("$LAYER_NAME")
for name in "${outputs[@]}"; do
  [[ -f $work/out/$name.zip && -f $work/out/$name.json ]] || die "the build did not produce $name.zip"
done
for name in "${outputs[@]}"; do
  mv -f -- "$work/out/$name.zip" "$target/$name.zip"
  mv -f -- "$work/out/$name.json" "$target/$name.json"
  printf 'build.sh: wrote %s\n' "${target#"$PWD"/}/$name.zip" >&2
done
building=0
