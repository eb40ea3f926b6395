#!/usr/bin/env bash
# Runs one example program; passes when it exits with the expected status
# and prints (on stdout or stderr) every expected line fragment.
#
#   run_example.sh <status> <program> [argument]... -- [expected fragment]...
set -uo pipefail

want_status=$1
program=$2
shift 2
args=()
while [ "$#" -gt 0 ] && [ "$1" != "--" ]; do
  args+=("$1")
  shift
done
[ "$#" -gt 0 ] && shift  # the "--"

output=$("$program" "${args[@]}" 2>&1)
status=$?
echo "$output"
if [ "$status" -ne "$want_status" ]; then
  echo "FAIL: $program ${args[*]} exited with status $status, not $want_status" >&2
  exit 1
fi
for expected in "$@"; do
  if ! grep -qF -- "$expected" <<<"$output"; then
    echo "FAIL: $program ${args[*]} did not print: $expected" >&2
    exit 1
  fi
done
echo "PASS: $program ${args[*]}"
