#!/usr/bin/env bash
# Puts Terraform on PATH for a CI job: keeps one already installed, otherwise installs TERRAFORM_VERSION.
set -Eeuo pipefail

usage() {
  cat <<'USAGE'
Usage: tools/install_terraform.sh

Does nothing when `terraform` is already on PATH (a developer's machine, gitlab-ci-local's shell
executor). Otherwise downloads terraform_$TERRAFORM_VERSION_linux_<arch>.zip from HashiCorp's release
site, checks it against the release's SHA256SUMS, and installs the binary into $TERRAFORM_INSTALL_DIR.
The zip is kept in $TERRAFORM_DOWNLOADS, so a cached CI job downloads it once.

Environment:
  TERRAFORM_VERSION      version to install (default: 1.11.4)
  TERRAFORM_INSTALL_DIR  where the binary goes (default: /usr/local/bin)
  TERRAFORM_RELEASES     release site (default: https://releases.hashicorp.com/terraform)
  TERRAFORM_DOWNLOADS    where downloaded zips are kept (default: .cache/terraform/downloads)
USAGE
}

case ${1:-} in
  -h | --help) usage; exit 0 ;;
  "") ;;
  *) printf 'install_terraform.sh: unknown argument: %s\n\n' "$1" >&2; usage >&2; exit 2 ;;
esac

die() {
  printf 'install_terraform.sh: error: %s\n' "$*" >&2
  exit 1
}

# Terraform complains on every command while the plugin cache CI names does not exist yet.
if [[ -n ${TF_PLUGIN_CACHE_DIR:-} ]]; then mkdir -p "$TF_PLUGIN_CACHE_DIR"; fi

if command -v terraform >/dev/null 2>&1; then
  printf 'install_terraform.sh: using %s (%s)\n' "$(command -v terraform)" "$(terraform version | head -n1)"
  exit 0
fi

ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
version=${TERRAFORM_VERSION:-1.11.4}
install_dir=${TERRAFORM_INSTALL_DIR:-/usr/local/bin}
releases=${TERRAFORM_RELEASES:-https://releases.hashicorp.com/terraform}
case $(uname -m) in
  x86_64 | amd64) arch=amd64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *) die "no Terraform build for machine $(uname -m)" ;;
esac
zip_name=terraform_${version}_linux_${arch}.zip
downloads=${TERRAFORM_DOWNLOADS:-$ROOT/.cache/terraform/downloads}
mkdir -p "$downloads" "$install_dir"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

fetch() { # URL FILE
  if command -v curl >/dev/null 2>&1; then
    curl -fsSL --retry 3 -o "$2" "$1"
  else
    python3 -c 'import sys, urllib.request; urllib.request.urlretrieve(sys.argv[1], sys.argv[2])' "$1" "$2"
  fi
}

fetch "$releases/$version/terraform_${version}_SHA256SUMS" "$work/SHA256SUMS" \
  || die "could not download the checksums of Terraform $version from $releases"
expected=$(awk -v f="$zip_name" '$2 == f {print $1}' "$work/SHA256SUMS")
[[ -n $expected ]] || die "$zip_name is not listed in the SHA256SUMS of Terraform $version"
if [[ ! -f $downloads/$zip_name ]] || [[ $(sha256sum "$downloads/$zip_name" | cut -d' ' -f1) != "$expected" ]]; then
  fetch "$releases/$version/$zip_name" "$work/$zip_name" || die "could not download $releases/$version/$zip_name"
  [[ $(sha256sum "$work/$zip_name" | cut -d' ' -f1) == "$expected" ]] \
    || die "$zip_name does not match its SHA256SUMS entry: refusing to install it"
  mv -f "$work/$zip_name" "$downloads/$zip_name"
fi
python3 -m zipfile -e "$downloads/$zip_name" "$work/unpacked"
install -m 0755 "$work/unpacked/terraform" "$install_dir/terraform"
printf 'install_terraform.sh: installed %s\n' "$("$install_dir/terraform" version | head -n1)"
