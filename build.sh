#!/usr/bin/env bash
# Builds deployable Lambda zips: target/NAME.zip and target/NAME.json, with Docker or without.
# The documented command; everything it does (arguments, which functions, dependencies, zips, checks) is
# tools/build.py's, run by the interpreter that also runs pip and writes the zips. ./build.sh --help says more.
set -Eeuo pipefail

ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
readonly ROOT
python=${PYTHON:-python3}
command -v "$python" >/dev/null 2>&1 \
  || { printf 'build.sh: error: %s not found: install Python 3.9 or newer, or set PYTHON\n' "$python" >&2; exit 1; }
exec "$python" "$ROOT/tools/build.py" "$@"
