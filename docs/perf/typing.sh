#!/usr/bin/env bash
# What a typing storm costs (docs/PERFORMANCE.md, "Typing"): two instances
# and one redis-server on loopback, one room of 200 members, one of them
# sending a message a second, for 30 s; once with nobody typing, once with
# all 200 typing (each page sends {"typing":true} every 2 s, as the page's
# script does while its box holds text). Prints the fan-out, the instances'
# CPU and Redis's CPU and commands, and writes docs/perf/typing-runs.jsonl.
# Needs redis-server, jq and curl.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=docs/perf
work=$(mktemp -d)
trap 'pkill -f "$work/chat " 2>/dev/null || true; [ -n "${redis_pid:-}" ] && kill $redis_pid 2>/dev/null; rm -rf "$work"' EXIT
go build -o "$work/chat" ./cmd/chat
go build -o "$work/chatbench" ./cmd/chatbench
redis-server --port 6393 --bind 127.0.0.1 --save '' --appendonly no --logfile "$work/redis.log" &
redis_pid=$!
until redis-cli -p 6393 ping >/dev/null 2>&1; do sleep 0.1; done
cpu_s() { awk -v t="$(getconf CLK_TCK)" '{print ($14 + $15) / t}' "/proc/$1/stat"; }
: >"$out/typing-runs.jsonl"
for typing in 0 2s; do
  pkill -f "$work/chat " 2>/dev/null || true
  while pgrep -f "$work/chat " >/dev/null; do sleep 0.1; done
  redis-cli -p 6393 flushall >/dev/null
  for i in 1 2; do
    TRUST_PROXY=1 SESSION_SECRET=perf REDISHOST=127.0.0.1 REDISPORT=6393 SEND_RATE=10000 SEND_BURST=10000 \
      "$work/chat" -listen 127.0.0.1:808$i >"$work/chat-$i.log" 2>&1 &
  done
  for i in 1 2; do until curl -sf http://127.0.0.1:808$i/ready >/dev/null; do sleep 0.1; done; done
  pids=$(pgrep -f "$work/chat " | paste -sd,)
  redis-cli -p 6393 config resetstat >/dev/null
  r0=$(cpu_s $redis_pid)
  "$work/chatbench" -urls http://127.0.0.1:8081,http://127.0.0.1:8082 -pids "$pids" -sources 8 \
    -rooms 1 -members 200 -senders 1 -rate 1 -duration 30s -typing "$typing" -room-prefix "typing-$typing" -json >"$work/run.json"
  r1=$(cpu_s $redis_pid)
  stats=$(redis-cli -p 6393 info commandstats | tr -d '\r' | grep -E '^cmdstat_(publish|evalsha|zadd|eval):' | paste -sd' ')
  jq -c --arg typing "$typing" --argjson redis "$(echo "$r1 - $r0" | bc)" --arg stats "$stats" \
    '. + {typing_every: $typing, redis_cpu_s: $redis, redis_commandstats: $stats}' "$work/run.json" | tee -a "$out/typing-runs.jsonl" >/dev/null
done
jq -r '"typing every \(.typing_every): \(.typing_sent // 0) typing frames sent, \(.typing_received // 0) signals delivered (\((.typing_received // 0) / .send_s | floor)/s); messages: \(.received) delivered, lost \(.lost), p99 \(.latency_p99_ms) ms; chat CPU \(.server_cpu_send_s) s; Redis CPU \(.redis_cpu_s) s; \(.redis_commandstats)"' "$out/typing-runs.jsonl"
