#!/usr/bin/env bash
# nightshift's benchmarks: figures printed as Markdown tables (BENCHMARKS.md), never assertions.
#
#   integration/bench.sh                  every section
#   integration/bench.sh cold queries     some sections: calls, cold, events, queries
#
# Builds the release bootstrap (what the image ships) and the benchmark driver
# (integration/bench/main.rs, `--example bench`), starts a local AWS emulator of its own (state in
# target/bench/emulator; the benchmark resets it between sections, so it must never be the tests'
# or the demo's), runs the benchmark and stops the emulator. The printed tables are also written
# to target/bench/results.md, and bootstrap's logs to target/bench/logs/.
#
#   NIGHTSHIFT_BOOTSTRAP_BIN     measure this bootstrap instead of building target/release/bootstrap
#   NIGHTSHIFT_BENCH_N           cold starts per row (15)
#   NIGHTSHIFT_BENCH_K           events per kind per round (20)
#   NIGHTSHIFT_BENCH_ROUNDS      rounds of the per-event measurements (5)
#   NIGHTSHIFT_BENCH_QUERY_REPS  repetitions of each history query (20)
#   NIGHTSHIFT_BENCH_SIZES       runs per history table ("500,5000")
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
target_dir=${CARGO_TARGET_DIR:-$repo/target}

if [[ -z ${NIGHTSHIFT_BOOTSTRAP_BIN:-} ]]; then
  echo "bench: building the release bootstrap" >&2
  cargo build --locked --release --bin bootstrap >&2
  export NIGHTSHIFT_BOOTSTRAP_BIN=$target_dir/release/bootstrap
fi
[[ -x $NIGHTSHIFT_BOOTSTRAP_BIN ]] || {
  echo "bench: NIGHTSHIFT_BOOTSTRAP_BIN=$NIGHTSHIFT_BOOTSTRAP_BIN is not an executable" >&2
  exit 2
}
# The driver only waits on the function and the emulator: the dev profile (shared with the tests'
# build) is enough, and what is measured is the bootstrap above.
echo "bench: building the benchmark driver" >&2
cargo build --locked --example bench >&2

export NIGHTSHIFT_EMULATOR_STATE=$target_dir/bench/emulator
emulator=$repo/integration/emulator/emulator.sh
"$emulator" stop # a server left behind by an interrupted run
eval "$("$emulator" start)"
trap '"$emulator" stop' EXIT

mkdir -p "$target_dir/bench"
"$target_dir/debug/examples/bench" "$@" | tee "$target_dir/bench/results.md"
