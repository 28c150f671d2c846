#!/usr/bin/env bash
# Redis CPU per reaction beside Redis CPU per message (docs/PERFORMANCE.md,
# "Reactions: Redis CPU per reaction"): docs/perf/reactcost, at 1,000
# operations a second for DURATION (25 s) a run, two brokers subscribed to
# the room and to !signouts, a fresh redis-server on a free loopback port
# for every run. Modes, each run ROUNDS (2) times, interleaved:
#   idle               nothing: Redis's own background
#   message            Broker.Send, a fresh nonce each
#   message-read       Send, then Broker.Arrived (issue 31) in a room
#                      1,000 people have been in, a mention every tenth
#   message-counted    the same in one script: Broker.SendCounted
#   react              Broker.Change toggling a reaction, a fresh nonce
#                      each, and the hub's "changed" notice (Announce):
#                      8 people × 4 emoji on each of the window's 100
#                      messages, 0 to 32 reactions a message and back
#   react -emoji 1     the same, 8 people × 1 emoji: 0 to 8 a message
#   react-noannounce   8 × 4 without the notice
#   edit               Broker.Change of a text (the change script, then
#                      requoteScript's scan of the window), and the notice
#   message, react     again, with an archive that stores nothing (-archive)
#
#   docs/perf/react-cost.sh
#   ONLY='edit|react' docs/perf/react-cost.sh   # the runs whose mode and flags match
#
# Appends one JSON line a run to docs/perf/react-cost.jsonl. About eight
# minutes; loopback only; needs redis-server and redis-cli.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
out=$root/docs/perf/react-cost.jsonl
rounds=${ROUNDS:-2}
duration=${DURATION:-25s}
work=$(mktemp -d)
redis_pid=""
cleanup() {
  [ -n "$redis_pid" ] && kill "$redis_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

go build -o "$work/reactcost" ./docs/perf/reactcost
rev=$(git rev-parse --short HEAD)
day=$(date -u +%F)

free_port() {
  local p
  for p in $(seq 6393 6499); do
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return
    fi
  done
  echo "no free port in 6393-6499" >&2
  return 1
}

measure() { # mode [flags...]
  local mode=$1 port
  shift
  port=$(free_port)
  redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --logfile "$work/redis.log" &
  redis_pid=$!
  until redis-cli -p "$port" ping >/dev/null 2>&1; do sleep 0.1; done
  "$work/reactcost" -addr "127.0.0.1:$port" -pid "$redis_pid" -mode "$mode" -duration "$duration" \
    -label "$day $rev round $round" "$@" | tail -1 | tee -a "$out"
  kill "$redis_pid"
  wait "$redis_pid" 2>/dev/null || true
  redis_pid=""
}

runs=(
  "idle"
  "message"
  "message-read"
  "message-counted"
  "react"
  "react -emoji 1"
  "react-noannounce"
  "edit"
  "message -archive"
  "react -archive"
)
for round in $(seq 1 "$rounds"); do
  for r in "${runs[@]}"; do
    if [[ $r =~ ${ONLY:-.} ]]; then
      measure $r
    fi
  done
done
