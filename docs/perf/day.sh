#!/usr/bin/env bash
# A realistic day and what it costs (docs/PERFORMANCE.md, "A realistic day:
# what 1,000 people cost"): one redis-server and two chat instances on
# loopback, each with the chat's defaults (TRUST_PROXY=1 only, so that each
# simulated browser has an address of its own), and chatbench -day: PEOPLE
# people (default 2,000) in rooms of 20-200, each in two rooms with a socket
# per room, one message per person per 2 minutes, typing before 80 % of
# them, 5 % of pages reloading per minute, every page polling "your rooms"
# and the directory (unless its socket brought the directory within 40 s,
# as the page's script does), a fifth of people with one page focused
# (reporting what they read 300 ms after messages stop coming, at most
# every 3 s, and that they are focused every 15 s, as the script does;
# their other page and everyone else's are background tabs, which say so
# over their socket and are sent no typing nor directory), a tenth of people on a 200 ms round trip.
#
# Runs, each DURATION long (default 2m; about 17 minutes in all at 2,000
# people), on fresh instances and an empty Redis:
#   full         everything
#   no-messages  the same without messages (typing still comes)
#   no-typing    without typing signals
#   no-reloads   without reloads
#   no-polls     without the page's polls of the directory and your rooms
#   no-reads     without the focused pages' reports of what they read
#   idle         everyone connected, nothing else: presence and the
#                directory's beats, the baseline
# What a part costs is the full run less the run without it. RUNS picks
# which runs (default all six). PROFILE=1 builds the chat with -tags pprof
# and takes a 30 s CPU profile of the first instance a minute into the
# full run (PROFILE_RUN names another), written to cpu-top.txt in OUT (go tool pprof -top, -cum
# first). Writes runs.jsonl and summary.txt in OUT (default docs/perf/day).
# Needs redis-server, redis-cli, jq, curl, bc.
set -euo pipefail
cd "$(dirname "$0")/../.."
people=${PEOPLE:-2000}
duration=${DURATION:-2m}
runs=${RUNS:-full no-messages no-typing no-reloads no-polls no-reads idle}
out=${OUT:-docs/perf/day}
mkdir -p "$out"
work=$(mktemp -d)
trap 'pkill -f "$work/chat " 2>/dev/null || true; [ -n "${redis_pid:-}" ] && kill $redis_pid 2>/dev/null; rm -rf "$work"' EXIT

# free_port prints a loopback port nobody listens on, from $1 upwards.
free_port() {
  local p=$1
  while (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null; do p=$((p + 1)); done
  echo $p
}

tags=()
[ "${PROFILE:-}" = 1 ] && tags=(-tags pprof)
go build "${tags[@]}" -o "$work/chat" ./cmd/chat
go build -o "$work/chatbench" ./cmd/chatbench

rport=$(free_port 6391)
redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no --logfile "$work/redis.log" &
redis_pid=$!
until redis-cli -p "$rport" ping >/dev/null 2>&1; do sleep 0.1; done
p1=$(free_port 8181)
p2=$(free_port $((p1 + 1)))
urls=http://127.0.0.1:$p1,http://127.0.0.1:$p2

# up starts two fresh instances on an empty Redis and sets $pids.
up() {
  pkill -f "$work/chat " 2>/dev/null || true
  while pgrep -f "$work/chat " >/dev/null; do sleep 0.1; done
  redis-cli -p "$rport" flushall >/dev/null
  for p in $p1 $p2; do
    pprof_addr=
    [ "${PROFILE:-}" = 1 ] && [ "$p" = "$p1" ] && pprof_addr=127.0.0.1:$(free_port 6061)
    CHAT_PPROF_ADDR=$pprof_addr TRUST_PROXY=1 SESSION_SECRET=day REDISHOST=127.0.0.1 REDISPORT=$rport \
      "$work/chat" -listen 127.0.0.1:$p >"$work/chat-$p.log" 2>&1 &
    [ -n "$pprof_addr" ] && profile_addr=$pprof_addr
  done
  for p in $p1 $p2; do until curl -sf http://127.0.0.1:$p/ready >/dev/null; do sleep 0.1; done; done
  pids=$(pgrep -f "$work/chat " | paste -sd,)
}

flags_for() {
  case $1 in
    full) ;;
    no-messages) echo -day-messages=false ;;
    no-typing) echo -day-typing=false ;;
    no-reloads) echo -day-reloads=false ;;
    no-polls) echo -day-polls=false ;;
    no-reads) echo -day-focused-share=0 ;;
    idle) echo -day-messages=false -day-typing=false -day-reloads=false -day-polls=false -day-focused-share=0 ;;
    *) echo "unknown run $1" >&2; return 1 ;;
  esac
}

