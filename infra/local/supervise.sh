#!/usr/bin/env bash
#
# supervise.sh PIDFILE CMD [ARG...]
#
# Minimal parent process for one local service; lib.sh's start_detached runs
# it under `setsid`, so it leads the service's own session and process group
# and its pid (written to PIDFILE) is also the group id that `down` signals.
#
# Why not just `exec CMD`? Once the starting shell exits, an exec'd service is
# adopted by the machine's init process, and some inits (containers,
# micro-VMs) reap orphans late or never: a stopped Redis would then linger as
# "[redis-server] <defunct>" in `pgrep redis-server`. This wrapper stays the
# service's parent, reaps it at once, notes its exit status in the log, and
# exits with the same status.

set -uo pipefail

pidfile=$1
shift

# No-op handlers, not "ignore": the group-wide SIGTERM from `down` must not
# kill this wrapper before its child is reaped, and handled signals (unlike
# ignored ones) are reset to their defaults in the child when it execs CMD.
trap ':' TERM INT HUP

printf '%s\n' "$$" >"$pidfile.tmp" && mv "$pidfile.tmp" "$pidfile"

"$@" &
child=$!

# `wait` returns early whenever a trapped signal arrives; keep waiting until
# the child is really gone.
while :; do
  wait "$child"
  rc=$?
  kill -0 "$child" 2>/dev/null || break
done

printf '===== %s: %s exited with status %s =====\n' \
  "$(date -u '+%Y-%m-%dT%H:%M:%SZ')" "$1" "$rc"
exit "$rc"
