#!/usr/bin/env bash
# The reliability suite (RELIABILITY.md): the real bootstrap through a Lambda Runtime
# API host, the real SDK through a recording / fault-injecting proxy, moto_server behind it.
#
#   integration/reliability.sh [--long] [--seed N] [--part storm|crash|rehearsal|faults|slow]...
#
# Parts (each prints one table of counts; the run exits non-zero if any invariant is violated:
# double actions, lost records, stuck leases, panics, final-state mismatches):
#   1 storm   64 concurrent deliveries of one event over 8 bootstrap processes, per step kind
#   2 crash   kill -9 of the bootstrap at each step boundary, then the redelivery
#   2b rehearsal  the same crash with a rehearsal "now" (the lease must still expire)
#   3 faults  whole nights through throttling, 5xx, slow answers and lost answers
#   6 slow    whole nights of the contract's schedule against AWS at its real speed (the
#             emulator's lifecycle mode: instances that take minutes, refusals meanwhile), and
#             the night's capacity figures (lead, idle after the batch, hours above the baseline)
#   4-5       hostile corpus and fuzzing (cargo test --test integration -- hostile:: fuzz::)
#   model     the model check (cargo test --test model)
# Default: bounded (fits CI's budget on 2 cores); --long: 20 storm rounds, 20 random crash points
# more, 24 fault nights, every slow night with 3 seeds. Randomness is seeded: the seed is
# printed, --seed N replays its choices.
#
# Environment:
#   NIGHTSHIFT_BOOTSTRAP_BIN   the bootstrap to test (CI: target/release/bootstrap); default: the
#                              debug build, built here with cargo (a no-op when it is fresh)
#   NIGHTSHIFT_CLI_BIN         the nightshift CLI (migrate); default: next to the bootstrap, else debug
#   NIGHTSHIFT_RELIABILITY_STATE  where the suite's own emulator and logs live
#                              (default target/reliability)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
cd "$repo"
started=$SECONDS

say() { echo "reliability: $*" >&2; }

long=0
selected=0 # 1 when --part picks some of parts 1-3: the hooks below then stay out of the run
for arg in "$@"; do
  [[ $arg == --long ]] && long=1
  [[ $arg == --part || $arg == --part=* ]] && selected=1
  [[ $arg == -h || $arg == --help ]] && awk 'NR > 1 && /^#/ { print; next } NR > 1 { exit }' "$0" && exit 0
done

target_dir=${CARGO_TARGET_DIR:-$repo/target}
state=${NIGHTSHIFT_RELIABILITY_STATE:-$target_dir/reliability}
mkdir -p "$state"

# --- the binaries --------------------------------------------------------------------------
if [[ -n ${NIGHTSHIFT_BOOTSTRAP_BIN:-} ]]; then
  bootstrap=$NIGHTSHIFT_BOOTSTRAP_BIN
  [[ -x $bootstrap ]] || { say "NIGHTSHIFT_BOOTSTRAP_BIN=$bootstrap is not an executable file"; exit 2; }
  # The harness starts it from other working directories: an absolute path (CI passes a relative one).
  bootstrap=$(realpath "$bootstrap")
else
  say "building bootstrap and nightshift (debug; set NIGHTSHIFT_BOOTSTRAP_BIN to test another build)"
  cargo build --bin bootstrap --bin nightshift >&2
  bootstrap=$target_dir/debug/bootstrap
fi
cli=${NIGHTSHIFT_CLI_BIN:-}
[[ -n $cli ]] && cli=$(realpath "$cli")
if [[ -z $cli ]]; then
  if [[ -x $(dirname "$bootstrap")/nightshift ]]; then
    cli=$(dirname "$bootstrap")/nightshift
  else
    cli=$target_dir/debug/nightshift
    [[ -x $cli ]] || cargo build --bin nightshift >&2
  fi
fi

# --- the emulator: our own, stopped on exit ----------------------------------------------------
emulator=$repo/integration/emulator/emulator.sh
"$emulator" setup
export NIGHTSHIFT_EMULATOR_STATE=$state/emulator
eval "$("$emulator" start)"
trap '"$emulator" stop' EXIT
python=${NIGHTSHIFT_VENV:-$repo/.venv}/bin/python
export PYTHONDONTWRITEBYTECODE=1

status=0

# One part run by a command, framed and timed like the Python parts: `run_part NAME CMD...`.
run_part() {
  local name=$1 t=$SECONDS rc=0
  shift
  echo
  echo "== $name: $*"
  "$@" || rc=$?
  echo "($name: $((SECONDS - t))s, exit status $rc)"
  return "$rc"
}

# --- parts 1-3: storm, crash, faults ----------------------------------------------------------
logs=$state/run-$(date -u +%Y%m%dT%H%M%SZ)
"$python" "$here/reliability/run.py" \
  --emulator "$NIGHTSHIFT_EMULATOR_URL" --bootstrap "$bootstrap" --nightshift "$cli" \
  --workdir "$logs" "$@" || status=1

# --- parts 4-5: the hostile corpus and the fuzz targets (integration/tests/hostile.rs, fuzz.rs) ---
# The same bootstrap and the emulator above; --long runs 20,000 fuzz cases per generator.
export NIGHTSHIFT_BOOTSTRAP_BIN=$bootstrap
fuzz_cases=()
((long)) && fuzz_cases=(NIGHTSHIFT_FUZZ_CASES=20000)
((selected)) || run_part "hostile input and fuzzing" env "${fuzz_cases[@]}" \
  cargo test --locked --test integration -- hostile:: fuzz:: --nocapture --test-threads 2 || status=1

# --- the model check of the exactly-once protocol (integration/model/) ----------------------------
# --long explores the deep bound (about 4 minutes and 2 GB here).
model_env=()
((long)) && model_env=(NIGHTSHIFT_MODEL_DEEP=1)
((selected)) || run_part "model check" env "${model_env[@]}" \
  cargo test --locked --test model -- --nocapture --test-threads 2 || status=1

say "done in $((SECONDS - started))s ($([[ $long == 1 ]] && echo long || echo bounded) mode), exit status $status"
exit "$status"
