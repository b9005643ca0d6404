# shellcheck shell=bash
# Steps with a log each and one summary: sourced by .ci/run, integration/reliability.sh and
# integration/load-check.sh, so that a failed run always says which step failed, which tests,
# and where the whole output is.
#
#   steps_init DIR [PREFIX]   logs go to DIR/NAME.log (kept); step names are shown as PREFIX/NAME.
#                             The summary (one row per step: name, start, duration in seconds,
#                             exit status, log) is DIR/summary.tsv, started afresh. A run started
#                             by a step (reliability.sh under .ci/run) is nested: its logs go to
#                             the step's directory ($NIGHTSHIFT_CI_STEP_DIR, instead of DIR), its
#                             names are prefixed with the step's ($NIGHTSHIFT_CI_STEP, instead of
#                             PREFIX) and its rows join the parent's summary
#                             ($NIGHTSHIFT_CI_SUMMARY).
#   steps_run [--show] [--bg] NAME CMD...
#                             run CMD with all its output in the step's log, stdin from /dev/null.
#                             The console gets a line when it starts and one when it ends, nothing
#                             else: --show also copies CMD's standard output there (tables), never
#                             its standard error (compiler output). --bg starts it in the
#                             background in a process group of its own (an external command, not a
#                             shell function) and returns at once: collect it with
#                             `steps_run --wait NAME`. Returns CMD's exit status; STEPS_LAST names
#                             the step.
#   steps_run --wait NAME     wait for a background step; returns its exit status
#   steps_stop_background     stop the background steps still running (a failed run)
#   steps_explain NAME        why a step failed: its failing nested steps, the failing test names
#                             (cargo test's and the reliability parts'), the compiler's errors, the
#                             last $STEPS_TAIL (60) lines of its log
#   steps_table [WALL_S]      the summary's rows of this run (with its PREFIX, if any) as a table,
#                             with the run's wall time when given

STEPS_TAIL=${STEPS_TAIL:-60}
declare -gA _steps_bg=()  # name -> "pid start_epoch"
declare -gA _steps_status=() # name -> exit status, for the steps of this shell

steps_init() {
  if [[ -n ${NIGHTSHIFT_CI_STEP:-} && -n ${NIGHTSHIFT_CI_SUMMARY:-} ]]; then
    STEPS_DIR=${NIGHTSHIFT_CI_STEP_DIR:-$1}
    STEPS_PREFIX=$NIGHTSHIFT_CI_STEP/
    STEPS_SUMMARY=$NIGHTSHIFT_CI_SUMMARY
    mkdir -p "$STEPS_DIR"
  else
    STEPS_DIR=$1
    STEPS_PREFIX=${2:+$2/}
    STEPS_SUMMARY=$STEPS_DIR/summary.tsv
    mkdir -p "$STEPS_DIR"
    printf 'step\tstart\tduration_s\texit_status\tlog\n' >"$STEPS_SUMMARY"
  fi
}

steps_duration() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }

_steps_log() { printf '%s/%s.log' "$STEPS_DIR" "$1"; }

# Record a finished step: the summary row and the console line.
_steps_done() { # name start rc [end]
  local name=$1 start=$2 rc=$3 took
  took=$((${4:-$(date +%s)} - start))
  _steps_status[$name]=$rc
  printf '%s%s\t%s\t%s\t%s\t%s\n' "$STEPS_PREFIX" "$name" "$(date -u -d "@$start" +%FT%TZ)" \
    "$took" "$rc" "$(_steps_log "$name")" >>"$STEPS_SUMMARY"
  if ((rc == 0)); then
    printf '   %s%s: ok in %s\n' "$STEPS_PREFIX" "$name" "$(steps_duration "$took")"
  else
    printf '   %s%s: FAILED (exit status %s) in %s; log: %s\n' "$STEPS_PREFIX" "$name" "$rc" \
      "$(steps_duration "$took")" "$(_steps_log "$name")"
  fi
}

