# shellcheck shell=bash
#
# MLflow tracking server from the project's virtualenv, with a SQLite backend
# and artifacts served (proxied) over HTTP, so a client in any process logs
# artifacts through the server rather than writing to a local path. Sourced by
# services.sh after lib.sh; defines mlflow_up, mlflow_wait, mlflow_down,
# mlflow_status.

MLFLOW_PORT=${MLFLOW_PORT:-5000}
MLFLOW_BIN=${MLFLOW_BIN:-.venv/bin/mlflow}
MLFLOW_START_TIMEOUT=${MLFLOW_START_TIMEOUT:-120}
MLFLOW_STOP_TIMEOUT=${MLFLOW_STOP_TIMEOUT:-20}

MLFLOW_STATE=$STATE_DIR/mlflow
MLFLOW_DB=$MLFLOW_STATE/mlflow.db
MLFLOW_ARTIFACTS=$MLFLOW_STATE/artifacts
MLFLOW_LOG=$LOG_DIR/mlflow.log
readonly MLFLOW_MATCH='mlflow server' # in the server's command line

mlflow_uri() { printf 'http://%s:%s\n' "$BIND_HOST" "$MLFLOW_PORT"; }

# Resolve MLFLOW_BIN: a relative path is taken from the repo root.
mlflow_bin() {
  local bin=$MLFLOW_BIN
  [[ $bin == /* ]] || bin=$REPO_ROOT/$bin
  [[ -x $bin ]] || die "mlflow: $bin not found; create the project venv first" \
    "(e.g. \`uv sync\`) or set MLFLOW_BIN"
  printf '%s\n' "$bin"
}

# Ready = GET /health answers "OK".
mlflow_ready() {
  local body
  body=$(curl -fsS --max-time 3 "$(mlflow_uri)/health" 2>/dev/null) || return 1
  [[ $body == OK* ]]
}

mlflow_up() {
  require_port MLFLOW_PORT "$MLFLOW_PORT"
  local pid
  if pid=$(service_pid mlflow "$MLFLOW_MATCH"); then
    log "mlflow: already running (pgid $pid)"
    return 0
  fi
  require_port_free mlflow "$MLFLOW_PORT"
  ensure_command curl curl

  local bin
  bin=$(mlflow_bin)
  mkdir -p "$MLFLOW_STATE" "$MLFLOW_ARTIFACTS"
  log "mlflow: starting on $(mlflow_uri)"
  # --serve-artifacts + --artifacts-destination: new experiments get the
  # artifact root mlflow-artifacts:/, i.e. uploads go through the server.
  # Job execution (huey consumer processes) is not needed for tracking.
  # Run from the state folder so nothing (e.g. ./mlruns) lands in the repo.
  (
    cd "$MLFLOW_STATE" || exit 1
    export MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false
    start_detached mlflow "$MLFLOW_LOG" \
      "$bin" server \
      --host "$BIND_HOST" \
      --port "$MLFLOW_PORT" \
      --workers 1 \
      --backend-store-uri "sqlite:///$MLFLOW_DB" \
      --serve-artifacts \
      --artifacts-destination "$MLFLOW_ARTIFACTS"
  )
}

mlflow_wait() {
  local pid
  pid=$(service_pid mlflow "$MLFLOW_MATCH") || {
    show_log_tail "$MLFLOW_LOG"
    die "mlflow: exited during start-up; logs above"
  }
  wait_until mlflow "$MLFLOW_START_TIMEOUT" "$pid" "$MLFLOW_LOG" mlflow_ready
  log "mlflow: ready on $(mlflow_uri) (t+${SECONDS}s)"
}

mlflow_down() {
  stop_service mlflow "$MLFLOW_MATCH" "$MLFLOW_STOP_TIMEOUT"
}

mlflow_status() {
  local pid
  if pid=$(service_pid mlflow "$MLFLOW_MATCH"); then
    if mlflow_ready; then
      printf 'mlflow  up        pgid %-7s %s\n' "$pid" "$(mlflow_uri)"
      return 0
    fi
    printf 'mlflow  starting  pgid %-7s %s (/health not OK yet)\n' "$pid" "$(mlflow_uri)"
    return 1
  fi
  printf 'mlflow  down\n'
  return 1
}
