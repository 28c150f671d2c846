#!/usr/bin/env bash
# Runs the "Redis Cluster beside one Redis" measurements of
# docs/PERFORMANCE.md on this machine: the same two workloads, at the same
# rate, once with two instances on one redis-server (REDISHOST/REDISPORT)
# and once with two instances on a six-node Redis Cluster (REDIS_CLUSTER,
# sharded pub/sub), chatbench as the load. Besides chatbench's -json line a
# run it samples, from /proc/<pid>/stat, the CPU of every redis-server and
# of both instances, and counts each primary's shard-subscription
# connections (CLIENT LIST lines whose ssub= is not 0) during the run.
#
# Writes docs/perf/cluster-single.jsonl and docs/perf/cluster-cluster.jsonl
# (chatbench's lines), docs/perf/cluster-redis.jsonl (one line a run: CPU per
# process, subscription connections and rooms per primary) and
# docs/perf/cluster-summary.txt. About 2.5 minutes; loopback only; not a CI
# step. Run it on an otherwise idle machine.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=docs/perf
work=$(mktemp -d)

# Fixed ports below the ephemeral range (32768-60999 here); the cluster bus
# takes port + 10000. Refused at start if any is taken.
single_port=16390
cluster_ports=(16401 16402 16403 16404 16405 16406)
chat_ports=(18091 18092)
duration=${DURATION:-30s}
tck=$(getconf CLK_TCK)

