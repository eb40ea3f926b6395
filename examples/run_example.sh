#!/usr/bin/env bash
# Runs one example program; passes when it exits 0 and prints every expected
# line fragment.
#
#   run_example.sh <program> [expected fragment]...
set -uo pipefail

program=$1
shift
output=$("$program" 2>&1)
status=$?
echo "$output"
if [ "$status" -ne 0 ]; then
  echo "FAIL: $program exited with status $status" >&2
  exit 1
fi
for expected in "$@"; do
  if ! grep -qF -- "$expected" <<<"$output"; then
    echo "FAIL: $program did not print: $expected" >&2
    exit 1
  fi
done
echo "PASS: $program"
