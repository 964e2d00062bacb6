# shellcheck shell=bash
#
# Shared helpers for the local (Docker-free) services. Sourced by services.sh,
# which also sources kafka.sh, redis.sh and mlflow.sh. Not meant to be run.
#
# Conventions
#   * Every service we start runs in its own session/process group (setsid), so
#     the group id equals the pid in <state>/run/<name>.pid and stopping the
#     group also stops its children (e.g. mlflow's uvicorn worker).
#   * Progress messages go to stderr; stdout of `services.sh up` carries only
#     the `export VAR=value` lines, so `eval "$(bash infra/local/services.sh up)"`
#     works.

# --- paths -------------------------------------------------------------------

LOCAL_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$LOCAL_DIR/../.." && pwd)
STATE_DIR=${FRAUDSTREAM_STATE_DIR:-$REPO_ROOT/.local/services}
# shellcheck disable=SC2034  # used by kafka.sh
CACHE_DIR=${FRAUDSTREAM_CACHE:-${HOME:-/root}/.cache/fraudstream}
LOG_DIR=$STATE_DIR/logs
RUN_DIR=$STATE_DIR/run

# Everything binds to loopback only.
readonly BIND_HOST=127.0.0.1

# --- messages ----------------------------------------------------------------

log() { printf '[services] %s\n' "$*" >&2; }
warn() { printf '[services] WARNING: %s\n' "$*" >&2; }
die() {
  printf '[services] ERROR: %s\n' "$*" >&2
  exit 1
}

# Print the last lines of a log file to stderr (used when a start fails).
show_log_tail() {
  local file=$1 lines=${2:-60}
  if [[ -s $file ]]; then
    printf '[services] ---- last %s lines of %s ----\n' "$lines" "$file" >&2
    tail -n "$lines" "$file" >&2
    printf '[services] ---- end of %s ----\n' "$file" >&2
  else
    printf '[services] (%s is empty or missing)\n' "$file" >&2
  fi
}

# Fail early, with a clear message, on a malformed port number.
require_port() {
  local name=$1 value=$2
  if ! [[ $value =~ ^[0-9]+$ ]] || ((value < 1 || value > 65535)); then
    die "$name must be a TCP port number, got '$value'"
  fi
}

ensure_state_dirs() {
  mkdir -p "$STATE_DIR" "$LOG_DIR" "$RUN_DIR"
}

# Serialise concurrent `up`/`down` calls on the same state folder. The lock is
# held by file descriptor 9 until the calling script exits; services started
# meanwhile get fd 9 closed (see start_detached) so they do not keep it.
take_lock() {
  ensure_state_dirs
  exec 9>"$STATE_DIR/.lock"
  if ! flock -w 300 9; then
    die "another services.sh is still running on $STATE_DIR (lock held > 300 s)"
  fi
}

# --- installing missing tools ---------------------------------------------------

# apt_install PKG...: install Debian packages, refreshing the package lists
# once if the first attempt fails. A policy-rc.d that forbids starting
# services is put in place for the duration (unless one already exists), so
# that e.g. installing redis-server does not start a system-wide Redis on 6379.
apt_install() {
  command -v apt-get >/dev/null 2>&1 ||
    die "cannot install '$*': apt-get not found; install it by hand"
  [[ $(id -u) -eq 0 ]] || die "cannot install '$*': not root; install it by hand"

  local policy=/usr/sbin/policy-rc.d placed_policy=0
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    placed_policy=1
  fi

  log "installing Debian package(s): $*"
  local rc=0
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" \
    >"$LOG_DIR/apt-install.log" 2>&1 || rc=$?
  if ((rc != 0)); then
    log "apt-get install failed; running apt-get update and retrying"
    rc=0
    {
      apt-get update -q &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@"
    } >>"$LOG_DIR/apt-install.log" 2>&1 || rc=$?
  fi

  ((placed_policy)) && rm -f "$policy"
  if ((rc != 0)); then
    show_log_tail "$LOG_DIR/apt-install.log" 30
    die "could not install: $*"
  fi
}

# ensure_command CMD PKG...: install PKG... when CMD is not on PATH.
ensure_command() {
  local cmd=$1
  shift
  command -v "$cmd" >/dev/null 2>&1 && return 0
  apt_install "$@"
  command -v "$cmd" >/dev/null 2>&1 || die "'$cmd' still not found after installing $*"
}

# A Python 3 interpreter for the small stdlib-only helper scripts: the
# project's venv if it exists, else the system one.
python_bin() {
  if [[ -x $REPO_ROOT/.venv/bin/python ]]; then
    printf '%s\n' "$REPO_ROOT/.venv/bin/python"
  elif command -v python3 >/dev/null 2>&1; then
    command -v python3
  else
    die "no Python 3 found (neither $REPO_ROOT/.venv/bin/python nor python3)"
  fi
}

# --- processes -----------------------------------------------------------------

pid_file() { printf '%s/%s.pid\n' "$RUN_DIR" "$1"; }

# is_live PID: the process exists and is not a zombie (a killed process whose
# parent never reaps it still answers `kill -0`).
is_live() {
  local pid=$1 state
  [[ -r /proc/$pid/stat ]] || return 1
  # Field 3 of /proc/PID/stat is the state; the command name (field 2) may
  # contain spaces, so cut after its closing parenthesis.
  state=$(sed -e 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1) || return 1
  [[ -n $state && $state != Z && $state != X ]]
}

