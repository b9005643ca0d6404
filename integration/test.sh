#!/usr/bin/env bash
# The test command of README.md: every unit and integration test, against a local AWS emulator
# that this script installs (Python virtualenv), starts on a loopback port (the one it binds), and stops.
#
#   integration/test.sh                 run everything
#   integration/test.sh guard           extra arguments go to `cargo test` (here: a name filter)
#
# NIGHTSHIFT_RELIABILITY_SEPARATE=1 (.ci/run) leaves the hostile corpus, the fuzz targets and the
# model check to integration/reliability.sh, so that CI runs each once, with its tables printed.
#
# Needs only what a fresh machine has: cargo, python3. The Lambda sandbox tests also need
# bubblewrap and the HTML report test Debian's chromium; as root this script installs them from
# Debian's packages when they are missing.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

if ! command -v bwrap >/dev/null 2>&1 && [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
  echo "test: installing bubblewrap (the Lambda-like sandbox of the end-to-end tests)" >&2
  apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap >&2
fi

if ! command -v chromium >/dev/null 2>&1 && [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
  echo "test: installing chromium (renders the HTML night report in the report tests)" >&2
  apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >&2
fi

# A server of our own (not one a developer left running), stopped however the tests end.
export NIGHTSHIFT_EMULATOR_STATE="$repo/target/emulator-test"
integration/emulator/emulator.sh stop
eval "$(integration/emulator/emulator.sh start)"
trap 'integration/emulator/emulator.sh stop' EXIT

if [[ ${NIGHTSHIFT_RELIABILITY_SEPARATE:-0} == 1 && $# == 0 ]]; then
  # .ci/run runs the hostile corpus, the fuzz targets and the model check once, in
  # integration/reliability.sh, which prints their tables; everything else runs here.
  cargo test --locked --workspace --lib --bins --examples --test integration -- --skip hostile:: --skip fuzz::
else
  # --workspace: the root package and the shared test harness (integration/support).
  cargo test --locked --workspace --all-targets "$@"
fi

# The documentation tests, which --all-targets leaves out: among them the compile-fail examples
# showing that an unvetted scaling call, an adapter's SDK client and its mutating methods do not
# compile outside src/aws (plan::safety::VettedCall, aws::scaling::ScalingClients).
if [[ $# == 0 ]]; then
  cargo test --locked --doc -p nightshift
fi