: >"$out/runs.jsonl"
for run in $runs; do
  flags=$(flags_for "$run")
  up
  echo "# $run: $people people for $duration" >&2
  if [ "${PROFILE:-}" = 1 ] && [ "$run" = "${PROFILE_RUN:-full}" ]; then
    # A minute in: everyone is connected and the day is under way.
    (sleep 60 && curl -sf -o "$work/cpu.pprof" "http://$profile_addr/debug/pprof/profile?seconds=30") &
    profiling=$!
  fi
  # shellcheck disable=SC2086 # $flags is a list of flags
  "$work/chatbench" -day -day-people "$people" -day-duration "$duration" -day-redis 127.0.0.1:$rport \
    -urls "$urls" -pids "$pids" -sources 4 -connect-timeout 5m -drain 30s -room-prefix "day-$run" -json $flags |
    jq -c --arg run "$run" '{run: $run} + .' | tee -a "$out/runs.jsonl" >/dev/null
  if [ -n "${profiling:-}" ]; then
    wait "$profiling"
    profiling=
    {
      echo "# A 30 s CPU profile of instance 1 ($((people / 2)) people) during the ${PROFILE_RUN:-full} run, $(date -u +%Y-%m-%d) (go tool pprof -top -cum, then -top)"
      go tool pprof -top -cum -nodecount=60 "$work/chat" "$work/cpu.pprof" 2>/dev/null
      echo
      go tool pprof -top -nodecount=30 "$work/chat" "$work/cpu.pprof" 2>/dev/null
    } >"$out/cpu-top.txt"
  fi
done

{
  echo "A realistic day: $people people, $duration per run, $(date -u +%Y-%m-%d), $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'))"
  echo
  echo "per 1,000 people       chat CPU  Redis CPU  chat RSS  Redis mem  deliveries  p50 ms  p99 ms  lost  doubled"
  jq -r '[.run, (.chat_cpu_pct_per_1000 | . * 100 | round / 100 | tostring) + " %",
      (.redis_cpu_pct_per_1000 | . * 100 | round / 100 | tostring) + " %",
      (.chat_mib_per_1000 | round | tostring) + " MiB", (.redis_mib_per_1000 | . * 10 | round / 10 | tostring) + " MiB",
      .received, (.latency_p50_ms | round), (.latency_p99_ms | round), .lost, .duplicated] | @tsv' "$out/runs.jsonl" |
    awk -F'\t' '{printf "%-20s %10s %10s %9s %10s %11s %7s %7s %5s %8s\n", $1, $2, $3, $4, $5, $6, $7, $8, $9, $10}'
  echo
  # What a part costs: the full run less the run without it, per 1,000
  # people (% of one core), and its share of the full run.
  jq -s -r '
    (map({key: .run, value: .}) | from_entries) as $r
    | def part($name; $c; $rd): "\($name): chat \($c * 100 | round / 100) % (\($c / $r.full.chat_cpu_pct_per_1000 * 100 | round) % of the full run), Redis \($rd * 100 | round / 100) % (\($rd / $r.full.redis_cpu_pct_per_1000 * 100 | round) %)";
    if $r.full == null then "no full run: no shares" else
      (["messages", "typing", "reloads", "polls", "reads"][] | select($r["no-" + .] != null) | . as $p
        | part($p; $r.full.chat_cpu_pct_per_1000 - $r["no-" + $p].chat_cpu_pct_per_1000; $r.full.redis_cpu_pct_per_1000 - $r["no-" + $p].redis_cpu_pct_per_1000)),
      (if $r.idle != null then part("idle (presence, directory beats, open sockets)"; $r.idle.chat_cpu_pct_per_1000; $r.idle.redis_cpu_pct_per_1000) else empty end)
    end' "$out/runs.jsonl"
  echo
  echo "Redis commands of each run (calls, µs), busiest first:"
  jq -r '"\(.run): " + ([.redis_commands | to_entries | sort_by(-.value.usec) | .[:8][] | "\(.key) \(.value.calls) \(.value.usec | round)"] | join("; "))' "$out/runs.jsonl"
  echo
  echo "Frames the pages received (the servers' writes to sockets), by what each brought:"
  jq -r '"\(.run): " + ([(.frames_received // {}) | to_entries[] | "\(.key) \(.value)"] | join(", "))' "$out/runs.jsonl"
  echo
  jq -r '"\(.run): sent \(.sent), accepted \(.accepted), typing \(.typing_sent), reloads \(.reloads_done), polls \(.polls_done) (\(.poll_errors) failed), reads \(.reads_done // 0) (\(.read_errors // 0) failed), pages \(.pages), disconnects \(.disconnects), connect failed \(.connect_failed), drained \(.drained), measured \(.measured_s | round) s, generator CPU \(.generator_cpu_s | round) s"' "$out/runs.jsonl"
} | tee "$out/summary.txt"
