#!/usr/bin/env bash
# The measurements of docs/PERFORMANCE.md, "Against Node and the floor",
# side by side in one run on this machine: the chat, the tutorial's Node.js
# Socket.IO service and `floor` (the machine's limit), all from
# ../shared/bench (BENCH_DIR), under one generator (chatbench, -proto
# socketio for Node). Loopback only; about 15 minutes; not a CI step.
# Needs redis-server, redis-cli, node and npm, jq, bc and curl.
#
# Each part prints its goal from issue 33 and whether this run met it; the
# chat's parts keep a CPU profile of the first instance (*-cpu-top.txt),
# for cost and capacity from a run of its own after the measured ones
# (taking a profile stalls the instance: it would show in the p99).
#
#   1. cost: 40,000 deliveries/s offered (50 rooms x 40, one sender per
#      room at 20 msg/s, two instances on one Redis): deliveries per server
#      CPU-second of the chat and of Node, and floor's writes per CPU-second
#      at the same rate and socket count; ROUNDS rounds, interleaved.
#   2. capacity: floor's writes per second unbounded, then the chat offered
#      70% of it (50 rooms x 40, five senders per room).
#   3. the shared store: Redis CPU per accepted message at 1,000 msg/s
#      (connect, presence and sends together, and the sending alone) and
#      INFO commandstats;
#      storefloor: what Redis spends at that rate on one bare round trip a
#      message (INCR, a PUBLISH to two subscribers, a Lua call) and on a Lua
#      call carrying ten messages (docs/perf/redisfloor).
#   4. idle: server RSS per socket with 18,000 open (and Node's).
#   5. joining: 20,000 sockets signed in and joined, with the CPU the
#      servers, Redis and the generators spent; 1,000 sockets drained by a
#      SIGTERM rejoining the other instance.
#
# PARTS (default "cost capacity store idle join") picks what to run.
# Writes docs/perf/versus/*.json[l] and prints a summary (summary.txt).
set -euo pipefail
cd "$(dirname "$0")/../.."
bench_dir=$(cd "${BENCH_DIR:-../shared/bench}" && pwd)
rounds=${ROUNDS:-2}
parts=" ${PARTS:-cost capacity store storefloor idle join} "
part() { [[ $parts == *" $1 "* ]]; }
out=docs/perf/versus
mkdir -p "$out"
work=$(mktemp -d)
trap 'pkill -f "$work/" 2>/dev/null || true; [ -n "${redis_pid:-}" ] && kill $redis_pid 2>/dev/null; rm -rf "$work"' EXIT

# With -tags pprof: instance 1 serves its profile (cmd/chat/pprof.go).
go build -tags pprof -o "$work/chat" ./cmd/chat
go build -o "$work/chatbench" ./cmd/chatbench
go build -o "$work/redisfloor" ./docs/perf/redisfloor
(cd "$bench_dir/floor" && go build -o "$work/floor" .)
cp -r "$bench_dir/node-websockets" "$work/node"
# The published service never connects its subscriber (../shared/bench/README.md).
sed -i 's/^\(\s*const subClient = redisClient.duplicate();\)$/\1\nsubClient.connect();/' "$work/node/app.js"
grep -q '^subClient.connect();' "$work/node/app.js"
(cd "$work/node" && npm install --omit=dev --no-audit --no-fund --silent >/dev/null)

redis-server --port 6390 --bind 127.0.0.1 --save '' --appendonly no --logfile "$work/redis.log" &
redis_pid=$!
until redis-cli -p 6390 ping >/dev/null 2>&1; do sleep 0.1; done

stop_servers() {
  pkill -f "$work/chat " 2>/dev/null || true
  pkill -f "$work/node/index.js" 2>/dev/null || true
  while pgrep -f "$work/chat |$work/node/index.js" >/dev/null; do sleep 0.1; done
  redis-cli -p 6390 flushall >/dev/null
}

