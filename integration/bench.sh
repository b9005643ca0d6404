#!/usr/bin/env bash
# nightshift's benchmarks: figures printed as Markdown tables (BENCHMARKS.md), never assertions.
#
#   integration/bench.sh                  every section
#   integration/bench.sh cold queries     some sections: calls, cold, events, queries, side
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
#   NIGHTSHIFT_BENCH_SIZES       runs per history table ("100,10000")
#   NIGHTSHIFT_FLOOR_BIN         the floor binary (else built beside the bootstrap, same profile)
#   NIGHTSHIFT_BENCH_PYTHON      the Python baseline's interpreter (else a virtualenv under
#                                target/bench/python-venv from integration/bench/python/requirements.txt)
#   NIGHTSHIFT_BENCH_SIDE_N      cold starts per function in the side-by-side (20)
#   NIGHTSHIFT_BENCH_SIDE_ROUNDS nights per function in the side-by-side (3)
#   NIGHTSHIFT_BENCH_CALLGRIND_REPS  runs under callgrind per Rust function (3; 0 skips)
#
# The cold section also measures the container image of the same bootstrap (built here with
# integration/image/build.sh into target/bench/image; podman and runc, installed by it as root).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
target_dir=${CARGO_TARGET_DIR:-$repo/target}

# The floor (integration/bench/floor) is built in the same cargo command as bootstrap, so that its
# dependencies resolve with nightshift's features and reuse the same artifacts.
if [[ -z ${NIGHTSHIFT_BOOTSTRAP_BIN:-} ]]; then
  echo "bench: building the release bootstrap and the floor" >&2
  cargo build --locked --release -p nightshift -p nightshift-bench-floor --bin bootstrap --bin floor >&2
  export NIGHTSHIFT_BOOTSTRAP_BIN=$target_dir/release/bootstrap
  export NIGHTSHIFT_FLOOR_BIN=${NIGHTSHIFT_FLOOR_BIN:-$target_dir/release/floor}
elif [[ -z ${NIGHTSHIFT_FLOOR_BIN:-} ]]; then
  # A given bootstrap: the floor in the same profile, beside it if it is one of this target dir's.
  profile=()
  [[ $NIGHTSHIFT_BOOTSTRAP_BIN == */release/* ]] && profile=(--release)
  echo "bench: building the floor ${profile[*]}" >&2
  cargo build --locked "${profile[@]}" -p nightshift -p nightshift-bench-floor --bin floor >&2
  if [[ ${profile[*]} == --release ]]; then
    export NIGHTSHIFT_FLOOR_BIN=$target_dir/release/floor
  else
    export NIGHTSHIFT_FLOOR_BIN=$target_dir/debug/floor
  fi
fi
# The Python baseline (integration/bench/python): a virtualenv of its own from PyPI, wheels only,
# remade when requirements.txt changes. NIGHTSHIFT_BENCH_PYTHON_BASE picks the interpreter.
if [[ -z ${NIGHTSHIFT_BENCH_PYTHON:-} ]]; then
  venv=$target_dir/bench/python-venv
  requirements=$repo/integration/bench/python/requirements.txt
  if [[ ! -x $venv/bin/python ]] || ! cmp -s "$requirements" "$venv/requirements.txt"; then
    echo "bench: making the Python baseline's virtualenv ($venv)" >&2
    rm -rf "$venv"
    if "${NIGHTSHIFT_BENCH_PYTHON_BASE:-python3}" -m venv "$venv" >&2 &&
      "$venv/bin/pip" install --quiet --disable-pip-version-check --only-binary=:all: -r "$requirements" >&2; then
      cp "$requirements" "$venv/requirements.txt"
    else
      echo "bench: could not make the virtualenv: no Python baseline in this run" >&2
      rm -rf "$venv"
    fi
  fi
  [[ -x $venv/bin/python ]] && export NIGHTSHIFT_BENCH_PYTHON=$venv/bin/python
fi
[[ -x $NIGHTSHIFT_BOOTSTRAP_BIN ]] || {
  echo "bench: NIGHTSHIFT_BOOTSTRAP_BIN=$NIGHTSHIFT_BOOTSTRAP_BIN is not an executable" >&2
  exit 2
}
# The container image of that bootstrap, for the cold section's image rows: built with
# integration/image/build.sh into target/bench/image (not the tests' target/image), under a name of
# its own. Without podman (not installable here) the section says so and measures the rest.
export NIGHTSHIFT_IMAGE_DIR=$target_dir/bench/image
if [[ $# == 0 || " $* " == *" all "* || " $* " == *" cold "* ]]; then
  echo "bench: building the container image of $NIGHTSHIFT_BOOTSTRAP_BIN" >&2
  rm -f "$NIGHTSHIFT_IMAGE_DIR/nightshift.oci.json"
  NIGHTSHIFT_IMAGE_NAME=localhost/nightshift:bench "$repo/integration/image/build.sh" "$NIGHTSHIFT_BOOTSTRAP_BIN" >&2 ||
    echo "bench: no container image (exit $?): the cold section measures without it" >&2
fi
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
