#!/usr/bin/env bash
#
# Start/stop the local services fraudstream's integration tests need, without
# Docker: Apache Kafka (KRaft; a PLAINTEXT and a SASL_SSL listener), Redis, a
# second Redis over TLS with a password (redis-tls), a Redis Cluster of three
# masters (redis-cluster) and an MLflow tracking server, all on 127.0.0.1;
# Prometheus on request (`up prometheus`; the default `up` only installs it,
# for promtool and the tests). See infra/local/README.md.
#
#   bash infra/local/services.sh up      [kafka|redis|redis-tls|redis-cluster|mlflow|prometheus ...]
#   bash infra/local/services.sh down    [kafka|redis|redis-tls|redis-cluster|mlflow|prometheus ...]
#   bash infra/local/services.sh status  [kafka|redis|redis-tls|redis-cluster|mlflow|prometheus ...]
#   bash infra/local/services.sh restart [kafka|redis|redis-tls|redis-cluster|mlflow|prometheus ...]
#   bash infra/local/services.sh env     # print the exports only
#   bash infra/local/services.sh check   # end-to-end smoke test of running services
#   bash infra/local/services.sh clean   # down, then delete all state (data, logs)
#
# `up` prints progress on stderr and, on stdout, only the environment the
# tests use, e.g.:  eval "$(bash infra/local/services.sh up)"

set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=infra/local/lib.sh
source "$HERE/lib.sh"
# shellcheck source=infra/local/tls.sh
source "$HERE/tls.sh"
# shellcheck source=infra/local/kafka.sh
source "$HERE/kafka.sh"
# shellcheck source=infra/local/redis.sh
source "$HERE/redis.sh"
# shellcheck source=infra/local/redis_tls.sh
source "$HERE/redis_tls.sh"
# shellcheck source=infra/local/redis_cluster.sh
source "$HERE/redis_cluster.sh"
# shellcheck source=infra/local/mlflow.sh
source "$HERE/mlflow.sh"
# shellcheck source=infra/local/prometheus.sh
source "$HERE/prometheus.sh"
# shellcheck source=infra/local/browser.sh
source "$HERE/browser.sh"

readonly ALL_SERVICES=(kafka redis redis-tls redis-cluster mlflow)

usage() {
  sed -n '2,/^$/s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2
  exit 2
}

# The variables the tests read, as shell `export` lines.
print_env() {
  printf 'export KAFKA_BOOTSTRAP_SERVERS=%s\n' "$(kafka_bootstrap)"
  printf 'export REDIS_URL=%s\n' "$(redis_url)"
  printf 'export MLFLOW_TRACKING_URI=%s\n' "$(mlflow_uri)"
  # The secured endpoints (tests/integration/test_secured_services.py); names
  # that are no fraudstream setting, so the rest of the suite stays PLAINTEXT.
  if kafka_sasl_on || redis_tls_on; then
    printf 'export LOCAL_TLS_CAFILE=%s\n' "$TLS_CA"
  fi
  if kafka_sasl_on; then
    printf 'export KAFKA_SASL_BOOTSTRAP_SERVERS=%s\n' "$(kafka_sasl_bootstrap)"
    printf 'export KAFKA_SASL_TEST_USER=%s\n' "$KAFKA_SASL_TEST_USER"
    printf 'export KAFKA_SASL_TEST_PASSWORD=%s\n' "$KAFKA_SASL_TEST_PASSWORD"
  fi
  if redis_tls_on; then
    printf 'export REDIS_TLS_URL=%s\n' "$(redis_tls_url)"
  fi
  # The cluster's seed nodes, under a test-only name (REDIS_CLUSTER_NODES would put
  # every process of the suite in cluster mode); the cluster tests pass it on.
  if redis_cluster_on; then
    printf 'export REDIS_CLUSTER_TEST_NODES=%s\n' "$(redis_cluster_nodes)"
  fi
}

# A service's functions are named after it, `-` spelt `_` (redis-tls_up -> redis_tls_up).
run_step() { "${1//-/_}_$2"; }

# Validate service names given on the command line (default: all).
select_services() {
  local name
  for name in "$@"; do
    case $name in
      kafka | redis | redis-tls | redis-cluster | mlflow | prometheus) ;;
      *) die "unknown service '$name' (expected: ${ALL_SERVICES[*]} prometheus)" ;;
    esac
  done
}

cmd_up() {
  local -a services=("$@")
  take_lock
  if ((${#services[@]} == 0)); then
    services=("${ALL_SERVICES[@]}")
    prometheus_install # the tests run promtool and their own Prometheus
    browser_install    # the console's browser test drives Chromium
  fi
  local started=$SECONDS name
  # Start everything first, then wait: the three start-ups overlap.
  for name in "${services[@]}"; do run_step "$name" up; done
  for name in "${services[@]}"; do run_step "$name" wait; done
  print_env >"$STATE_DIR/env.sh"
  log "ready in $((SECONDS - started))s: ${services[*]} (state: $STATE_DIR; env: $STATE_DIR/env.sh)"
  print_env
}

cmd_down() {
  local -a services=("$@")
  # Prometheus too: it is stopped if `up prometheus` started it (else a no-op).
  ((${#services[@]})) || services=(prometheus "${ALL_SERVICES[@]}")
  take_lock
  local i
  # Reverse start order: MLflow and Redis first, Kafka (slowest) last.
  for ((i = ${#services[@]} - 1; i >= 0; i--)); do run_step "${services[i]}" down; done
}

cmd_status() {
  local -a services=("$@")
  ((${#services[@]})) || services=("${ALL_SERVICES[@]}")
  local name rc=0
  for name in "${services[@]}"; do run_step "$name" status || rc=3; done
  printf 'state: %s\n' "$STATE_DIR"
  return "$rc"
}

# Run smoke_check.py (Kafka topic + transactions, Redis, MLflow artifact) with
# the project's venv against the configured ports.
cmd_check() {
  local py=$REPO_ROOT/.venv/bin/python
  [[ -x $py ]] || die "check needs the project venv ($py); run \`uv sync\` first"
  eval "$(print_env)"
  "$py" "$HERE/smoke_check.py"
}

cmd_clean() {
  cmd_down
  log "deleting $STATE_DIR/{kafka,redis,redis-tls,redis-cluster,mlflow,tls,logs,run,env.sh}" \
    "(jar cache $CACHE_DIR is kept)"
  rm -rf "${STATE_DIR:?}/kafka" "$STATE_DIR/redis" "$STATE_DIR/redis-tls" "$STATE_DIR/redis-cluster" \
    "$STATE_DIR/mlflow" \
    "$TLS_DIR" "$LOG_DIR" "$RUN_DIR" "$STATE_DIR/env.sh"
}

main() {
  (($# >= 1)) || usage
  local cmd=$1
  shift
  select_services "$@"
  case $cmd in
    up) cmd_up "$@" ;;
    down) cmd_down "$@" ;;
    status) cmd_status "$@" ;;
    restart)
      cmd_down "$@"
      cmd_up "$@"
      ;;
    env) print_env ;;
    check) cmd_check ;;
    clean) cmd_clean ;;
    -h | --help | help) usage ;;
    *) usage ;;
  esac
}

main "$@"
