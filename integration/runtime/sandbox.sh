#!/usr/bin/env bash
# Run a command the way Lambda runs a container image's bootstrap (shared/local-aws.md):
# as a non-root uid, with a read-only root file system, an empty writable /tmp and nothing else
# writable, and the image's /var/task and /var/runtime (read-only, with the image's file modes).
#
#   integration/runtime/sandbox.sh IMAGE_ROOT COMMAND [ARG...]
#
# IMAGE_ROOT holds var/task and var/runtime laid out as in the image
# (integration/support/src/host/image.rs builds one under target/lambda-sandbox/). Needs root
# (setpriv drops to the sandbox uid; bwrap's own --uid inside a user namespace would not reproduce
# "Permission denied" on a mode-700 file) and bubblewrap (`apt-get install -y bubblewrap`). The
# network is shared, so the command reaches servers on this machine's loopback. Environment
# variables pass through unchanged.
#
# NIGHTSHIFT_SANDBOX_UID / NIGHTSHIFT_SANDBOX_GID: the uid/gid to run as (default 993/990, like
# Lambda's sbx_user).
set -euo pipefail

die() {
  echo "sandbox.sh: $*" >&2
  exit 125
}

(($# >= 2)) || die "usage: $0 IMAGE_ROOT COMMAND [ARG...]"
root=$1
shift
[[ -d $root/var/task && -d $root/var/runtime ]] ||
  die "$root has no var/task and var/runtime: lay it out as the image does (see integration/support/src/host/image.rs)"
command -v bwrap >/dev/null || die "bubblewrap is not installed: apt-get install -y bubblewrap"
command -v setpriv >/dev/null || die "setpriv (util-linux) is not installed"
((EUID == 0)) || die "run as root: setpriv needs it to drop to the sandbox uid"

uid=${NIGHTSHIFT_SANDBOX_UID:-993}
gid=${NIGHTSHIFT_SANDBOX_GID:-990}

# --die-with-parent: the command dies with whoever started the sandbox (a test that is killed
# leaves no function behind). --chdir: Lambda starts the runtime in /var/task.
exec setpriv --reuid="$uid" --regid="$gid" --clear-groups \
  bwrap --die-with-parent \
  --ro-bind / / \
  --tmpfs /tmp \
  --tmpfs /var \
  --ro-bind "$root/var/task" /var/task \
  --ro-bind "$root/var/runtime" /var/runtime \
  --dev /dev \
  --proc /proc \
  --chdir /var/task \
  "$@"
