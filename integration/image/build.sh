#!/usr/bin/env bash
# Build nightshift's container image on this machine, with no registry and no Docker engine:
#
#   integration/image/build.sh [BOOTSTRAP [CONFIG]]
#
#   BOOTSTRAP  the binary to ship [target/release/bootstrap]; CI passes its debug build
#   CONFIG     the config to bake in [integration/fixtures/config/contract.toml]
#
# 1. Checks BOOTSTRAP (glibc-check.sh: nothing newer than AL2023's glibc 2.34) and validates
#    CONFIG with the `nightshift` built beside BOOTSTRAP, when there is one.
# 2. Builds the local base (integration/image/base/Containerfile: the Lambda base image's
#    environment, working directory and entrypoint) from this machine's own files, and nothing
#    more than bootstrap needs: the dynamic loader and the libraries it links (ldd), /bin/sh (dash)
#    and what it links for the entrypoint, the CA bundle at AL2023's paths, /etc/localtime (UTC),
#    /etc/passwd and /etc/group with Lambda's sandbox user (uid 993, gid 990), /var/task,
#    /var/runtime and /tmp.
# 3. Builds the Dockerfile on that base (BASE_IMAGE, BOOTSTRAP_FROM=prebuilt) from a build context
#    of bootstrap, nightshift.toml and calendar/ (the config's holiday files): the build stage
#    is skipped, nothing is fetched.
# 4. Writes the image as an OCI archive, target/image/nightshift.oci.tar, and what it holds beside
#    it (target/image/nightshift.oci.json: image id, bootstrap and config digests, sizes).
#
# Uses podman (else buildah). As root, installs Debian's podman, buildah and runc when podman or
# runc is missing. Exits 69 when neither podman nor buildah can be had.
#
#   NIGHTSHIFT_IMAGE_DIR   where the archive and the build's files go [target/image]
#   NIGHTSHIFT_IMAGE_NAME  the image's name in local storage [localhost/nightshift:local]
set -euo pipefail
umask 022

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
target=${CARGO_TARGET_DIR:-$repo/target}
out=${NIGHTSHIFT_IMAGE_DIR:-$target/image}
name=${NIGHTSHIFT_IMAGE_NAME:-localhost/nightshift:local}
base_name=localhost/nightshift-lambda-base:local
bootstrap=${1:-$target/release/bootstrap}
config=${2:-$repo/integration/fixtures/config/contract.toml}
archive=$out/nightshift.oci.tar

say() { echo "image build: $*" >&2; }
die() {
  say "$*"
  exit "${status:-1}"
}

[[ -f $bootstrap ]] || die "$bootstrap does not exist: build it with \`cargo build --release --bin bootstrap\` (or pass the bootstrap to ship)"
[[ -f $config ]] || die "$config does not exist"
bootstrap=$(realpath "$bootstrap")
config=$(realpath "$config")

# --- the tools ---------------------------------------------------------------------------------
if ! command -v podman >/dev/null 2>&1 || ! command -v runc >/dev/null 2>&1; then
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null 2>&1; then
    say "installing podman, buildah and runc (Debian's packages)"
    if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman buildah runc; } >&2; then
      say "apt-get could not install them"
    fi
  fi
fi
if command -v podman >/dev/null 2>&1; then
  tool=podman
elif command -v buildah >/dev/null 2>&1; then
  tool=buildah
else
  status=69 die "neither podman nor buildah is installed, and they could not be installed here (as root on Debian: apt-get install -y podman buildah runc)"
fi
say "using $($tool --version)"

# --- 1. what goes in ---------------------------------------------------------------------------
"$here/glibc-check.sh" "$bootstrap" 2.34 >&2
cli=$(dirname "$bootstrap")/nightshift
if [[ -x $cli ]]; then
  "$cli" validate --config "$config" >&2
else
  say "no nightshift beside $bootstrap: $config is not validated here (bootstrap refuses it at init if it is invalid)"
fi

# --- 2. the local base -------------------------------------------------------------------------
base_dir=$out/base
rootfs=$base_dir/rootfs
rm -rf "$base_dir"
mkdir -p "$rootfs"
cp "$here/base/Containerfile" "$base_dir/Containerfile"

# The shared libraries a binary links and its program interpreter, as absolute paths.
libraries() {
  ldd "$1" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' || true
}
# A host file at the same path in the image, symlinks resolved, with the host's mode.
place() {
  local source=$1 dest=$rootfs$2
  mkdir -p "$(dirname "$dest")"
  cp -L --preserve=mode "$source" "$dest"
}
for lib in $( (libraries "$bootstrap"; libraries /bin/dash) | sort -u); do
  place "$lib" "$lib"
done
place /bin/dash /bin/sh
install -m 755 "$here/base/lambda-entrypoint.sh" "$rootfs/lambda-entrypoint.sh"
install -D -m 644 "$here/base/passwd" "$rootfs/etc/passwd"
install -D -m 644 "$here/base/group" "$rootfs/etc/group"

# AL2023's layout: the bundle under /etc/pki/ca-trust, /etc/pki/tls/certs/ca-bundle.crt pointing at
# it and /etc/ssl/certs pointing at /etc/pki/tls/certs, so that bootstrap's TLS looks for its
# roots where it will find them in Lambda.
ca=/etc/ssl/certs/ca-certificates.crt
if [[ ! -f $ca && $(id -u) == 0 ]] && command -v apt-get >/dev/null 2>&1; then
  say "installing ca-certificates (Debian's package)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ca-certificates >&2 || true
