#!/usr/bin/env bash
# The Firestore archive's cost, measured on this machine (docs/PERFORMANCE.md,
# "Durable history"): two instances and one redis-server on loopback, the
# Firestore emulator beside them, chatbench as the load.
#
#  1. 40,000 deliveries/s (50 rooms x 40 members, one sender per room at
#     20 messages/s) without and with FIRESTORE_PROJECT, in turn, three
#     times each: p99, deliveries per chat CPU-second, Redis CPU per
#     message, and the largest archive backlog seen.
#  2. The archive's sustained rate: messages sent while the emulator is
#     down wait in Redis; the emulator is started and the backlog timed
#     until it is empty.
#
# Writes docs/perf/archive-runs.jsonl and docs/perf/archive-summary.txt.
# About 8 minutes; loopback only; not a CI step. Needs redis-server, jq,
# curl and the Debian package google-cloud-cli-firestore-emulator (Java).
set -euo pipefail
cd "$(dirname "$0")/../.."
out=docs/perf
work=$(mktemp -d)
emulator=/usr/lib/google-cloud-sdk/platform/cloud-firestore-emulator/cloud_firestore_emulator
fs_port=8691
emu_pid=""
cleanup() {
  pkill -f "$work/chat " 2>/dev/null || true
  [ -n "$emu_pid" ] && kill -- -"$emu_pid" 2>/dev/null
  [ -n "${redis_pid:-}" ] && kill "$redis_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

go build -o "$work/chat" ./cmd/chat
go build -o "$work/chatbench" ./cmd/chatbench
redis-server --port 6391 --bind 127.0.0.1 --save '' --appendonly no --logfile "$work/redis.log" &
redis_pid=$!
until redis-cli -p 6391 ping >/dev/null 2>&1; do sleep 0.1; done
urls=http://127.0.0.1:8081,http://127.0.0.1:8082
export FIRESTORE_EMULATOR_HOST=127.0.0.1:$fs_port

emu_start() {
  # Firestore runs elsewhere in production: on this shared machine the
  # emulator yields the CPU to the service (nice 19), and its own CPU is
  # reported apart.
  setsid nice -n 19 "$emulator" start --host=127.0.0.1 --port=$fs_port >"$work/emulator.log" 2>&1 &
  emu_pid=$!
  until curl -fs "http://127.0.0.1:$fs_port/" 2>/dev/null | grep -q Ok; do sleep 0.2; done
}
emu_stop() {
  kill -- -"$emu_pid" 2>/dev/null || true
  while kill -0 "$emu_pid" 2>/dev/null; do sleep 0.1; done
  emu_pid=""
}
# cpu_s PID: user+system CPU seconds of a process so far.
cpu_s() { awk -v t="$(getconf CLK_TCK)" '{print ($14 + $15) / t}' "/proc/$1/stat"; }

# up MODE: two fresh instances, with FIRESTORE_PROJECT when MODE is
# firestore (a project of the run's own, so nothing is read from an
# earlier one), and an empty Redis.
up() {
  pkill -f "$work/chat " 2>/dev/null || true
  while pgrep -f "$work/chat " >/dev/null; do sleep 0.1; done
  redis-cli -p 6391 flushall >/dev/null
  local fs=""
  [ "$1" = firestore ] && fs="perf-$RANDOM$RANDOM"
  for i in 1 2; do
    METRICS_ADDR=127.0.0.1:947$i TRUST_PROXY=1 SESSION_SECRET=perf \
      REDISHOST=127.0.0.1 REDISPORT=6391 FIRESTORE_PROJECT=$fs \
      SEND_RATE=10000 SEND_BURST=10000 "$work/chat" -listen 127.0.0.1:808$i >"$work/chat-$i.log" 2>&1 &
  done
  for i in 1 2; do
    until curl -sf http://127.0.0.1:808$i/ready >/dev/null; do sleep 0.1; done
  done
  pids=$(pgrep -f "$work/chat " | paste -sd,)
}
backlog() {
  curl -s http://127.0.0.1:947"$1"/metrics | awk '$1 == "chat_archive_backlog" {print $2 + 0; f = 1} END {if (!f) print 0}'
}

# waiting: how many messages the archive streams hold, read from Redis.
# (KEYS is fine on this bench's small Redis, never on a real one.)
waiting() {
  redis-cli -p 6391 eval "local n = 0 for _, k in ipairs(redis.call('KEYS', 'chat:*:archive')) do n = n + redis.call('XLEN', k) end return n" 0
}

emu_start
java_pid=$(pgrep -f cloud-firestore-emulator.jar | head -1)
# A cold emulator (a JVM) spends its first minute compiling itself: one
# run to warm it up, not counted.
up firestore
"$work/chatbench" -urls "$urls" -pids "$pids" -sources 8 -rooms 50 -members 40 -senders 1 \
  -rate 20 -duration 30s -room-prefix warm -json >/dev/null
: >"$out/archive-runs.jsonl"
{
  echo "# $(date -u +%FT%TZ), $(nproc) cores, $(redis-server --version | awk '{print $3}'), $(go env GOVERSION)"
  echo "# 40,000 deliveries/s offered: 50 rooms x 40 members, one sender per room at 20 messages/s, 30 s"
} >"$out/archive-summary.txt"

for round in 1 2 3; do
  for mode in none firestore; do
    up $mode
    max=0
    (while sleep 0.5; do echo "$(backlog 1) $(backlog 2)"; done >"$work/backlog.txt") &
    poller=$!
    r0=$(cpu_s $redis_pid); j0=$(cpu_s "$java_pid")
    "$work/chatbench" -urls "$urls" -pids "$pids" -sources 8 -rooms 50 -members 40 -senders 1 \
      -rate 20 -duration 30s -room-prefix "a$round$mode" -json >"$work/run.json"
    r1=$(cpu_s $redis_pid); j1=$(cpu_s "$java_pid")
    kill $poller 2>/dev/null || true
    max=$(awk '{ if ($1 > m) m = $1; if ($2 > m) m = $2 } END {print m + 0}' "$work/backlog.txt")
    # A run's Redis and emulator CPU include its connect phase (a few
    # seconds of presence and joins): per message it is an upper bound.
    jq -c --arg mode $mode --argjson round $round --argjson redis "$(echo "$r1 - $r0" | bc)" \
      --argjson emu "$(echo "$j1 - $j0" | bc)" --argjson backlog "$max" \
      '. + {mode: $mode, round: $round, redis_cpu_s: $redis, emulator_cpu_s: $emu, archive_backlog_max: $backlog}' \
      "$work/run.json" | tee -a "$out/archive-runs.jsonl" >/dev/null
    # Firestore ends with every message: the archive kept up.
    if [ $mode = firestore ]; then
      for _ in $(seq 120); do
        [ "$(backlog 1)" = 0 ] && [ "$(backlog 2)" = 0 ] && break
        sleep 0.5
      done
    fi
  done
done
jq -r '"\(.mode)\t round \(.round): \(.received) delivered (\(.deliveries_per_s | floor)/s), lost \(.lost), dup \(.duplicated), p50 \(.latency_p50_ms) ms, p99 \(.latency_p99_ms) ms, \(.deliveries_per_server_cpu_s | floor) deliveries per chat CPU-s, Redis \(.redis_cpu_s * 1e6 / .accepted | floor) µs CPU per message, emulator \(.emulator_cpu_s) CPU-s, largest archive backlog \(.archive_backlog_max)"' \
  "$out/archive-runs.jsonl" >>"$out/archive-summary.txt"

# 2. The sustained rate: 60,000 messages (50 rooms, one member each, 40
# messages/s for 30 s) sent while the emulator is down wait in Redis; the
# emulator is started and the streams timed until they are empty.
emu_stop
up firestore
"$work/chatbench" -urls "$urls" -pids "$pids" -sources 8 -rooms 50 -members 1 -senders 1 \
  -rate 40 -duration 30s -room-prefix catchup -json >"$work/catchup.json"
accepted=$(jq .accepted "$work/catchup.json")
held=$(waiting)
emu_start
java_pid=$(pgrep -f cloud-firestore-emulator.jar | head -1)
start=$(date +%s.%N)
j0=$(cpu_s "$java_pid")
c0=0; for p in ${pids//,/ }; do c0=$(echo "$c0 + $(cpu_s "$p")" | bc); done
for _ in $(seq 6000); do
  [ "$(waiting)" = 0 ] && break
  sleep 0.1
done
end=$(date +%s.%N)
j1=$(cpu_s "$java_pid")
c1=0; for p in ${pids//,/ }; do c1=$(echo "$c1 + $(cpu_s "$p")" | bc); done
secs=$(echo "$end - $start" | bc)
{
  echo
  echo "catch-up: $accepted messages accepted while the emulator was down, $held of them waiting in Redis"
  echo "  all in Firestore $secs s after the emulator answered: $(echo "$held / $secs" | bc) messages/s"
  echo "  CPU meanwhile: emulator $(echo "$j1 - $j0" | bc) s, both chat instances $(echo "$c1 - $c0" | bc) s"
} >>"$out/archive-summary.txt"
cat "$out/archive-summary.txt"
