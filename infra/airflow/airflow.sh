#!/usr/bin/env bash
#
# Airflow 3 for fraudstream, from its own environment (infra/airflow/.venv, made by
# `make airflow-install`), with every setting in one place. See docs/orchestration.md.
#
#   bash infra/airflow/airflow.sh env              # print the Airflow settings as exports
#   bash infra/airflow/airflow.sh run ARG...       # `airflow ARG...` (migrates the DB once)
#   bash infra/airflow/airflow.sh ui               # standalone on 127.0.0.1, detached
#   bash infra/airflow/airflow.sh down             # stop exactly what `ui` started
#   bash infra/airflow/airflow.sh status
#
# Variables: AIRFLOW_HOME (default .local/airflow), AIRFLOW_PORT (8080),
# FRAUDSTREAM_PYTHON (the interpreter the tasks run in; default .venv/bin/python),
# AIRFLOW_START_TIMEOUT (s, 240). Airflow runs from the repo root, so the tasks read
# the project's .env there; MLFLOW_TRACKING_URI, KAFKA_BOOTSTRAP_SERVERS, ARCHIVE_PATH
# and the other settings reach the tasks through the environment.

set -euo pipefail

AIRFLOW_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$AIRFLOW_DIR/../.." && pwd)
AIRFLOW_VENV=$AIRFLOW_DIR/.venv
AIRFLOW_HOME=${AIRFLOW_HOME:-$REPO/.local/airflow}
AIRFLOW_PORT=${AIRFLOW_PORT:-8080}
AIRFLOW_START_TIMEOUT=${AIRFLOW_START_TIMEOUT:-240}
AIRFLOW_STOP_TIMEOUT=${AIRFLOW_STOP_TIMEOUT:-30}

# The standalone process is started and stopped with the local services' helpers
# (own session and process group, pid file, group stop); their state goes here.
export FRAUDSTREAM_STATE_DIR=$AIRFLOW_HOME/standalone
# shellcheck source=infra/local/lib.sh
source "$REPO/infra/local/lib.sh"
readonly AIRFLOW_MATCH='airflow standalone'
AIRFLOW_LOG=$LOG_DIR/standalone.log

usage() {
  sed -n '2,/^$/s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2
  exit 2
}

# Everything Airflow reads, as environment variables.
airflow_settings() {
  cat <<EOF
export AIRFLOW_HOME=$AIRFLOW_HOME
export AIRFLOW__CORE__DAGS_FOLDER=$REPO/dags
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__PARALLELISM=4
export AIRFLOW__API__HOST=127.0.0.1
export AIRFLOW__API__PORT=$AIRFLOW_PORT
export AIRFLOW__API__BASE_URL=http://127.0.0.1:$AIRFLOW_PORT
export AIRFLOW__CORE__EXECUTION_API_SERVER_URL=http://127.0.0.1:$AIRFLOW_PORT/execution/
export FRAUDSTREAM_PYTHON=${FRAUDSTREAM_PYTHON:-$REPO/.venv/bin/python}
export PATH=$AIRFLOW_VENV/bin:$PATH
EOF
}

load_settings() {
  [[ -x $AIRFLOW_VENV/bin/airflow ]] ||
    die "airflow: $AIRFLOW_VENV/bin/airflow not found; run \`make airflow-install\` first"
  eval "$(airflow_settings)"
  mkdir -p "$AIRFLOW_HOME"
  cd "$REPO"
}

# `airflow db migrate` once per AIRFLOW_HOME and Airflow version (it takes ~10 s).
ensure_db() {
  local stamp=$AIRFLOW_HOME/.migrated version
  version=$(sha256sum "$AIRFLOW_DIR/uv.lock" | cut -d' ' -f1)
  [[ -f $stamp && $(<"$stamp") == "$version" ]] && return 0
  log "airflow: migrating the metadata database in $AIRFLOW_HOME"
  airflow db migrate >"$AIRFLOW_HOME/db-migrate.log" 2>&1 || {
    show_log_tail "$AIRFLOW_HOME/db-migrate.log"
    die "airflow db migrate failed; see $AIRFLOW_HOME/db-migrate.log"
  }
  printf '%s\n' "$version" >"$stamp"
}

ui_url() { printf 'http://127.0.0.1:%s\n' "$AIRFLOW_PORT"; }

ui_ready() { curl -fsS --max-time 3 "$(ui_url)/api/v2/monitor/health" >/dev/null 2>&1; }

# The admin password standalone generated (simple auth manager), if there is one yet.
admin_password() {
  local file=$AIRFLOW_HOME/simple_auth_manager_passwords.json.generated
  [[ -s $file ]] || return 1
  "$AIRFLOW_VENV/bin/python" -c 'import json,sys; print(json.load(open(sys.argv[1]))["admin"])' "$file"
}

cmd_ui() {
  load_settings
  take_lock
  local pid
  if pid=$(service_pid airflow "$AIRFLOW_MATCH"); then
    log "airflow: already running (pgid $pid) on $(ui_url)"
  else
    require_port AIRFLOW_PORT "$AIRFLOW_PORT"
    require_port_free airflow "$AIRFLOW_PORT"
    ensure_command curl curl
    ensure_db
    log "airflow: starting standalone on $(ui_url) (log: $AIRFLOW_LOG)"
    start_detached airflow "$AIRFLOW_LOG" airflow standalone
    pid=$(service_pid airflow "$AIRFLOW_MATCH") || die "airflow: exited at once; see $AIRFLOW_LOG"
    wait_until airflow "$AIRFLOW_START_TIMEOUT" "$pid" "$AIRFLOW_LOG" ui_ready
  fi
  local password
  password=$(admin_password) || password="(not generated yet; see $AIRFLOW_LOG)"
  printf 'Airflow UI: %s  login: admin  password: %s\n' "$(ui_url)" "$password"
}

cmd_down() {
  eval "$(airflow_settings)"
  take_lock
  stop_service airflow "$AIRFLOW_MATCH" "$AIRFLOW_STOP_TIMEOUT"
}

cmd_status() {
  local pid
  if pid=$(service_pid airflow "$AIRFLOW_MATCH"); then
    if ui_ready; then
      printf 'airflow up        pgid %-7s %s\n' "$pid" "$(ui_url)"
      return 0
    fi
    printf 'airflow starting  pgid %-7s %s\n' "$pid" "$(ui_url)"
    return 1
  fi
  printf 'airflow down\n'
  return 3
}

main() {
  (($# >= 1)) || usage
  local cmd=$1
  shift
  case $cmd in
    env) airflow_settings ;;
    run)
      load_settings
      ensure_db
      exec airflow "$@"
      ;;
    ui) cmd_ui ;;
    down) cmd_down ;;
    status) cmd_status ;;
    *) usage ;;
  esac
}

main "$@"
