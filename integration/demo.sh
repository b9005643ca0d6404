#!/usr/bin/env bash
# The main-job command (README, "The two commands"): one whole night of nightshift on this machine.
#
#   integration/demo.sh
#
# Starts a local AWS emulator of its own, creates the contract's DocumentDB cluster (with its
# writer), ECS service (with a scalable target) and batch metric, applies migrations/ with
# `nightshift migrate`, then plays the night through the Lambda Runtime API against the real
# `bootstrap` (in the Lambda-like sandbox when bubblewrap and root are available): scale-up, the
# same scale-up delivered again, checks while the batch is busy, the metric going quiet, an ECS
# completion event, scale-down. It prints every answer, the run history and the end state, and
# stops the emulator. Exit status 0 means the night ended with everything back at its baseline.
#
# Needs only cargo and python3: the emulator's virtualenv is created on first use.
#   NIGHTSHIFT_DEMO_PROFILE   dev (default: quick to build, shares the test build) or release (what ships)
#   NIGHTSHIFT_BOOTSTRAP_BIN  run this bootstrap instead of the profile's (CI: the release build)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
cd "$repo"

profile=${NIGHTSHIFT_DEMO_PROFILE:-dev}
case $profile in
  release) out=target/release ;;
  dev) out=target/debug ;;
  *) echo "demo: NIGHTSHIFT_DEMO_PROFILE must be release or dev" >&2 && exit 2 ;;
esac
target_dir=${CARGO_TARGET_DIR:-$repo/target}
out=$target_dir/${out#target/}

# An emulator of the demo's own: the demo resets it, which must never touch the tests' server.
export NIGHTSHIFT_EMULATOR_STATE=${NIGHTSHIFT_DEMO_EMULATOR_STATE:-$target_dir/demo/emulator}
emulator=$repo/integration/emulator/emulator.sh

echo "demo: building bootstrap, nightshift and the night player ($profile profile)" >&2
cargo build --profile "$profile" --bin bootstrap --bin nightshift --example night >&2

eval "$("$emulator" start)"
trap '"$emulator" stop' EXIT

export NIGHTSHIFT_TABLE=nightshift-runs
export NIGHTSHIFT_BOOTSTRAP_BIN=${NIGHTSHIFT_BOOTSTRAP_BIN:-$out/bootstrap}
# The CLI's AWS SDK, pointed at the emulator (the night player sets the function's own).
export AWS_ENDPOINT_URL=$NIGHTSHIFT_EMULATOR_URL AWS_REGION=us-east-1 \
  AWS_ACCESS_KEY_ID=AKIDNIGHTSHIFTDEMO AWS_SECRET_ACCESS_KEY=nightshift-demo-secret \
  AWS_EC2_METADATA_DISABLED=true

"$out/examples/night" seed
"$out/nightshift" migrate --table "$NIGHTSHIFT_TABLE"
"$out/examples/night" play