# chat_up starts two fresh chat instances on 8081 and 8082 and sets $pids.
chat_up() {
  stop_servers
  for i in 1 2; do
    CHAT_PPROF_ADDR=$([ $i = 1 ] && echo 127.0.0.1:6061) TRUST_PROXY=1 SESSION_SECRET=perf REDISHOST=127.0.0.1 REDISPORT=6390 \
      SEND_RATE=10000 SEND_BURST=10000 \
      "$work/chat" -listen 127.0.0.1:808$i >"$work/chat-$i.log" 2>&1 &
  done
  for i in 1 2; do until curl -sf http://127.0.0.1:808$i/ready >/dev/null; do sleep 0.1; done; done
  pids=$(pgrep -f "$work/chat " | paste -sd,)
  urls=http://127.0.0.1:8081,http://127.0.0.1:8082
}

# node_up starts two fresh Node instances on 8091 and 8092 and sets $pids.
node_up() {
  stop_servers
  for i in 1 2; do
    (cd "$work/node" && PORT=809$i REDISHOST=127.0.0.1 REDISPORT=6390 exec node "$work/node/index.js" >"$work/node-$i.log" 2>&1) &
  done
  # Ready once Engine.IO answers a handshake (its / renders a page the
  # copy does not carry, and a request there stops the process).
  for i in 1 2; do until curl -sf "http://127.0.0.1:809$i/socket.io/?EIO=4&transport=polling" >/dev/null; do sleep 0.1; done; done
  pids=$(pgrep -f "$work/node/index.js" | paste -sd,)
  urls=http://127.0.0.1:8091,http://127.0.0.1:8092
}

# profile NAME: a 15 s CPU profile of instance 1, from 10 s on (everyone
# has joined by then: 2,000 sockets take 2-4 s), written as
# $out/NAME-cpu-top.txt. Run it in the background beside a chat bench.
profile() {
  sleep 10
  curl -sf -o "$work/$1.pprof" "http://127.0.0.1:6061/debug/pprof/profile?seconds=15" || return 0
  {
    echo "# A 15 s CPU profile of chat instance 1 during the $1 run, $(date -u +%Y-%m-%d) (go tool pprof -top -cum, then -top)"
    go tool pprof -top -cum -nodecount=60 "$work/chat" "$work/$1.pprof" 2>/dev/null
    echo
    go tool pprof -top -nodecount=30 "$work/chat" "$work/$1.pprof" 2>/dev/null
  } >"$out/$1-cpu-top.txt"
}

