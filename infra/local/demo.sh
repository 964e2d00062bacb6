#!/usr/bin/env bash
#
# `make demo`: run `fraudstream demo` on an Apache Kafka broker of its own.
#
#   bash infra/local/demo.sh [DURATION_S]
#
# With Java on the machine (and no KAFKA_BOOTSTRAP_SERVERS set), it starts the
# project's local Apache Kafka (infra/local/kafka.sh) on two free ports with a
# fresh state folder under .local/demo-services, runs the demo against it and
# stops and deletes it afterwards, whatever happens. Without Java the demo starts
# its embedded broker (tansu) itself: it works, but serves the demo's rate with a
# p99 latency near a second where Apache Kafka gives tens of milliseconds
# (docs/benchmarks.md#demo).

set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
DURATION=${1:-120}
RUN=(uv run --frozen)
command -v uv >/dev/null 2>&1 || RUN=(python3 -m uv run --frozen)

demo() { exec "${RUN[@]}" fraudstream demo --duration "$DURATION"; }

if [[ -n ${KAFKA_BOOTSTRAP_SERVERS:-} ]] || ! command -v java >/dev/null 2>&1; then
  demo
fi

free_port() {
  "${RUN[@]}" python -c 'from fraudstream.harness.embedded import free_port; print(free_port())'
}

export FRAUDSTREAM_STATE_DIR=$REPO/.local/demo-services
export KAFKA_PORT KAFKA_CONTROLLER_PORT
KAFKA_PORT=$(free_port)
KAFKA_CONTROLLER_PORT=$(free_port)
services_log=$REPO/.local/demo-services.log
stop_kafka() {
  bash "$HERE/services.sh" down kafka >>"$services_log" 2>&1 || true
  rm -rf "$FRAUDSTREAM_STATE_DIR"
}
trap stop_kafka EXIT
stop_kafka
mkdir -p "$REPO/.local"
: >"$services_log"
printf 'starting Apache Kafka on 127.0.0.1:%s (log: %s)...\n' "$KAFKA_PORT" "$services_log"
if ! bash "$HERE/services.sh" up kafka >>"$services_log" 2>&1; then
  tail -n 20 "$services_log" >&2
  echo "Apache Kafka did not start; see $services_log" >&2
  exit 1
fi
export KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:$KAFKA_PORT
"${RUN[@]}" fraudstream demo --duration "$DURATION"
