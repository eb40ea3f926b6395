#!/usr/bin/env bash
# kv_server against Redis, measured by redis-benchmark: each server pinned
# to one core and the client to the other, runs alternating between the
# two servers, SET and GET at pipeline depths 1 and 16. Prints one CSV line
# per run and, at the end, each configuration's median requests per second
# and p99 latency, and kv_server's ratio to Redis. docs/kv-server.md holds
# the figures. Needs redis-server and redis-benchmark (Debian's
# redis-server and redis-tools) and a quiet machine with two cores.
#
#   bazel build -c opt //examples:kv_server
#   bash bench/kv_vs_redis.sh bazel-bin/examples/kv_server/kv_server [rounds=3] [requests=200000]
#   KV_FLAGS=--busy_poll_us=100 bash bench/kv_vs_redis.sh ...    # kv_server with extra flags
set -euo pipefail

kv_server=$1
rounds=${2:-3}
requests=${3:-200000}
server_cpu=0
client_cpu=1
kv_port=6391
redis_port=6392

work=$(mktemp -d)
pid=
stop_server() {
  if [ -n "$pid" ]; then
    kill -INT "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    pid=
  fi
}
trap 'stop_server; rm -rf "$work"' EXIT

wait_for_port() {
  for _ in $(seq 1 100); do
    redis-cli -p "$1" ping >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  echo "no server answered on port $1" >&2
  return 1
}

start() {  # start <kv|redis>: sets pid and port
  if [ "$1" == kv ]; then
    port=$kv_port
    # shellcheck disable=SC2086 # KV_FLAGS: extra flags, split on spaces
    taskset -c "$server_cpu" "$kv_server" --port="$port" ${KV_FLAGS:-} >"$work/kv.out" 2>&1 &
  else
    port=$redis_port
    taskset -c "$server_cpu" redis-server --port "$port" --save '' --appendonly no >"$work/redis.out" 2>&1 &
  fi
  pid=$!
  wait_for_port "$port"
}

# CPU time the server's threads have run, in nanoseconds (the kernel's
# per-thread accounting): the server's own cost, whatever the client's.
server_cpu_ns() {
  cat /proc/"$pid"/task/*/schedstat | awk '{ns += $1} END {printf "%.0f", ns}'
}

echo "server,pipeline,test,rps,avg_ms,min_ms,p50_ms,p95_ms,p99_ms,max_ms,server_cpu_us_per_request"
for round in $(seq 1 "$rounds"); do
  for pipeline in 1 16; do
    for server in redis kv; do
      start "$server"
      for t in set get; do
        cpu_before=$(server_cpu_ns)
        line=$(taskset -c "$client_cpu" redis-benchmark -p "$port" -t "$t" -n "$requests" -c 50 -P "$pipeline" --csv |
          tail -n +2 | tr -d '"')
        cpu_after=$(server_cpu_ns)
        per_request=$(awk -v a="$cpu_before" -v b="$cpu_after" -v n="$requests" 'BEGIN {printf "%.3f", (b - a) / n / 1000}')
        echo "$server,$pipeline,$line,$per_request" | tee -a "$work/results.csv"
      done
      stop_server
    done
  done
done

echo
echo "medians over $rounds rounds (requests per second; p99 in ms; the server's CPU time per request in us):"
for pipeline in 1 16; do
  for t in SET GET; do
    median() {  # median <server> <column>
      grep "^$1,$pipeline,$t," "$work/results.csv" | cut -d, -f"$2" | sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'
    }
    redis_rps=$(median redis 4)
    kv_rps=$(median kv 4)
    redis_p99=$(median redis 9)
    kv_p99=$(median kv 9)
    redis_cpu=$(median redis 11)
    kv_cpu=$(median kv 11)
    awk -v p="$pipeline" -v t="$t" -v r="$redis_rps" -v k="$kv_rps" -v rp="$redis_p99" -v kp="$kv_p99" \
      -v rc="$redis_cpu" -v kc="$kv_cpu" \
      'BEGIN {printf "-P %-2s %-3s  redis %8.0f rps p99 %.3f ms %.2f us   kv_server %8.0f rps p99 %.3f ms %.2f us   rps ratio %.2fx   cpu ratio %.2fx\n", p, t, r, rp, rc, k, kp, kc, k / r, rc / kc}'
  done
done