bench() { "$work/chatbench" -urls "$urls" -pids "$pids" -sources 8 -json "$@"; }
cpu_s() { awk -v t="$(getconf CLK_TCK)" '{print ($14 + $15) / t}' "/proc/$1/stat"; }
rss_kb() { for p in ${1//,/ }; do awk '/VmRSS/ {print $2}' /proc/$p/status; done | paste -sd+ | bc; }

# 1. Cost at 40,000 deliveries/s.
if part cost; then
: >"$out/cost.jsonl"
for round in $(seq "$rounds"); do
  "$work/floor" -conns 2000 -rate 40000 -duration 30s -size 350 | tail -1 |
    jq -c --argjson round "$round" '{what: "floor", round: $round} + .' | tee -a "$out/cost.jsonl"
  node_up
  bench -proto socketio -rooms 50 -members 40 -senders 1 -rate 20 -duration 30s -room-prefix "node-$round" |
    jq -c --argjson round "$round" '{what: "node", round: $round} + .' | tee -a "$out/cost.jsonl" >/dev/null
  chat_up
  bench -rooms 50 -members 40 -senders 1 -rate 20 -duration 30s -room-prefix "chat-$round" |
    jq -c --argjson round "$round" '{what: "chat", round: $round} + .' | tee -a "$out/cost.jsonl" >/dev/null
done
# The profile comes from a run of its own: taking it costs the instance
# CPU and stalls, which must not show in the figures above.
chat_up
profile cost &
profiling=$!
bench -rooms 50 -members 40 -senders 1 -rate 20 -duration 30s -room-prefix chat-profiled |
  jq -c '{what: "chat-profiled"} + .' | tee -a "$out/cost.jsonl" >/dev/null
wait "$profiling"
fi

# 2. Capacity: 70% of what the machine carries.
if part capacity; then
stop_servers
"$work/floor" -conns 2000 -rate 100000000 -duration 10s -size 350 | tail -1 | jq -c '{what: "floor-saturated"} + .' >"$out/capacity.jsonl"
offered=$(jq -r 'select(.what == "floor-saturated") | .per_s * 0.7' "$out/capacity.jsonl")
rate=$(echo "scale=2; $offered / (50 * 5 * 40)" | bc)
chat_up
bench -rooms 50 -members 40 -senders 5 -rate "$rate" -duration 30s -room-prefix capacity |
  jq -c --argjson offered "$offered" '{what: "chat-capacity", offered: $offered} + .' | tee -a "$out/capacity.jsonl" >/dev/null
chat_up
profile capacity &
profiling=$!
bench -rooms 50 -members 40 -senders 5 -rate "$rate" -duration 30s -room-prefix capacity-profiled |
  jq -c --argjson offered "$offered" '{what: "chat-capacity-profiled", offered: $offered} + .' | tee -a "$out/capacity.jsonl" >/dev/null
wait "$profiling"
fi

# 3. Redis CPU per accepted message at 1,000 msg/s.
if part store; then
chat_up
redis-cli -p 6390 config resetstat >/dev/null
r0=$(cpu_s $redis_pid)
# Redis is the third process sampled: its CPU from connected to drained
# is what the sending alone cost it (the servers' CPU figures of this run
# include it).
profile store &
profiling=$!
"$work/chatbench" -urls "$urls" -pids "$pids,$redis_pid" -sources 8 -json \
  -rooms 50 -members 40 -senders 1 -rate 20 -duration 30s -room-prefix store >"$work/store.json"
r1=$(cpu_s $redis_pid)
wait "$profiling"
redis-cli -p 6390 info commandstats | tr -d '\r' | grep '^cmdstat_' >"$out/store-commandstats.txt"
jq -c --argjson redis "$(echo "$r1 - $r0" | bc)" '{what: "store", redis_cpu_s: $redis, redis_us_per_accepted: ($redis * 1e6 / .accepted),
  redis_sending_cpu_s: (.servers[2].cpu_after_s - .servers[2].cpu_connected_s),
  redis_sending_us_per_accepted: ((.servers[2].cpu_after_s - .servers[2].cpu_connected_s) * 1e6 / .accepted)} + .' "$work/store.json" >"$out/store.json"
fi

# 4. Idle: 18,000 sockets, 9,000 per instance, from two generators (a
# process may open 20,000 files); and Node's, the same way.
# idle holds 18,000 sockets and reads the servers' RSS once all are in;
# extra flags ($2...) go to both generators.
idle() {
  local what=$1 before after
  shift
  local gens=()
  before=$(rss_kb "$pids")
  for g in a b; do
    "$work/chatbench" -urls "$urls" -sources 8 "$@" -rooms 225 -members 40 -room-prefix "idle-$g" -idle 30s >"$work/idle-$g.txt" 2>&1 &
    gens+=($!)
  done
  until grep -q '^# holding' "$work/idle-a.txt" 2>/dev/null && grep -q '^# holding' "$work/idle-b.txt" 2>/dev/null; do
    if ! pgrep -f "$work/chatbench" >/dev/null; then cat "$work"/idle-?.txt >&2; return 1; fi
    sleep 0.2
  done
  sleep 5
  after=$(rss_kb "$pids")
  wait "${gens[@]}"
  jq -n -c --arg what "$what" --argjson before "$before" --argjson after "$after" \
    '{what: $what, sockets: 18000, rss_before_kb: $before, rss_held_kb: $after, kb_per_socket: (($after - $before) / 18000)}' | tee -a "$out/idle.jsonl"
  grep -h '^connections' "$work"/idle-?.txt >&2
}
if part idle; then
: >"$out/idle.jsonl"
chat_up
idle chat
node_up
idle node -proto socketio
fi

# 5. Joining: 20,000 sockets (two generators at once), and a drain.
if part storefloor; then
# What Redis spends on one round trip at the store part's rate, with nothing
# of the chat's: the least a message could cost it (see redisfloor's doc).
stop_servers
: >"$out/storefloor.jsonl"
for args in "-mode incr" "-mode publish" "-mode lua" "-mode lua -batch 10"; do
  # shellcheck disable=SC2086
  "$work/redisfloor" -addr 127.0.0.1:6390 -pid "$redis_pid" -rate 1000 -duration 20s $args | tee -a "$out/storefloor.jsonl"
done
fi

if part join; then
chat_up
# Everything on the machine is counted: the generators sign in, fetch the
# page and open a socket for every member, on the same two cores.
s0=$(for p in ${pids//,/ }; do cpu_s "$p"; done | paste -sd+ | bc)
r0=$(cpu_s $redis_pid)
bench -rooms 250 -members 40 -room-prefix join-a -idle 1s >"$work/join-a.json" &
a=$!
bench -rooms 250 -members 40 -room-prefix join-b -idle 1s >"$work/join-b.json" &
b=$!
wait $a $b
s1=$(for p in ${pids//,/ }; do cpu_s "$p"; done | paste -sd+ | bc)
r1=$(cpu_s $redis_pid)
jq -s -c --argjson servers "$(echo "$s1 - $s0" | bc)" --argjson redis "$(echo "$r1 - $r0" | bc)" \
  '{what: "join", sockets: (map(.connections - .connect_failed) | add), connect_s: (map(.connect_s) | max),
    servers_cpu_s: $servers, redis_cpu_s: $redis, generators_cpu_s: (map(.generator_cpu_s) | add)}' \
  "$work/join-a.json" "$work/join-b.json" | tee "$out/join.jsonl"
chat_up
first=$(pgrep -f "$work/chat -listen 127.0.0.1:8081")
"$work/chatbench" -urls "$urls" -sources 8 -json -rooms 50 -members 20 -senders 1 -rate 15 -duration 8s \
  -storm-after 3s -storm-pid "$first" -room-prefix drain | jq -c '{what: "drain"} + .' | tee -a "$out/join.jsonl" >/dev/null
fi
stop_servers

# Summary.
{
  jq -r -s '
    (map(select(.what == "floor")) | map(.per_cpu_s)) as $f |
    (map(select(.what == "node")) | map(.deliveries_per_server_cpu_s)) as $n |
    (map(select(.what == "chat")) | map(.deliveries_per_server_cpu_s)) as $c |
    "cost at 40,000/s: floor \($f | map(floor)) writes per CPU-s; node \($n | map(floor)); chat \($c | map(floor)) deliveries per server CPU-s",
    "  chat / node: \([range(0; $c | length)] | map(($c[.] / $n[.]) * 100 | floor / 100)); chat / floor: \([range(0; $c | length)] | map(($c[.] / $f[.]) * 100 | floor))%",
    (.[] | select(.what != "floor") | "  \(.what) round \(.round // "-"): delivered \(.received)/\(.expected), lost \(.lost), dup \(.duplicated), p50 \(.latency_p50_ms) ms, p99 \(.latency_p99_ms) ms, server CPU \(.server_cpu_send_s) s")
  ' "$out/cost.jsonl"
  jq -r -s '
    (map(select(.what == "floor-saturated"))[0]) as $f | (map(select(.what == "chat-capacity"))[0]) as $c |
    "capacity: floor carries \($f.per_s | floor) writes/s; chat offered \($c.offered | floor)/s: delivered \($c.deliveries_per_s | floor)/s (\(($c.received / $c.expected * 1000 | floor) / 10)%), lost \($c.lost), dup \($c.duplicated), p99 \($c.latency_p99_ms) ms",
    (.[] | select(.what == "chat-capacity-profiled") | "  while profiled: delivered \(.deliveries_per_s | floor)/s, lost \(.lost), dup \(.duplicated), p99 \(.latency_p99_ms) ms")
  ' "$out/capacity.jsonl"
  jq -r '"store at 1,000 msg/s: \(.accepted) accepted, Redis CPU \(.redis_cpu_s) s: \(.redis_us_per_accepted | floor) us per accepted message; sending alone \(.redis_sending_cpu_s) s: \(.redis_sending_us_per_accepted | floor) us"' "$out/store.json"
  awk -F'[:=,]' -v n="$(jq .accepted "$out/store.json")" '{printf "  %s: %d calls, %.1f us per accepted message\n", $1, $3, $5 / n}' "$out/store-commandstats.txt"
  jq -r '"idle \(.what): \(.sockets) sockets, \(.kb_per_socket * 100 | floor / 100) kB RSS per socket"' "$out/idle.jsonl"
  jq -r '"store floor at 1,000 msg/s, \(.mode) \(.batch) a call: \(.us_per_message) us of Redis CPU per message"' "$out/storefloor.jsonl"
  jq -r 'select(.what == "join") | "join: \(.sockets) sockets signed in and joined in \(.connect_s) s; CPU: servers \(.servers_cpu_s) s, Redis \(.redis_cpu_s) s, generators \(.generators_cpu_s) s"' "$out/join.jsonl"
  jq -r 'select(.what == "drain") | "drain: \(.storm_closed_1012) closed with 1012, \(.storm_rejoined) rejoined the other instance, \(.storm_dropped_1013) dropped with 1013; rejoin p50 \(.storm_rejoin_p50_ms) ms, p99 \(.storm_rejoin_p99_ms) ms, max \(.storm_rejoin_max_ms) ms; lost \(.lost), dup \(.duplicated)"' "$out/join.jsonl"
  # The goals of part 1 of issue 33, as this run measured them.
  met() { if [ "$1" = true ]; then echo met; else echo "not met"; fi; }
  if [ -s "$out/cost.jsonl" ]; then
    jq -r -s '(map(select(.what == "floor")) | map(.per_cpu_s)) as $f | map(select(.what == "chat")) | to_entries[] |
      "\(.value.deliveries_per_server_cpu_s / $f[.key] * 100 | floor) \(.value.lost == 0 and .value.duplicated == 0)"' "$out/cost.jsonl" |
      while read -r pct clean; do
        echo "GOAL cost: at least 70% of the floor's writes per CPU-second at 40,000/s, nothing lost or doubled: $pct%: $(met "$([ "$pct" -ge 70 ] && echo "$clean")")"
      done
  fi
  if [ -s "$out/capacity.jsonl" ]; then
    jq -r 'select(.what == "chat-capacity") | "\(.latency_p99_ms) \(.lost == 0 and .duplicated == 0 and .received == .expected and .latency_p99_ms < 50)"' "$out/capacity.jsonl" |
      while read -r p99 ok; do echo "GOAL capacity: p99 under 50 ms at 70% of the floor's saturation, nothing lost or doubled: $p99 ms: $(met "$ok")"; done
  fi
  if [ -s "$out/store.json" ] && [ -s "$out/storefloor.jsonl" ]; then
    publish=$(jq -r 'select(.mode == "publish" and .batch == 1) | .us_per_message' "$out/storefloor.jsonl")
    jq -r --argjson publish "$publish" '"\(.redis_sending_us_per_accepted | floor) \($publish | floor) \(.redis_sending_us_per_accepted / $publish * 100 | floor / 100) \(.redis_sending_us_per_accepted <= 1.3 * $publish)"' "$out/store.json" |
      while read -r us pub ratio ok; do echo "GOAL store: Redis CPU per message at most 1.3x a bare PUBLISH at 1,000/s: $us us against $pub us, ${ratio}x: $(met "$ok")"; done
  fi
} | tee "$out/summary.txt"