started=() # every process this script starts, by pid
cleanup() {
  local p
  for p in "${started[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${started[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for p in $single_port "${cluster_ports[@]}" "${chat_ports[@]}"; do
  for q in $p $((p + 10000)); do
    if [ -n "$(ss -Htln "sport = :$q")" ]; then
      echo "port $q is in use; pick other ports" >&2
      exit 1
    fi
  done
done

go build -o "$work/chat" ./cmd/chat
go build -o "$work/chatbench" ./cmd/chatbench

# --- one redis-server ---------------------------------------------------
redis-server --port $single_port --bind 127.0.0.1 --save '' --appendonly no \
  --logfile "$work/redis-single.log" &
single_pid=$!
started+=($single_pid)

# --- a six-node Redis Cluster, three primaries with a replica each -------
declare -A node_pid
for p in "${cluster_ports[@]}"; do
  mkdir -p "$work/c$p"
  redis-server --port "$p" --bind 127.0.0.1 --dir "$work/c$p" --cluster-enabled yes \
    --cluster-config-file nodes.conf --cluster-node-timeout 2000 --repl-diskless-sync-delay 0 \
    --save '' --appendonly no --logfile "$work/c$p/redis.log" &
  node_pid[$p]=$!
  started+=($!)
done
for p in $single_port "${cluster_ports[@]}"; do
  until redis-cli -p "$p" ping 2>/dev/null | grep -q PONG; do sleep 0.1; done
done
TERM=dumb redis-cli --cluster create $(printf '127.0.0.1:%s ' "${cluster_ports[@]}") \
  --cluster-replicas 1 --cluster-yes >"$work/cluster-create.txt"
for p in "${cluster_ports[@]}"; do
  until redis-cli -p "$p" cluster info | grep -q '^cluster_state:ok'; do sleep 0.2; done
done
primaries=() replicas=()
declare -A role_of
for p in "${cluster_ports[@]}"; do
  if [ "$(redis-cli -p "$p" role | head -1)" = master ]; then
    primaries+=("$p")
    role_of[$p]=primary
  else
    replicas+=("$p")
    # A replica is labelled with its primary's port.
    role_of[$p]="replica-of-$(redis-cli -p "$p" info replication | tr -d '\r' | awk -F: '/^master_port:/ {print $2}')"
    until redis-cli -p "$p" info replication | grep -q '^master_link_status:up'; do sleep 0.2; done
  fi
done
seeds=$(printf '127.0.0.1:%s,' "${cluster_ports[@]}")
seeds=${seeds%,}

# --- instances, sampling, one run ----------------------------------------
chat_pids=()
stop_chat() {
  local p
  for p in "${chat_pids[@]}"; do
    kill "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  chat_pids=()
}

# start_chat NAME=VALUE...: two fresh instances with this Redis environment.
# TRUST_PROXY=1: chatbench gives each connection an X-Forwarded-For address
# of its own, as browsers behind Cloud Run have.
start_chat() {
  stop_chat
  local i
  for i in 0 1; do
    env SESSION_SECRET=perf SEND_RATE=10000 SEND_BURST=10000 TRUST_PROXY=1 "$@" \
      "$work/chat" -listen 127.0.0.1:${chat_ports[i]} >"$work/chat-$i.log" 2>&1 &
    chat_pids+=($!)
    started+=($!)
  done
  for i in 0 1; do
    until curl -sf http://127.0.0.1:${chat_ports[i]}/ready >/dev/null; do sleep 0.1; done
  done
}

# sampler FILE PID...: every 0.5 s, "cpu <time> <pid> <utime+stime ticks>"
# per process; every 2 s, "subs <time> <port> <conns with sub> <conns with
# ssub> <ssub counts>" for each Redis port in $sub_ports.
sampler() {
  local f=$1 n=0 t p s a line
  shift
  while :; do
    t=$(date +%s.%N)
    for p in "$@"; do
      read -r s </proc/"$p"/stat || continue
      read -r -a a <<<"${s##*) }"
      echo "cpu $t $p $((a[11] + a[12]))"
    done
    if ((n % 4 == 0)); then
      for p in $sub_ports; do
        line=$(redis-cli -p "$p" client list | awk '
          { sub_ = 0; ssub = 0
            for (i = 1; i <= NF; i++) {
              if ($i ~ /^sub=/) sub_ = substr($i, 5) + 0
              if ($i ~ /^ssub=/) ssub = substr($i, 6) + 0
            }
            if (sub_ > 0) nsub++
            if (ssub > 0) { nssub++; list = list (list ? "," : "") ssub } }
          END { printf "%d %d %s", nsub, nssub, (list ? list : "-") }') || continue
        echo "subs $t $p $line"
      done
    fi
    n=$((n + 1))
    sleep 0.5
  done >"$f"
}

# cpu_pct SAMPLES PID FROM TO: the process's CPU in % of one core between the
# first sample at or after FROM and the last at or before TO.
cpu_pct() {
  awk -v pid="$2" -v from="$3" -v to="$4" -v tck="$tck" '
    $1 == "cpu" && $3 == pid && $2 >= from && $2 <= to {
      if (t0 == "") { t0 = $2; c0 = $4 }
      t1 = $2; c1 = $4 }
    END { if (t1 > t0) printf "%.1f", 100 * (c1 - c0) / tck / (t1 - t0); else print "null" }' "$1"
}

# run BACKEND WORKLOAD chatbench-flags...: one run on fresh instances.
run() {
  local backend=$1 workload=$2
  shift 2
  local redis_pids label_json="{}" p
  if [ "$backend" = single ]; then
    start_chat REDISHOST=127.0.0.1 REDISPORT=$single_port
    redis-cli -p $single_port flushall >/dev/null
    redis_pids=$single_pid
    sub_ports=$single_port
    label_json=$(jq -nc --arg p "$single_pid" --arg port "$single_port" '{($p): ("single:" + $port)}')
  else
    start_chat REDIS_CLUSTER="$seeds"
    for p in "${primaries[@]}"; do redis-cli -p "$p" flushall >/dev/null; done
    redis_pids=""
    for p in "${primaries[@]}" "${replicas[@]}"; do
      redis_pids+="${node_pid[$p]} "
      label_json=$(jq -c --arg pid "${node_pid[$p]}" --arg l "${role_of[$p]}:$p" '. + {($pid): $l}' <<<"$label_json")
    done
    sub_ports="${primaries[*]}"
  fi
  local pids
  pids=$(IFS=,; echo "${chat_pids[*]}")

  sampler "$work/samples" $redis_pids "${chat_pids[@]}" &
  local sampler_pid=$!
  started+=($sampler_pid)
  sleep 0.6
  local t0
  t0=$(date +%s.%N)
  "$work/chatbench" -urls "http://127.0.0.1:${chat_ports[0]},http://127.0.0.1:${chat_ports[1]}" \
    -pids "$pids" -sources 8 -duration "$duration" -json "$@" >"$work/bench.json" &
  local bench_pid=$!
  started+=($bench_pid)
  wait $bench_pid
  sleep 0.6
  kill $sampler_pid
  wait $sampler_pid 2>/dev/null || true
  cat "$work/bench.json" >>"$out/cluster-$backend.jsonl"

  # The window chatbench counts server CPU over: from all connected to the
  # end of the drain.
  local from to
  from=$(jq -r --arg t0 "$t0" '($t0 | tonumber) + .connect_s' "$work/bench.json")
  to=$(jq -r --arg t0 "$t0" '($t0 | tonumber) + .connect_s + .send_s + .drain_s' "$work/bench.json")
  local cpu_json="{}"
  for p in $redis_pids "${chat_pids[@]}"; do
    cpu_json=$(jq -c --arg pid "$p" --argjson v "$(cpu_pct "$work/samples" "$p" "$from" "$to")" '. + {($pid): $v}' <<<"$cpu_json")
  done
  # Shard-subscription connections per primary: the most seen in one sample.
  local subs_json
  subs_json=$(awk '$1 == "subs" { if ($5 + 0 >= max_ss[$3] + 0) { max_ss[$3] = $5; ss[$3] = $6 }
                                  if ($4 + 0 > max_s[$3] + 0) max_s[$3] = $4; seen[$3] = 1 }
    END { for (p in seen) printf "%s %d %d %s\n", p, max_s[p], max_ss[p], ss[p] }' "$work/samples" |
    jq -Rsc 'split("\n") | map(select(. != "") | split(" ") |
      {key: .[0], value: {sub_conns: (.[1] | tonumber), ssub_conns: (.[2] | tonumber), ssub_channels: .[3]}}) | from_entries')
  # Rooms (sequence keys) per primary after the run.
  local rooms_json="{}"
  for p in $sub_ports; do
    rooms_json=$(jq -c --arg p "$p" --argjson n "$(redis-cli -p "$p" --scan --pattern 'chat:{*}:seq' | wc -l)" '. + {($p): $n}' <<<"$rooms_json")
  done
  jq -c --arg backend "$backend" --arg workload "$workload" --argjson labels "$label_json" \
    --argjson cpu "$cpu_json" --argjson subs "$subs_json" --argjson rooms "$rooms_json" \
    --argjson chat "[$pids]" --arg from "$from" --arg to "$to" '
    {backend: $backend, workload: $workload, run_id: .run_id,
     window_s: (($to | tonumber) - ($from | tonumber)),
     accepted: .accepted, received: .received, lost: .lost, duplicated: .duplicated,
     deliveries_per_s: .deliveries_per_s, p50_ms: .latency_p50_ms, p99_ms: .latency_p99_ms,
     redis_cpu_pct: [$labels | to_entries[] | {label: .value, pid: (.key | tonumber), cpu_pct: $cpu[.key]}],
     chat_cpu_pct: [$chat[] | {pid: ., cpu_pct: $cpu[tostring]}],
     server_cpu_send_s: .server_cpu_send_s, generator_cpu_send_s: .generator_cpu_send_s,
     subscriptions_per_port: $subs, rooms_per_port: $rooms}' "$work/bench.json" | tee -a "$out/cluster-redis.jsonl"
}

: >"$out/cluster-single.jsonl"
: >"$out/cluster-cluster.jsonl"
: >"$out/cluster-redis.jsonl"
{
  echo "# $(date -u +%FT%TZ), $(nproc) cores, $(redis-server --version | cut -d' ' -f3), $(go version | cut -d' ' -f3)"
  echo "# load before: $(uptime)"
  echo "# cluster:"
  redis-cli -p "${cluster_ports[0]}" cluster nodes | awk '{print "#   " $2, $3, $9}' | sed 's/myself,//' | sort
} >"$work/header.txt"

for backend in single cluster; do
  # (1) 50 rooms × 40 members, one sender a room at 25/s: 50,000 deliveries/s.
  run $backend "50x40 rate 25" -rooms 50 -members 40 -senders 1 -rate 25
  # (2) 200 rooms × 10 members, one sender a room at 10/s: 20,000 deliveries/s.
  run $backend "200x10 rate 10" -rooms 200 -members 10 -senders 1 -rate 10
done
stop_chat

# --- the summary -----------------------------------------------------------
{
  cat "$work/header.txt"
  jq -r '
    def r(n): (. * pow(10; n) | round) / pow(10; n);
    ([.redis_cpu_pct[].cpu_pct] | add) as $redis
    | ([.redis_cpu_pct[] | select(.label | test("^(primary|single)")) | .cpu_pct] | add) as $prim
    | ([.chat_cpu_pct[].cpu_pct] | add) as $chat
    | "\n\(.backend) \(.workload): \(.received) delivered (\(.deliveries_per_s | round)/s), lost \(.lost), dup \(.duplicated), p50 \(.p50_ms | r(2)) ms, p99 \(.p99_ms | r(2)) ms, window \(.window_s | r(1)) s",
      "  redis CPU: \($redis | r(1))% of a core in all, \($prim | r(1))% on primaries; \(($redis / 100 * .window_s / .accepted * 1e6) | r(1)) µs in all, \(($prim / 100 * .window_s / .accepted * 1e6) | r(1)) µs on primaries, per accepted message",
      (.redis_cpu_pct[] | "    \(.label): \(.cpu_pct)%"),
      "  chat CPU: \($chat | r(1))% (\(.chat_cpu_pct | map(.cpu_pct | tostring) | join("% + "))%), \((.received / ($chat / 100 * .window_s)) | round) deliveries per chat CPU-s; generator \(.generator_cpu_send_s | r(1)) CPU-s",
      (.subscriptions_per_port | to_entries[] | "  port \(.key): \(.value.sub_conns) connections with sub>0, \(.value.ssub_conns) with ssub>0 (shard channels each: \(.value.ssub_channels))"),
      (.rooms_per_port | to_entries[] | "  port \(.key): \(.value) rooms")
  ' "$out/cluster-redis.jsonl"
  echo
  echo "# the cluster runs' instance logs, first lines:"
  for i in 0 1; do head -2 "$work/chat-$i.log" | cut -c1-240 | sed 's/^/#   /'; done
} | tee "$out/cluster-summary.txt"