fi
[[ -f $ca ]] || die "$ca is missing: install ca-certificates"
install -D -m 644 "$ca" "$rootfs/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem"
mkdir -p "$rootfs/etc/pki/tls/certs" "$rootfs/etc/ssl"
ln -s /etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem "$rootfs/etc/pki/tls/certs/ca-bundle.crt"
ln -s /etc/pki/tls/certs "$rootfs/etc/ssl/certs"
# The base's TZ=:/etc/localtime names this file (Lambda sets TZ=:UTC itself).
if [[ -f /usr/share/zoneinfo/UTC ]]; then
  install -m 644 /usr/share/zoneinfo/UTC "$rootfs/etc/localtime"
fi
mkdir -p "$rootfs/var/task" "$rootfs/var/runtime" "$rootfs/tmp"
chmod 755 "$rootfs/var" "$rootfs/var/task" "$rootfs/var/runtime"
chmod 1777 "$rootfs/tmp"

build() { # build ARGS... CONTEXT
  case $tool in
    podman) podman build --pull=never "$@" ;;
    buildah) buildah build --pull-never "$@" ;;
  esac
}
# Builds with layers (podman 4.3 fails a multi-stage build without them when a stage is only an
# alias, as the Dockerfile's `FROM ${BOOTSTRAP_FROM} AS bootstrap` is), then removes the
# intermediate images it printed (`--> ID`), so that no old bootstrap stays in local storage.
build_clean() { # build_clean LOG ARGS...: the build's steps on stderr, all of its output on failure
  local log=$1 status=0 final intermediate
  shift
  build "$@" >"$log" 2>&1 || status=$?
  if ((status != 0)); then
    cat "$log" >&2
    return "$status"
  fi
  grep -E '^\[[0-9]+/[0-9]+\] (STEP|COMMIT)' "$log" >&2 || true
  final=$(cat "$iidfile")
  final=${final#sha256:}
  for intermediate in $(sed -n 's/^--> \([0-9a-f]\{6,\}\)$/\1/p' "$log"); do
    [[ $final == "$intermediate"* ]] || $tool rmi "$intermediate" >/dev/null 2>&1 || true
  done
}
say "base image $base_name ($(du -sh "$rootfs" | cut -f1) of files: $(find "$rootfs" -type f | wc -l) files)"
# A fixed timestamp: the same files give the same base image, so rebuilding leaves nothing behind.
iidfile=$base_dir/image-id
build_clean "$base_dir/build.log" --timestamp 0 --iidfile "$iidfile" -t "$base_name" -f "$base_dir/Containerfile" "$base_dir" 2>/dev/null ||
  die "building the base image failed: $(cat "$base_dir/build.log")"

# --- 3. the image ------------------------------------------------------------------------------
context=$out/context
rm -rf "$context"
mkdir -p "$context"
cp "$bootstrap" "$context/bootstrap"
cp "$config" "$context/nightshift.toml"
# The config's holiday files (`holidays = "F.ics"`, relative to it) beside it in the image.
mkdir -p "$context/calendar"
sed -n 's/^[[:space:]]*holidays[[:space:]]*=[[:space:]]*"\([^"]*\)".*/\1/p' "$config" | while read -r ics; do
  mkdir -p "$context/calendar/$(dirname "$ics")"
  cp "$(dirname "$config")/$ics" "$context/calendar/$ics"
done
arch=$(uname -m)
[[ $arch == aarch64 ]] && arch=arm64
previous=$(cat "$out/image-id" 2>/dev/null || true)
say "building $name from $repo/Dockerfile (BOOTSTRAP_FROM=prebuilt, BASE_IMAGE=$base_name)"
iidfile=$out/image-id
build_clean "$out/build.log" --iidfile "$iidfile" -t "$name" -f "$repo/Dockerfile" \
  --build-arg ARCH="$arch" --build-arg BASE_IMAGE="$base_name" --build-arg BOOTSTRAP_FROM=prebuilt \
  "$context"
id=$(cat "$out/image-id")
id=${id#sha256:}

# --- 4. the archive ----------------------------------------------------------------------------
rm -f "$archive.partial"
case $tool in
  podman) podman save --quiet --format oci-archive -o "$archive.partial" "$name" ;;
  buildah) buildah push --quiet "$name" "oci-archive:$archive.partial:$name" >/dev/null ;;
esac
mv "$archive.partial" "$archive"
# The image this build replaced, unless something still uses it.
if [[ -n $previous && ${previous#sha256:} != "$id" ]]; then
  $tool rmi "${previous#sha256:}" >/dev/null 2>&1 || true
fi
rm -rf "$context"

unpacked=$($tool image inspect --format '{{.Size}}' "$id" 2>/dev/null || echo 0)
python3 - "$out/nightshift.oci.json" <<EOF
import json, sys
json.dump({
    "archive": "$archive",
    "name": "$name",
    "image_id": "$id",
    "base": "$base_name",
    "built_with": "$($tool --version)",
    "bootstrap": {"path": "$bootstrap", "sha256": "$(sha256sum "$bootstrap" | cut -d' ' -f1)"},
    "config": {"path": "$config", "sha256": "$(sha256sum "$config" | cut -d' ' -f1)"},
    "archive_bytes": $(stat -c %s "$archive"),
    "unpacked_bytes": $unpacked,
}, open(sys.argv[1], "w"), indent=2)
EOF
say "wrote $archive: image ${id:0:12}, $(numfmt --to=iec "$(stat -c %s "$archive")") as an archive, $(numfmt --to=iec "$unpacked") unpacked"
say "run it: podman load -i $archive, then see docs/deploying.md, \"Build the image without Docker\""
