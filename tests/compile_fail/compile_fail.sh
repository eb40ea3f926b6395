#!/usr/bin/env bash
# Runs the compiler on one snippet and checks the outcome, for
# keel_compile_fail_test and keel_compile_ok_test (tools/keel.bzl).
#
#   compile_fail.sh <snippet.cc> <expected string>...   must fail to compile, and
#                                                        every fixed string must appear
#                                                        in the diagnostics
#   compile_fail.sh --compiles <snippet.cc>              must compile (a positive control:
#                                                        a broken include path fails it)
#
# The snippet path is relative to the workspace root, which is found in the
# runfiles tree ($TEST_SRCDIR/keel or $RUNFILES_DIR/keel) and passed as -I,
# so `#include "rt/handler.h"` reads the headers the test depends on.
set -uo pipefail

mode=fail
if [ "${1:-}" = "--compiles" ]; then
  mode=ok
  shift
fi
if [ $# -lt 1 ]; then
  echo "usage: $0 [--compiles] <snippet.cc> [expected string...]" >&2
  exit 2
fi
snippet=$1
shift
if [ "$mode" = fail ] && [ $# -eq 0 ]; then
  echo "FAIL: a compile-fail test needs at least one expected string" >&2
  exit 2
fi

root=""
for candidate in "${TEST_SRCDIR:-}/keel" "${RUNFILES_DIR:-}/keel"; do
  if [ -f "$candidate/rt/handler.h" ]; then
    root=$candidate
    break
  fi
done
if [ -z "$root" ]; then
  echo "FAIL: cannot find the workspace root in the runfiles (looked for rt/handler.h under" \
       "\$TEST_SRCDIR/keel='${TEST_SRCDIR:-}/keel' and \$RUNFILES_DIR/keel='${RUNFILES_DIR:-}/keel');" \
       "does the test depend on //rt:headers?" >&2
  exit 1
fi

case "$snippet" in
  /*) source_file=$snippet ;;
  *) source_file=$root/$snippet ;;
esac
if [ ! -f "$source_file" ]; then
  echo "FAIL: snippet '$snippet' not found (looked at '$source_file')" >&2
  exit 1
fi

compiler=$(command -v g++ || true)
if [ -z "$compiler" ]; then
  echo "FAIL: g++ not found on PATH ('$PATH'); compile-fail tests need Debian's g++ 12 (tools/setup.sh)" >&2
  exit 1
fi

# Plain ASCII, no colour, no source excerpts: the expected strings must come
# from the compiler's own messages, not from the snippet's echoed lines.
# The positive control also holds the snippet to Keel's warning flags.
warnings=(-Wall -Wextra -Wpedantic)
[ "$mode" = ok ] && warnings+=(-Werror -Wmismatched-tags)
command=("$compiler" -std=c++23 -fsyntax-only "${warnings[@]}"
         -fno-diagnostics-show-caret -fdiagnostics-color=never -I"$root" "$source_file")
output=$(LC_ALL=C LANG=C "${command[@]}" 2>&1)
status=$?

if [ "$mode" = ok ]; then
  if [ "$status" -ne 0 ]; then
    echo "FAIL: $snippet must compile, but the compiler exited with status $status:"
    echo "\$ ${command[*]}"
    echo "$output"
    exit 1
  fi
  echo "PASS: $snippet compiles"
  exit 0
fi

if [ "$status" -eq 0 ]; then
  echo "FAIL: $snippet compiled, but it must be rejected"
  echo "\$ ${command[*]}"
  [ -n "$output" ] && echo "$output"
  exit 1
fi

missing=0
for expected in "$@"; do
  if ! grep -qF -- "$expected" <<<"$output"; then
    echo "FAIL: the diagnostics for $snippet do not contain: $expected"
    missing=$((missing + 1))
  fi
done
if [ "$missing" -ne 0 ]; then
  echo "--- compiler output (status $status) ---"
  echo "\$ ${command[*]}"
  echo "$output"
  exit 1
fi
echo "PASS: $snippet is rejected with every expected message ($# checked)"
exit 0
