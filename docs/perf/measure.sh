#!/usr/bin/env bash
# Runs the load measurements of docs/PERFORMANCE.md on this machine: two
# instances and one redis-server on loopback, chatbench as the load. It
# writes docs/perf/*.jsonl, docs/perf/*.txt and docs/performance.svg.
# Long (about 15 minutes) and loopback only; not a CI step.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=docs/perf
work=$(mktemp -d)
trap 'pkill -P $$ 2>/dev/null || true; [ -n "${redis_pid:-}" ] && kill $redis_pid 2>/dev/null; rm -rf "$work"' EXIT

go build -tags pprof -o "$work/chat" ./cmd/chat
go build -o "$work/chatbench" ./cmd/chatbench
redis-server --port 6390 --bind 127.0.0.1 --save '' --appendonly no --logfile "$work/redis.log" &
redis_pid=$!
urls=http://127.0.0.1:8081,http://127.0.0.1:8082

# up starts two fresh instances (pprof on 6061 and 6062, metrics on 9461
# and 9462) and sets $pids. TRUST_PROXY=1: chatbench gives each connection
# an X-Forwarded-For address of its own, as browsers behind Cloud Run have.
up() {
  pkill -f "$work/chat " 2>/dev/null || true
  while pgrep -f "$work/chat " >/dev/null; do sleep 0.1; done
  for i in 1 2; do
    CHAT_PPROF_ADDR=127.0.0.1:606$i METRICS_ADDR=127.0.0.1:946$i TRUST_PROXY=1 \
      SESSION_SECRET=perf REDISHOST=127.0.0.1 REDISPORT=6390 \
      SEND_RATE=10000 SEND_BURST=10000 PORT=808$i "$work/chat" -listen 127.0.0.1:808$i >"$work/chat-$i.log" 2>&1 &
  done
  for i in 1 2; do
    until curl -sf http://127.0.0.1:808$i/ready >/dev/null; do sleep 0.1; done
  done
  pids=$(pgrep -f "$work/chat " | paste -sd,)
  redis-cli -p 6390 flushall >/dev/null
}

bench() { "$work/chatbench" -urls "$urls" -pids "$pids" -sources 8 "$@"; }

# (a) 50 rooms × 40 members, one sender per room; offered = 2,000 × rate.
if [ -z "${SKIP_SWEEPS:-}" ]; then
: >"$out/runs-a.jsonl"
for rate in 12.5 25 37.5 50 75 125; do
  up
  bench -rooms 50 -members 40 -senders 1 -rate $rate -duration 30s -json | tee -a "$out/runs-a.jsonl"
done

# (b) one room of 1,000 members, five senders; offered = 5,000 × rate.
: >"$out/runs-b.jsonl"
for rate in 5 10 20 30 50; do
  up
  bench -rooms 1 -members 1000 -senders 5 -rate $rate -duration 30s -json | tee -a "$out/runs-b.jsonl"
done
fi

# A CPU profile of instance 1 at 100,000 offered deliveries/s.
up
(bench -rooms 50 -members 40 -senders 1 -rate 50 -duration 30s >"$work/profiled.txt" 2>&1 &)
sleep 12
curl -s "http://127.0.0.1:6061/debug/pprof/profile?seconds=10" >"$work/cpu.pb.gz"
go tool pprof -top -nodecount=25 "$work/cpu.pb.gz" >"$out/cpu-top.txt" 2>/dev/null
sleep 15

# 20,000 idle connections across both instances, from two generators (the
# file descriptor limit is 20,000 a process). RSS is read from /proc.
up
rss() { for p in ${pids//,/ }; do awk '/VmRSS/ {print $2}' /proc/$p/status; done | paste -sd+ | bc; }
before=$(rss)
start=$(date +%s.%N)
bench -rooms 250 -members 40 -room-prefix idle-a -idle 40s >"$work/idle-a.txt" 2>&1 &
gen_a=$!
bench -rooms 250 -members 40 -room-prefix idle-b -idle 40s >"$work/idle-b.txt" 2>&1 &
gen_b=$!
until grep -q '^# holding' "$work/idle-a.txt" 2>/dev/null && grep -q '^# holding' "$work/idle-b.txt" 2>/dev/null; do sleep 0.1; done
connected=$(date +%s.%N)
sleep 15
after=$(rss)
curl -s "http://127.0.0.1:6061/debug/pprof/heap?gc=1" >"$work/heap.pb.gz"
go tool pprof -sample_index=inuse_space -top -nodecount=20 "$work/heap.pb.gz" >"$out/heap-top.txt" 2>/dev/null
curl -s http://127.0.0.1:9461/metrics | grep -E '^go_(goroutines|memstats_(stack_inuse|heap_inuse|heap_alloc|heap_idle)_bytes)' >"$out/idle-memstats.txt"
wait $gen_a $gen_b
{
  echo "connections: 20000 (10000 per instance)"
  echo "all connected after: $(echo "$connected - $start" | bc) s"
  echo "RSS before: $before kB; with 20,000 idle: $after kB"
  echo "per connection: $(echo "scale=2; ($after - $before) / 20000" | bc) kB"
  grep -h -E '^connections' "$work/idle-a.txt" "$work/idle-b.txt"
} | tee "$out/idle.txt"

go run ./cmd/chatbench chart -o docs/performance.svg "$out/runs-a.jsonl" "$out/runs-b.jsonl"