steps_run() {
  local show=0 bg=0
  while [[ ${1:-} == --* ]]; do
    case $1 in
      --show) show=1 ;;
      --bg) bg=1 ;;
      --wait)
        STEPS_LAST=$2
        _steps_wait "$2"
        return
        ;;
      *)
        echo "steps_run: unknown option $1" >&2
        return 2
        ;;
    esac
    shift
  done
  local name=$1
  shift
  STEPS_LAST=$name
  if [[ ! $name =~ ^[A-Za-z0-9._-]+$ ]]; then
    echo "steps_run: step name '$name' must be letters, digits, '.', '_' or '-' (it names a file)" >&2
    return 2
  fi
  local log start rc=0
  log=$(_steps_log "$name")
  start=$(date +%s)
  local shown="$*"
  ((${#shown} <= 100)) || shown="${shown:0:97}..."
  printf '== %s%s (%s%s): %s\n' "$STEPS_PREFIX" "$name" "$(date -u +%H:%M:%S)" \
    "$( ((bg)) && echo ', in the background')" "$shown"
  printf '# step %s%s: %s\n# started %s\n' "$STEPS_PREFIX" "$name" "$*" "$(date -u +%FT%TZ)" >"$log"
  # What a nested run (steps_init) needs to add its steps under this one.
  local nest=(NIGHTSHIFT_CI_STEP="$STEPS_PREFIX$name" NIGHTSHIFT_CI_STEP_DIR="$STEPS_DIR/$name"
    NIGHTSHIFT_CI_SUMMARY="$STEPS_SUMMARY")
  if ((bg)); then
    # setsid: a group of its own, so that a failed run can stop it with everything it started.
    # The end time is written when CMD ends, not when the step is collected.
    rm -f "$log.end"
    # shellcheck disable=SC2016
    env "${nest[@]}" setsid bash -c '"$@"; rc=$?; date +%s >"$0"; exit "$rc"' "$log.end" "$@" \
      >>"$log" 2>&1 </dev/null &
    _steps_bg[$name]="$! $start"
    return 0
  fi
  if ((show)); then
    if { _steps_nested "$@" 2>>"$log" </dev/null; } | tee -a "$log"; then rc=0; else rc=${PIPESTATUS[0]}; fi
  else
    _steps_nested "$@" >>"$log" 2>&1 </dev/null || rc=$?
  fi
  printf '# exit status %s\n' "$rc" >>"$log"
  _steps_done "$name" "$start" "$rc"
  return "$rc"
}

# Run CMD (a command or a shell function) with the nesting variables of `nest` (steps_run's).
_steps_nested() {
  local NIGHTSHIFT_CI_STEP=${nest[0]#*=} NIGHTSHIFT_CI_STEP_DIR=${nest[1]#*=} NIGHTSHIFT_CI_SUMMARY=${nest[2]#*=}
  export NIGHTSHIFT_CI_STEP NIGHTSHIFT_CI_STEP_DIR NIGHTSHIFT_CI_SUMMARY
  "$@"
}

_steps_wait() {
  local name=$1 pid start rc=0
  [[ -n ${_steps_bg[$name]:-} ]] || {
    echo "steps_run --wait: no background step '$name'" >&2
    return 2
  }
  read -r pid start <<<"${_steps_bg[$name]}"
  unset "_steps_bg[$name]"
  wait "$pid" || rc=$?
  local log end
  log=$(_steps_log "$name")
  end=$(cat "$log.end" 2>/dev/null || date +%s)
  rm -f "$log.end"
  printf '# exit status %s\n' "$rc" >>"$log"
  _steps_done "$name" "$start" "$rc" "$end"
  return "$rc"
}

steps_stop_background() {
  local name pid start
  for name in "${!_steps_bg[@]}"; do
    read -r pid start <<<"${_steps_bg[$name]}"
    if [[ -f $(_steps_log "$name").end ]]; then
      _steps_wait "$name" || true # it had ended: record how
      continue
    fi
    echo "   stopping the background step $STEPS_PREFIX$name (process group $pid)"
    kill -TERM -- "-$pid" 2>/dev/null || true
    _steps_wait "$name" >/dev/null || true
  done
}

# The failing tests of a log: cargo test's (`---- NAME stdout ----` and the `failures:` list, with
# the test binary they ran in), the reliability parts' violations, the compiler's errors.
_steps_findings() { # log
  awk '
    /^ *Running / { binary = $0; sub(/^ *Running /, "", binary); sub(/ \(.*$/, "", binary) }
    /^---- .* stdout ----$/ { name = $2; if (!(name in seen)) { seen[name] = 1; order[++n] = name; where[name] = binary } ; list = 0; next }
    /^failures:$/ { list = 1; next }
    /^test result:/ { list = 0 }
    list && /^    [^ ]+$/ { name = $1; if (!(name in seen)) { seen[name] = 1; order[++n] = name; where[name] = binary } }
    /^VIOLATIONS in / || /^Part .*: the harness failed/ { viol[++v] = $0; inviol = 1; next }
    inviol && /^  (- |\.\.\.)/ { if (++vl <= 20) viol[++v] = $0; next }
    { inviol = 0 }
    /^error(\[E[0-9]+\])?: / { if (++e <= 10) err[e] = $0; grab = 1; next }
    grab && /^ *--> / { err[e] = err[e] "\n    " $0; grab = 0; next }
    /^thread .* panicked at / && !(n) { if (++p <= 3) pan[p] = $0 }
    END {
      if (n) { printf "failing tests (%d):\n", n; for (i = 1; i <= n; i++) printf "    %s%s\n", order[i], (where[order[i]] ? "   (" where[order[i]] ")" : "") }
      if (v) { print "violations:"; for (i = 1; i <= v; i++) print "    " viol[i] }
      if (e) { print "errors:"; for (i = 1; i <= e && i <= 10; i++) print "    " err[i] }
      if (p && !n) { print "panics:"; for (i = 1; i <= p; i++) print "    " pan[i] }
    }' "$1"
}

# What each failing cargo test printed (the panic message), a few lines per test, without the
# backtrace (RUST_BACKTRACE=1 prints one per panic; the log keeps it).
_steps_test_output() { # log
  awk '
    /^---- .* stdout ----$/ { if (++t > 5) exit; show = 1; lines = 0; print; next }
    show && (/^---- .* stdout ----$/ || /^failures:$/) { show = 0 }
    show && /^stack backtrace:$/ { show = 0 }
    show && NF && ++lines <= 15 { print }
  ' "$1"
}

# The end of a log, without backtrace frames: the lines that say what happened.
_steps_tail() { # log
  local frames
  frames=$(grep -cE '^ +([0-9]+: |at /|at \./)' "$1" || true)
  grep -vE '^ +([0-9]+: |at /|at \./)' "$1" | tail -n "$STEPS_TAIL"
  ((frames == 0)) || echo "($frames backtrace lines left out here; they are in the log)"
}

steps_explain() {
  local name=$1 row log rc took nested
  row=$(awk -F'\t' -v n="$STEPS_PREFIX$name" '$1 == n { r = $0 } END { print r }' "$STEPS_SUMMARY")
  IFS=$'\t' read -r _ _ took rc log <<<"$row"
  log=${log:-$(_steps_log "$name")}
  echo
  echo "================================================================================"
  echo "FAILED: step $STEPS_PREFIX$name (exit status ${rc:-?} after $(steps_duration "${took:-0}"))"
  echo "full log: $log"
  # A step that runs steps of its own (the reliability suite): name its failing parts and explain
  # from their logs, where the failure's details are.
  nested=$(awk -F'\t' -v p="$STEPS_PREFIX$name/" 'index($1, p) == 1 && $4 != 0 { print $1 "\t" $4 "\t" $5 }' "$STEPS_SUMMARY")
  local logs=("$log")
  if [[ -n $nested ]]; then
    echo "failing parts:"
    local part prc plog
    logs=()
    while IFS=$'\t' read -r part prc plog; do
      echo "    $part (exit status $prc; log: $plog)"
      logs+=("$plog")
    done <<<"$nested"
  fi
  local l
  for l in "${logs[@]}"; do
    [[ -f $l ]] || continue
    ((${#logs[@]} == 1)) || printf -- '--- %s\n' "$l"
    _steps_findings "$l"
    _steps_test_output "$l"
    echo "--- the last $STEPS_TAIL lines of $l:"
    _steps_tail "$l"
  done
  echo "================================================================================"
}

# One line naming the failure, its failing parts and tests, for the very end of a failed run.
steps_failure_line() { # name
  local name=$1 log parts tests l
  log=$(_steps_log "$name")
  parts=$(awk -F'\t' -v p="$STEPS_PREFIX$name/" 'index($1, p) == 1 && $4 != 0 { print $1 }' "$STEPS_SUMMARY" | paste -sd' ' -)
  tests=$(for l in "$log" $(awk -F'\t' -v p="$STEPS_PREFIX$name/" 'index($1, p) == 1 && $4 != 0 { print $5 }' "$STEPS_SUMMARY"); do
    [[ -f $l ]] && _steps_findings "$l"
  done | awk '/^failing tests/ { t = 1; next } /^[a-z]/ { t = 0 } t && !seen[$1]++ { print $1 }' | head -n 8 | paste -sd' ' -)
  printf 'FAILED at step %s%s (exit status %s)%s%s; full log: %s\n' "$STEPS_PREFIX" "$name" \
    "${_steps_status[$name]:-?}" "${parts:+; failing parts: $parts}" "${tests:+; failing tests: $tests}" "$log"
}

steps_table() { # [wall seconds]
  echo
  awk -F'\t' -v wall="${1:-}" -v prefix="$STEPS_PREFIX" '
    function dur(s) { return sprintf("%dm%02ds", int(s / 60), s % 60) }
    NR == 1 || (prefix != "" && index($1, prefix) != 1) { next }
    { rows[++n] = $0; first[$1] = $2; order[$1] = n; if (length($1) > w) w = length($1) }
    END {
      if (w < 4) w = 4
      fmt = "%-" w "s  %-8s  %8s  %-11s  %s\n"
      printf fmt, "step", "start", "duration", "status", "log"
      # Steps by start time; a nested run'"'"'s rows right after the step that ran them (by the
      # start of their top-level step, then their own). Insertion sort: stable.
      for (i = 1; i <= n; i++) {
        split(rows[i], r, "\t")
        rest = substr(r[1], length(prefix) + 1)
        top = prefix (index(rest, "/") ? substr(rest, 1, index(rest, "/") - 1) : rest)
        key[i] = (top in first ? first[top] : r[2]) "\t" sprintf("%05d", top in order ? order[top] : i) "\t" (r[1] == top ? 0 : 1) "\t" r[2] "\t" sprintf("%05d", i)
      }
      for (i = 2; i <= n; i++) {
        row = rows[i]; k = key[i]
        for (j = i - 1; j >= 1 && key[j] > k; j--) { rows[j + 1] = rows[j]; key[j + 1] = key[j] }
        rows[j + 1] = row; key[j + 1] = k
      }
      for (i = 1; i <= n; i++) {
        split(rows[i], r, "\t")
        printf fmt, r[1], substr(r[2], 12, 8), dur(r[3]), (r[4] == 0 ? "ok" : "FAILED(" r[4] ")"), r[5]
      }
      if (wall != "") printf fmt, "total (wall)", "", dur(wall), "", ""
    }' "$STEPS_SUMMARY"
}
