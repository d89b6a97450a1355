#!/usr/bin/env bash
# Puts the RDS CA bundle and the roots of RDS Proxy's certificate in shared/certs/, so every zip can verify the
# database's certificate (verify-full), whether it connects to the instance or through the proxy.
set -Eeuo pipefail

ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
readonly ROOT

# RDS Proxy presents an AWS Certificate Manager certificate, which chains to Amazon Trust Services' roots, not to
# the RDS CA. These are the five roots Amazon Trust Services recommends a custom trust store holds, each with the
# SHA-256 of its subject public key info as its repository page (https://www.amazontrust.com/repository/) lists it.
readonly ROOTS=(
  "AmazonRootCA1.pem fbe3018031f9586bcbf41727e417b7d1c45c2f47f93be372a17b96b50757d5a2"
  "AmazonRootCA2.pem 7f4296fc5b6a4e3b35d3c369623e364ab1af381d8fa7121533c9d6c633ea2461"
  "AmazonRootCA3.pem 36abc32656acfc645c61b71613c4bf21c787f5cabbee48348d58597803d7abc9"
  "AmazonRootCA4.pem f7ecded5c66047d28ed6466b543c40e0743abe81d109254dcf845d4c2c7853c5"
  "SFSRootCAG2.pem 2b071c59a0a0ae76b0eadb2bad23bad4580b69c3601b630c2eaf0613afa83f92"
)

case ${1:-} in
  -h | --help)
    cat <<'USAGE'
Usage: tools/fetch_rds_ca.sh   (make rds-ca)

Writes shared/certs/rds-global-bundle.pem (git-ignored), where every function zip picks it up, from:
  - the RDS CA bundle, which signs the database instance's certificate;
  - the Amazon Trust Services roots (Amazon Root CA 1 to 4, Starfield Services Root Certificate
    Authority - G2), to which the certificate RDS Proxy presents chains. Each is checked against the
    public key hash Amazon Trust Services publishes, so a wrong or altered download is refused.
The database functions refuse to start under sslmode=verify-full without it, and ./build.sh refuses to
build them. The pipeline's build job runs this before ./build.sh --all, so deployed zips always carry a
fresh bundle. Needs curl and openssl.

Environment:
  RDS_CA_URL        the RDS CA bundle (default: https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem)
  AMAZON_TRUST_URL  where the roots are, as <url>/AmazonRootCA1.pem ... (default: https://www.amazontrust.com/repository)
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

certificates() { # FILE: how many PEM certificates it holds
  grep -c -- '-----BEGIN CERTIFICATE-----' "$1" || true
}

command -v curl >/dev/null 2>&1 || die "curl is needed to download the bundle"
command -v openssl >/dev/null 2>&1 || die "openssl is needed to check the Amazon Trust Services roots (apt-get install openssl)"

rds_url=${RDS_CA_URL:-https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem}
trust_url=${AMAZON_TRUST_URL:-https://www.amazontrust.com/repository}
dest=$ROOT/shared/certs/rds-global-bundle.pem
mkdir -p "${dest%/*}"
work=$(mktemp -d)
tmp=$(mktemp "$dest.XXXXXX")
trap 'rm -rf "$work" "$tmp"' EXIT

curl -fsSL --retry 3 -o "$work/rds.pem" "$rds_url" || die "could not download the RDS CA bundle from $rds_url"
rds_count=$(certificates "$work/rds.pem")
((rds_count > 0)) || die "$rds_url did not give a PEM bundle of certificates"
{ cat -- "$work/rds.pem"; echo; } >"$tmp"

for entry in "${ROOTS[@]}"; do
  read -r file pin <<<"$entry"
  url=$trust_url/$file
  curl -fsSL --retry 3 -o "$work/$file" "$url" || die "could not download $file from $url"
  [[ $(certificates "$work/$file") == 1 ]] || die "$url did not give one PEM certificate"
  spki=$(openssl x509 -in "$work/$file" -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum | cut -d' ' -f1) \
    || die "$url: openssl could not read the certificate"
  [[ $spki == "$pin" ]] \
    || die "$url: its public key (SHA-256 $spki) is not the one Amazon Trust Services publishes for $file ($pin)"
  { cat -- "$work/$file"; echo; } >>"$tmp"
done

# What libpq loads (OpenSSL, sslrootcert): one certificate it cannot read makes the whole file unusable.
for entry in "${ROOTS[@]}"; do
  read -r file _ <<<"$entry"
  openssl verify -CAfile "$tmp" "$work/$file" >/dev/null 2>&1 \
    || die "the combined bundle does not load in OpenSSL, or does not trust $file (a bad certificate from $rds_url?)"
done

chmod 0644 "$tmp"
mv -f "$tmp" "$dest"
printf 'fetch_rds_ca.sh: %s certificates in shared/certs/rds-global-bundle.pem (RDS CA bundle: %s; Amazon Trust Services roots for RDS Proxy: %s)\n' \
  "$(certificates "$dest")" "$rds_count" "${#ROOTS[@]}"
