#!/usr/bin/env bash
# kv_server driven by Redis's own tools: redis-cli's commands and replies
# as a Redis user sees them, redis-benchmark's tests without a warning,
# 10,000 idle connections held while others are served, and Ctrl-C
# (SIGINT) stopping it cleanly. Run with one shard and with two.
#
#   redis_tools_test.sh <kv_server binary> <threads>
#
# Without redis-cli (Debian's redis-tools) it says so and passes: the
# server's behaviour is checked by kv_server_test with plain sockets.
set -uo pipefail

server=$1
threads=$2
if ! command -v redis-cli >/dev/null || ! command -v redis-benchmark >/dev/null; then
  echo "SKIPPED: redis-cli and redis-benchmark are not installed (apt-get install redis-tools)"
  exit 0
fi

work=$(mktemp -d)
server_pid=
idle_pid=
cleanup() {
  [ -n "$idle_pid" ] && kill "$idle_pid" 2>/dev/null
  [ -n "$server_pid" ] && kill -KILL "$server_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*" >&2
  echo "--- kv_server output:" >&2
  cat "$work/server.out" >&2
  exit 1
}

"$server" --port=0 --threads="$threads" --max_connections=10100 >"$work/server.out" 2>&1 &
server_pid=$!
port=
for _ in $(seq 1 200); do
  port=$(sed -n 's/^kv_server: listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$work/server.out")
  [ -n "$port" ] && break
  sleep 0.05
done
[ -n "$port" ] || fail "kv_server did not print its port"
echo "kv_server (${threads} shards) on port $port"

cli() { redis-cli -p "$port" "$@" 2>&1; }
expect() {  # expect <wanted output> <redis-cli arguments...>
  local want=$1
  shift
  local got
  got=$(cli "$@")
  [ "$got" == "$want" ] || fail "redis-cli $*: got '$got', wanted '$want'"
}

# What redis-cli prints to a pipe (no type decorations), reply by reply.
expect "PONG" ping
expect "OK" set greeting hello
expect "hello" get greeting
expect "" get nothing
expect "1" incr visits
expect "11" incrby visits 10
expect "ERR value is not an integer or out of range" incr greeting
expect "ERR increment or decrement would overflow" incrby visits 9223372036854775807
expect "OK" set limited x EX 100
expect "100" ttl limited
expect "-1" ttl greeting
expect "-2" ttl nothing
expect "" set greeting again NX
expect "OK" set greeting again XX
expect "3" rpush queue a b c
expect $'a\nb\nc' lrange queue 0 -1
expect "a" lpop queue
expect "2" llen queue
expect "WRONGTYPE Operation against a key holding the wrong kind of value" get queue
expect $'again\n\n11' mget greeting nothing visits
expect "OK" mset m1 1 m2 2 m3 3
expect "3" del m1 m2 m3
expect "ERR unknown command 'nosuch', with args beginning with: 'x' " nosuch x
expect "ERR wrong number of arguments for 'get' command" get
# The decorated form a terminal shows.
expect "(nil)" --no-raw get nothing
expect '"11"' --no-raw get visits
expect "(integer) 12" --no-raw incr visits
# Commands on stdin, as a script would pipe them.
got=$(printf 'set piped 42\nincr piped\nget piped\n' | cli)
[ "$got" == $'OK\n43\n43' ] || fail "piped commands: got '$got'"

# redis-benchmark: every test it runs here, with no warning (it asks
# CONFIG GET first and warns when the server cannot answer).
redis-benchmark -p "$port" -t ping_inline,ping_mbulk,set,get,incr,lpush,rpush,lpop,rpop,lrange_100,mset \
  -n 2000 -c 20 -P 4 -q 2>&1 | tr '\r' '\n' | grep -v "rps=" >"$work/bench.out" ||
  fail "redis-benchmark exited with an error: $(cat "$work/bench.out")"
cat "$work/bench.out"
if grep -qiE "warning|error" "$work/bench.out"; then fail "redis-benchmark complained: $(cat "$work/bench.out")"; fi
for t in PING_INLINE PING_MBULK SET GET INCR LPUSH RPUSH LPOP RPOP "LRANGE_100" "MSET"; do
  grep -qE "^ *${t}[^:]*: [0-9.]+ requests per second" "$work/bench.out" || fail "redis-benchmark did not report $t"
done

# 10,000 idle connections held (redis-benchmark -I opens them and waits),
# while another client is served.
redis-benchmark -p "$port" -c 10000 -I >"$work/idle.out" 2>&1 &
idle_pid=$!
held=0
for _ in $(seq 1 300); do
  held=$(cli info clients | tr -d '\r' | sed -n 's/^connected_clients://p')
  [ "${held:-0}" -ge 10000 ] && break
  sleep 0.1
done
[ "${held:-0}" -ge 10000 ] || fail "only ${held:-0} connections held, wanted 10000 (redis-benchmark: $(cat "$work/idle.out"))"
echo "held $held connections"
expect "OK" set during idle
expect "idle" get during
kill "$idle_pid"
wait "$idle_pid" 2>/dev/null
idle_pid=
expect "idle" get during

# Ctrl-C: a clean stop, with the summary.
kill -INT "$server_pid"
wait "$server_pid"
status=$?
server_pid=
[ "$status" -eq 0 ] || fail "kv_server exited with status $status after SIGINT"
grep -q "^kv_server: stopped (SIGINT): " "$work/server.out" || fail "kv_server printed no summary"
cat "$work/server.out"
echo "PASS: redis-cli and redis-benchmark against kv_server with $threads shards"
