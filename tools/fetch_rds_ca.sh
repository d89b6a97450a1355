#!/usr/bin/env bash
# Puts the RDS CA bundle in shared/certs/, so every zip can verify the database's certificate (verify-full).
set -Eeuo pipefail

ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
readonly ROOT

case ${1:-} in
  -h | --help)
    cat <<'USAGE'
Usage: tools/fetch_rds_ca.sh

Downloads the RDS CA bundle to shared/certs/rds-global-bundle.pem (git-ignored), where every function
zip picks it up; the database functions refuse to start under sslmode=verify-full without it. The
pipeline's build job runs this before ./build.sh --all, so deployed zips always carry a fresh bundle.

Environment:
  RDS_CA_URL  where to get it (default: https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem)
USAGE
    exit 0
    ;;
  "") ;;
  *) printf 'fetch_rds_ca.sh: unknown argument: %s (see --help)\n' "$1" >&2; exit 2 ;;
esac

die() {
  printf 'fetch_rds_ca.sh: error: %s\n' "$*" >&2
  exit 1
}

url=${RDS_CA_URL:-https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem}
dest=$ROOT/shared/certs/rds-global-bundle.pem
mkdir -p "${dest%/*}"
tmp=$(mktemp "$dest.XXXXXX")
trap 'rm -f "$tmp"' EXIT
curl -fsSL --retry 3 -o "$tmp" "$url" || die "could not download the RDS CA bundle from $url"
count=$(grep -c -- '-----BEGIN CERTIFICATE-----' "$tmp" || true)
((count > 0)) || die "$url did not give a PEM bundle of certificates"
chmod 0644 "$tmp"
mv -f "$tmp" "$dest"
printf 'fetch_rds_ca.sh: %s certificates in shared/certs/rds-global-bundle.pem\n' "$count"
