#!/usr/bin/env bash
# Redis memory per message sent, nonce guards included (docs/PERFORMANCE.md,
# "Nonce guards: Redis memory per message"): docs/perf/guardmem sends
# 100,000 messages, each with a nonce of its own, through the Redis broker
# of a source tree into a fresh redis-server, and reads INFO memory before,
# halfway and after. Two workloads: 100 sessions in 10 rooms (1,000 messages
# each), and 10,000 sessions in 100 rooms (10 each).
#
#   docs/perf/guard-memory.sh [REV]
#
# measures the working tree and, given REV (a commit, such as the one before
# the change), that revision too, exported with git archive and run with the
# same program. Appends JSON lines to docs/perf/guard-memory.jsonl. About a
# minute a tree; loopback only; needs redis-server and redis-cli.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
out=$root/docs/perf/guard-memory.jsonl
work=$(mktemp -d)
port=6392
redis_pid=""
cleanup() {
  [ -n "$redis_pid" ] && kill "$redis_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

measure() { # tree label
  local tree=$1 label=$2
  for workload in "10 100" "100 10000"; do
    set -- $workload
    redis-server --port $port --bind 127.0.0.1 --save '' --appendonly no --logfile "$work/redis.log" &
    redis_pid=$!
    until redis-cli -p $port ping >/dev/null 2>&1; do sleep 0.1; done
    (cd "$tree" && go run ./docs/perf/guardmem -addr 127.0.0.1:$port -messages 100000 \
      -rooms "$1" -sessions "$2" -label "$label") | tail -1 | tee -a "$out"
    kill "$redis_pid"
    wait "$redis_pid" 2>/dev/null || true
    redis_pid=""
  done
}

measure "$root" "working tree"
if [ $# -gt 0 ]; then
  mkdir "$work/rev"
  git archive "$1" | tar -x -C "$work/rev"
  mkdir -p "$work/rev/docs/perf"
  cp -r "$root/docs/perf/guardmem" "$work/rev/docs/perf/"
  measure "$work/rev" "$(git rev-parse --short "$1")"
fi
