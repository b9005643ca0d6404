#!/usr/bin/env bash
# The load check: the test command and the bounded reliability suite, as .ci/run runs them, with two
# cores kept busy by a background load, several times in a row. A test that passes on an idle
# machine and fails here depends on the machine's speed, not on nightshift.
#
#   integration/load-check.sh [--times N] [--busy N]
#
#   --times N   rounds (default 3); each runs integration/test.sh, then integration/reliability.sh
#   --busy N    busy cores (default 2): `stress-ng --cpu N` (installed from Debian's packages when
#               missing and run as root), else N shell busy loops
#
# Builds first (one debug build, before the load starts), then runs every round even after a
# failed one, prints a line per round and a table of every step, and exits non-zero if any failed,
# with each failure's tests and log (.ci/steps.sh). Logs: target/ci/load-check/ (the suite's parts
# under reliability-N/). It takes about 15 minutes a round on 2 cores, and loads the whole machine.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
times=3 busy=2
while (($#)); do
  case $1 in
    --times) times=$2 && shift ;;
    --busy) busy=$2 && shift ;;
    -h | --help) awk 'NR > 1 && /^#/ { print; next } NR > 1 { exit }' "$0" && exit 0 ;;
    *) echo "load-check: unknown argument $1 (see --help)" >&2 && exit 2 ;;
  esac
  shift
done
[[ $times =~ ^[1-9][0-9]*$ && $busy =~ ^[0-9]+$ ]] || { echo "load-check: --times and --busy take whole numbers" >&2 && exit 2; }

export CI=${CI:-true} # as .ci/run: the sandbox and browser tests fail instead of skipping
target_dir=${CARGO_TARGET_DIR:-$repo/target}
debug=$target_dir/debug
out=$target_dir/ci/load-check
rm -rf "$out"
# shellcheck source=../.ci/steps.sh
source "$repo/.ci/steps.sh"
steps_init "$out"

# --- the background load: a process group of its own, stopped however this script ends -----------
load_pid=
stop_load() {
  [[ -n $load_pid ]] && kill -TERM -- "-$load_pid" 2>/dev/null || true
  load_pid=
}
trap 'stop_load; steps_stop_background' EXIT
start_load() {
  ((busy > 0)) || return 0
  if ! command -v stress-ng >/dev/null && [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
    echo "load-check: installing stress-ng (Debian's package)"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq stress-ng) >"$out/stress-ng-install.log" 2>&1 ||
      echo "load-check: could not install stress-ng (see $out/stress-ng-install.log); using shell busy loops"
  fi
  if command -v stress-ng >/dev/null; then
    setsid stress-ng --cpu "$busy" --cpu-method int64 --quiet >"$out/load.log" 2>&1 </dev/null &
    load_pid=$!
    echo "load-check: $busy cores kept busy by stress-ng --cpu $busy (process group $load_pid)"
  else
    # shellcheck disable=SC2016
    setsid bash -c 'for _ in $(seq "$1"); do while :; do :; done & done; wait' _ "$busy" >"$out/load.log" 2>&1 </dev/null &
    load_pid=$!
    echo "load-check: $busy cores kept busy by $busy shell loops (process group $load_pid)"
  fi
}

# --- one build, before the load: what the rounds run is then only tests ---------------------------
steps_run build cargo test --locked --workspace --lib --bins --examples --test integration --test model --no-run || {
  steps_explain build
  exit 1
}
steps_run emulator-setup integration/emulator/emulator.sh setup || {
  steps_explain emulator-setup
  exit 1
}

start_load
failed=() rounds=()
for round in $(seq "$times"); do
  echo
  echo "load-check: round $round of $times (load average $(cut -d' ' -f1-3 /proc/loadavg))"
  verdict=ok
  steps_run "tests-$round" env NIGHTSHIFT_RELIABILITY_SEPARATE=1 NIGHTSHIFT_BOOTSTRAP_BIN="$debug/bootstrap" \
    integration/test.sh || { verdict=FAILED && failed+=("tests-$round"); }
  steps_run "reliability-$round" env NIGHTSHIFT_BOOTSTRAP_BIN="$debug/bootstrap" \
    integration/reliability.sh || { verdict=FAILED && failed+=("reliability-$round"); }
  rounds+=("round $round: $verdict (tests: exit ${_steps_status[tests-$round]}, reliability: exit ${_steps_status[reliability-$round]})")
done
stop_load

steps_table "$SECONDS"
echo
printf 'load-check: %s\n' "${rounds[@]}"
if ((${#failed[@]})); then
  for name in "${failed[@]}"; do
    steps_explain "$name"
    echo "load-check: $(steps_failure_line "$name")"
  done
  echo "load-check: FAILED: ${#failed[@]} failed step(s) in $times round(s) with $busy busy cores"
  exit 1
fi
echo "load-check: all $times round(s) passed with $busy busy cores, in $(steps_duration "$SECONDS")"