# cmdline_has PID PATTERN: the process' command line contains PATTERN. Guards
# against acting on a stale pid file whose pid now belongs to someone else.
cmdline_has() {
  local pid=$1 pattern=$2
  [[ -r /proc/$pid/cmdline ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$pattern"
}

# service_pid NAME PATTERN: print the pid of our running service NAME, or
# return 1 (removing a stale pid file) when it is not running.
service_pid() {
  local name=$1 pattern=$2 file pid
  file=$(pid_file "$name")
  [[ -s $file ]] || return 1
  pid=$(<"$file")
  if [[ $pid =~ ^[0-9]+$ ]] && is_live "$pid" && cmdline_has "$pid" "$pattern"; then
    printf '%s\n' "$pid"
    return 0
  fi
  rm -f "$file"
  return 1
}

# group_members PGID: live (non-zombie) pids of process group PGID. Reads
# /proc directly (no fork per process, no dependency on procps).
group_members() {
  local pgid=$1 stat line state pgrp
  for stat in /proc/[0-9]*/stat; do
    read -r line <"$stat" 2>/dev/null || continue # the process just exited
    # Fields after the ")" that closes the command name: state ppid pgrp ...
    read -r state _ pgrp _ <<<"${line##*) }"
    if [[ $pgrp == "$pgid" && $state != Z && $state != X ]]; then
      stat=${stat#/proc/}
      printf '%s\n' "${stat%/stat}"
    fi
  done
  return 0
}

# start_detached NAME LOGFILE CMD [ARG...]
# Start CMD in a new session, under supervise.sh, so that it leads its own
# process group and is tied to neither the calling shell nor a terminal
# (it survives the caller's exit and SIGHUP). stdin is /dev/null, stdout and
# stderr are appended to LOGFILE, the lock fd 9 is not inherited. The pid
# file is written by supervise.sh itself, so it holds the session/group
# leader's pid whether or not setsid had to fork.
start_detached() {
  local name=$1 logfile=$2
  shift 2
  local file
  file=$(pid_file "$name")
  rm -f "$file"
  printf '\n===== %s: starting %s =====\n' "$(date -u '+%Y-%m-%dT%H:%M:%SZ')" "$name" >>"$logfile"
  setsid bash "$LOCAL_DIR/supervise.sh" "$file" "$@" >>"$logfile" 2>&1 </dev/null 9>&- &
  local i
  for ((i = 0; i < 100; i++)); do
    [[ -s $file ]] && return 0
    sleep 0.05
  done
  die "$name did not start (no pid file after 5 s); see $logfile"
}

# stop_service NAME PATTERN TIMEOUT_S
# SIGTERM the process group of our service NAME, wait up to TIMEOUT_S for
# every member to exit, then SIGKILL what is left. No-op when not running.
stop_service() {
  local name=$1 pattern=$2 timeout=$3 pid
  if ! pid=$(service_pid "$name" "$pattern"); then
    log "$name: not running"
    return 0
  fi
  log "$name: stopping (pid/pgid $pid)"
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true

  local deadline=$((SECONDS + timeout))
  while [[ -n $(group_members "$pid") ]]; do
    if ((SECONDS >= deadline)); then
      warn "$name: still running after ${timeout}s, sending SIGKILL"
      kill -KILL -- "-$pid" 2>/dev/null || true
      sleep 0.5
      break
    fi
    sleep 0.2
  done
  if [[ -n $(group_members "$pid") ]]; then
    warn "$name: processes left in group $pid: $(group_members "$pid" | tr '\n' ' ')"
  fi
  rm -f "$(pid_file "$name")"
  log "$name: stopped"
}

# --- network -----------------------------------------------------------------------

# tcp_open PORT: something accepts TCP connections on 127.0.0.1:PORT.
tcp_open() {
  local port=$1
  (exec 3<>"/dev/tcp/$BIND_HOST/$port") 2>/dev/null
}

# require_port_free NAME PORT: fail when a foreign process already listens
# on the port (we would otherwise wait for a service that can never bind).
require_port_free() {
  local name=$1 port=$2
  if tcp_open "$port"; then
    die "$name: port $BIND_HOST:$port is already in use by another process" \
      "(not started by these scripts); stop it or choose another port"
  fi
}

# wait_until NAME TIMEOUT_S PID LOGFILE CHECK [ARG...]
# Poll CHECK until it succeeds. Fails (with the log tail) when the timeout
# passes or when the service process PID dies meanwhile.
wait_until() {
  local name=$1 timeout=$2 pid=$3 logfile=$4
  shift 4
  local deadline=$((SECONDS + timeout))
  until "$@"; do
    if ! is_live "$pid"; then
      show_log_tail "$logfile"
      die "$name exited while starting; logs above and in $logfile"
    fi
    if ((SECONDS >= deadline)); then
      show_log_tail "$logfile"
      die "$name did not become ready within ${timeout}s; logs above and in $logfile" \
        "(the process $pid is left running; \`services.sh down\` stops it)"
    fi
    sleep 0.5
  done
}
