#!/usr/bin/env bash
# Installs the Debian packages a CI job wants (some test suites skip without them), only those missing.
set -Eeuo pipefail

if (($# == 0)) || [[ $1 == -h || $1 == --help ]]; then
  echo "Usage: tools/install_packages.sh PACKAGE...   (for example: openssl postgresql rsync)"
  (($#)) && exit 0 || exit 2
fi

installed() { # PACKAGE: the package's command is on PATH (postgresql: the server binary Debian ships)
  case $1 in
    postgresql) compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null ;;
    *) command -v "$1" >/dev/null 2>&1 ;;
  esac
}

need=()
for package in "$@"; do
  installed "$package" || need+=("$package")
done
((${#need[@]})) || exit 0
if [[ $(id -u) != 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
  echo "install_packages.sh: ${need[*]} missing and this is not root on Debian; the suites that need them will skip" >&2
  exit 0
fi
echo "install_packages.sh: installing ${need[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
