#!/usr/bin/env bash
# Redis's CPU per message, command by command (INFO commandstats), with
# and without the Firestore archive: one instance, one redis-server and
# the Firestore emulator on loopback; 20 rooms x 5 members, one sender per
# room at 25 messages/s for 20 s (10,000 sends). Prints one table per mode.
# Needs redis-server, jq, curl and google-cloud-cli-firestore-emulator.
set -euo pipefail
cd "$(dirname "$0")/../.."
work=$(mktemp -d)
emulator=/usr/lib/google-cloud-sdk/platform/cloud-firestore-emulator/cloud_firestore_emulator
trap 'pkill -f "$work/chat " 2>/dev/null || true; redis-cli -p 6392 shutdown nosave >/dev/null 2>&1 || true; [ -n "${emu:-}" ] && kill -- -"$emu" 2>/dev/null; rm -rf "$work"' EXIT
go build -o "$work/chat" ./cmd/chat
go build -o "$work/chatbench" ./cmd/chatbench
setsid "$emulator" start --host=127.0.0.1 --port=8692 >"$work/emulator.log" 2>&1 &
emu=$!
until curl -fs http://127.0.0.1:8692/ 2>/dev/null | grep -q Ok; do sleep 0.3; done
for mode in none firestore; do
  redis-server --port 6392 --bind 127.0.0.1 --save '' --appendonly no --daemonize yes --logfile "$work/redis.log"
  until redis-cli -p 6392 ping >/dev/null 2>&1; do sleep 0.1; done
  fs=""
  [ $mode = firestore ] && fs="cs-$RANDOM$RANDOM"
  FIRESTORE_EMULATOR_HOST=127.0.0.1:8692 FIRESTORE_PROJECT=$fs SESSION_SECRET=x REDISHOST=127.0.0.1 REDISPORT=6392 \
    SEND_RATE=10000 SEND_BURST=10000 "$work/chat" -listen 127.0.0.1:8093 >"$work/chat.log" 2>&1 &
  until curl -sf http://127.0.0.1:8093/ready >/dev/null; do sleep 0.1; done
  "$work/chatbench" -urls http://127.0.0.1:8093 -rooms 20 -members 5 -senders 1 -rate 10 -duration 5s -room-prefix warm >/dev/null
  redis-cli -p 6392 config resetstat >/dev/null
  "$work/chatbench" -urls http://127.0.0.1:8093 -rooms 20 -members 5 -senders 1 -rate 25 -duration 20s -room-prefix m -json >"$work/bench.json"
  sleep 3 # the archivers' last passes
  n=$(jq .accepted "$work/bench.json")
  echo "== $mode: $n messages accepted; µs of Redis CPU per message (a script's time includes the commands it calls)"
  redis-cli -p 6392 info commandstats | tr -d '\r' | grep cmdstat | grep -v resetstat |
    awk -F'[:,=]' -v n="$n" '{ if ($5 / n >= 0.05) printf "  %-24s %6.2f calls  %6.2f µs\n", substr($1, 9), $3 / n, $5 / n }'
  pkill -f "$work/chat " || true
  redis-cli -p 6392 shutdown nosave >/dev/null 2>&1 || true
  sleep 0.5
done
