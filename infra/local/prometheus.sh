# shellcheck shell=bash
#
# Prometheus: Debian's `prometheus` package (promtool comes with it), on
# 127.0.0.1, scraping the services' default /metrics ports through
# infra/prometheus/prometheus.yml (targets in infra/prometheus/targets/), with
# the repo's recording and alerting rules. Not in the default `up` set: start
# it with `services.sh up prometheus`. Sourced by services.sh after lib.sh;
# defines prometheus_install, prometheus_up, prometheus_wait, prometheus_down,
# prometheus_status.

PROMETHEUS_PORT=${PROMETHEUS_PORT:-9090}
PROMETHEUS_START_TIMEOUT=${PROMETHEUS_START_TIMEOUT:-60}
PROMETHEUS_STOP_TIMEOUT=${PROMETHEUS_STOP_TIMEOUT:-20}

PROMETHEUS_STATE=$STATE_DIR/prometheus
PROMETHEUS_CONFIG=$REPO_ROOT/infra/prometheus/prometheus.yml
PROMETHEUS_LOG=$LOG_DIR/prometheus.log
readonly PROMETHEUS_MATCH='prometheus --config.file' # in the server's command line

prometheus_url() { printf 'http://%s:%s\n' "$BIND_HOST" "$PROMETHEUS_PORT"; }

# The binaries the tests use (prometheus, promtool), installed when missing.
prometheus_install() {
  ensure_command promtool prometheus
  ensure_command prometheus prometheus
}

# Ready = GET /-/ready answers 200.
prometheus_ready() {
  curl -fsS --max-time 3 "$(prometheus_url)/-/ready" >/dev/null 2>&1
}

prometheus_up() {
  require_port PROMETHEUS_PORT "$PROMETHEUS_PORT"
  local pid
  if pid=$(service_pid prometheus "$PROMETHEUS_MATCH"); then
    log "prometheus: already running (pgid $pid)"
    return 0
  fi
  require_port_free prometheus "$PROMETHEUS_PORT"
  ensure_command curl curl
  prometheus_install
  mkdir -p "$PROMETHEUS_STATE"
  log "prometheus: starting $(prometheus --version 2>&1 | awk 'NR==1 {print $3}') on $(prometheus_url)"
  start_detached prometheus "$PROMETHEUS_LOG" prometheus \
    --config.file="$PROMETHEUS_CONFIG" \
    --web.listen-address="$BIND_HOST:$PROMETHEUS_PORT" \
    --storage.tsdb.path="$PROMETHEUS_STATE" \
    --storage.tsdb.retention.time=7d
}

prometheus_wait() {
  local pid
  pid=$(service_pid prometheus "$PROMETHEUS_MATCH") || {
    show_log_tail "$PROMETHEUS_LOG"
    die "prometheus: exited during start-up; logs above"
  }
  wait_until prometheus "$PROMETHEUS_START_TIMEOUT" "$pid" "$PROMETHEUS_LOG" prometheus_ready
  log "prometheus: ready on $(prometheus_url) (t+${SECONDS}s)"
}

prometheus_down() {
  stop_service prometheus "$PROMETHEUS_MATCH" "$PROMETHEUS_STOP_TIMEOUT"
}

prometheus_status() {
  local pid
  if pid=$(service_pid prometheus "$PROMETHEUS_MATCH"); then
    if prometheus_ready; then
      printf 'prometheus up      pgid %-7s %s\n' "$pid" "$(prometheus_url)"
      return 0
    fi
    printf 'prometheus starting pgid %-7s %s (not ready yet)\n' "$pid" "$(prometheus_url)"
    return 1
  fi
  printf 'prometheus down\n'
  return 1
}
