#!/usr/bin/env bash
# The local AWS emulator of nightshift's integration tests: moto_server plus launcher.py's patches.
#
#   emulator.sh setup   create or update the virtualenv from requirements.txt (no-op when current)
#   emulator.sh start   start the emulator on a loopback port (or find it running) and print
#                       `export NIGHTSHIFT_EMULATOR_URL=http://127.0.0.1:PORT`; use it as
#                       eval "$(integration/emulator/emulator.sh start)"
#   emulator.sh stop    stop it (nothing to do when it is not running)
#   emulator.sh url     print the URL of the running emulator
#
# Environment: NIGHTSHIFT_VENV (default <repo>/.venv), NIGHTSHIFT_EMULATOR_STATE (default
# <repo>/target/emulator: pid, url and log files). Give each concurrent user of one work tree its
# own NIGHTSHIFT_EMULATOR_STATE, or they share one server (and one `stop`).
# The server binds port 0 and reports the port the kernel gave it (launcher.py --port-file): a port
# chosen here and bound there could be taken by another process in between.
# Only the export line goes to stdout; progress and errors go to stderr.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
venv=${NIGHTSHIFT_VENV:-$repo/.venv}
state=${NIGHTSHIFT_EMULATOR_STATE:-$repo/target/emulator}
requirements=$here/requirements.txt
stamp=$venv/.nightshift-emulator-requirements.sha256
python=$venv/bin/python
pid_file=$state/pid
url_file=$state/url
port_file=$state/port
log_file=$state/emulator.log
# Only a backstop for a server that hangs without exiting (an exit is seen at once): importing moto
# takes seconds on an idle machine and several times that on a loaded one, so the limit is generous.
start_timeout_s=300
# How long one probe waits for an answer; a loaded machine can be slow to answer the first request,
# and a slow answer must not be taken for a dead server (which `start` would then replace).
probe_timeout_s=30

say() { echo "emulator: $*" >&2; }
die() {
  say "$*"
  exit 1
}

setup() {
  command -v python3 >/dev/null || die "python3 is not installed; install Python 3.11+ and retry."
  mkdir -p "$venv"
  # Two setups at once (two shells, or CI next to a developer) must not interleave pip runs.
  exec 8>"$venv/.nightshift-setup.lock"
  flock 8
  local want
  want=$(sha256sum "$requirements" | cut -d' ' -f1)
  if [[ -x $python && -f $stamp && $(<"$stamp") == "$want" ]] && "$python" -c '' 2>/dev/null; then
    exec 8>&-
    return 0
  fi
  say "installing $requirements into $venv (takes a minute the first time)"
  rm -f "$stamp"
  python3 -m venv "$venv"
  "$python" -m pip install --quiet --disable-pip-version-check --no-input -r "$requirements" >&2 ||
    die "pip could not install $requirements into $venv; see the messages above."
  echo "$want" >"$stamp"
  exec 8>&-
  say "virtualenv ready: $venv"
}

# The pid of the running emulator of this state directory, or nothing.
running_pid() {
  [[ -f $pid_file ]] || return 0
  local pid
  pid=$(<"$pid_file")
  # A pid file can outlive its process and the pid be reused: check it is still our launcher.
  if [[ $pid =~ ^[0-9]+$ ]] && grep -qs "launcher.py" "/proc/$pid/cmdline"; then
    echo "$pid"
  fi
}

answers() {
  "$python" - "$1/moto-api/" "$probe_timeout_s" <<'PY' 2>/dev/null
import sys, urllib.request
urllib.request.urlopen(sys.argv[1], timeout=float(sys.argv[2])).read()
PY
}

start() {
  setup
  mkdir -p "$state"
  exec 9>"$state/start.lock"
  flock 9
  local pid url
  pid=$(running_pid)
  if [[ -n $pid && -f $url_file ]] && answers "$(<"$url_file")"; then
    say "already running (pid $pid)"
    echo "export NIGHTSHIFT_EMULATOR_URL=$(<"$url_file")"
    return 0
  fi
  [[ -z $pid ]] || stop_pid "$pid"
  rm -f "$pid_file" "$url_file" "$port_file"

  # No stdout/stderr/stdin inherited: `eval "$(emulator.sh start)"` must not wait for the server.
  # Nor the lock: fd 9 stays held by the server otherwise, and the next start would hang.
  nohup "$python" "$here/launcher.py" --host 127.0.0.1 --port 0 --port-file "$port_file" \
    >"$log_file" 2>&1 </dev/null 9>&- &
  pid=$!
  echo "$pid" >"$pid_file"

  # The port file appears once the server listens; then it answers.
  local deadline=$((SECONDS + start_timeout_s))
  until [[ -s $port_file ]] && answers "http://127.0.0.1:$(<"$port_file")"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      rm -f "$pid_file"
      tail -n 20 "$log_file" >&2 || true
      die "the emulator exited during start-up; full log: $log_file"
    fi
    if ((SECONDS >= deadline)); then
      stop_pid "$pid"
      rm -f "$pid_file"
      tail -n 20 "$log_file" >&2 || true
      die "the emulator did not answer within ${start_timeout_s}s; log: $log_file"
    fi
    sleep 0.2
  done
  url=http://127.0.0.1:$(<"$port_file")
  echo "$url" >"$url_file"
  say "started on $url (pid $pid, log $log_file)"
  echo "export NIGHTSHIFT_EMULATOR_URL=$url"
}

stop_pid() {
  local pid=$1
  kill "$pid" 2>/dev/null || return 0
  for _ in $(seq 50); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  say "pid $pid ignored SIGTERM for 5s; killing it"
  kill -KILL "$pid" 2>/dev/null || true
}

stop() {
  local pid
  pid=$(running_pid)
  if [[ -n $pid ]]; then
    stop_pid "$pid"
    say "stopped (pid $pid)"
  else
    say "not running"
  fi
  rm -f "$pid_file" "$url_file" "$port_file"
}

url() {
  [[ -n $(running_pid) && -f $url_file ]] ||
    die "not running; start it with: eval \"\$(integration/emulator/emulator.sh start)\""
  cat "$url_file"
}

case "${1:-}" in
  setup | start | stop | url) "$1" ;;
  *) die "usage: $0 setup|start|stop|url" ;;
esac
