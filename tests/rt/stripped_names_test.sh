#!/usr/bin/env bash
# A handler built from a function is named from the binary's symbol table;
# once the binary is stripped it is named after the place it was built.
set -euo pipefail
binary=$1
stripped=${TEST_TMPDIR:-/tmp}/stripped_names
strip -o "$stripped" "$binary"

named=$("$binary")
[ "$named" = "{anonymous}::on_tick ran: 2" ] || { echo "FAIL: unstripped binary printed '$named'" >&2; exit 1; }
fallback=$("$stripped")
[ "$fallback" = "function at stripped_names_main.cc:20 ran: 2" ] || {
  echo "FAIL: stripped binary printed '$fallback'" >&2
  exit 1
}
echo "PASS: '$named' / '$fallback'"
