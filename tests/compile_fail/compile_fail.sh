#!/usr/bin/env bash
# Runs the compiler on one snippet and checks the outcome, for
# keel_compile_fail_test and keel_compile_ok_test (tools/keel.bzl).
#
#   compile_fail.sh [--max-bytes=N] [--one-error] <snippet.cc> <expected string>...
#       must fail to compile, and every fixed string must appear in the
#       diagnostics; with --max-bytes the whole compiler output must be at
#       most N bytes, with --one-error it must hold exactly one "error:" line
#       (a Keel mistake is one static_assert, with no errors following it)
#   compile_fail.sh --compiles <snippet.cc>
#       must compile (a positive control: a broken include path fails it)
#
# The snippet path is relative to the workspace root, which is found in the
# runfiles tree ($TEST_SRCDIR/keel or $RUNFILES_DIR/keel) and passed as -I,
# so `#include "rt/handler.h"` reads the headers the test depends on.
set -uo pipefail

mode=fail
max_bytes=""
one_error=0
while [ $# -gt 0 ]; do
  case "$1" in
    --compiles) mode=ok ;;
    --max-bytes=*) max_bytes=${1#--max-bytes=} ;;
    --one-error) one_error=1 ;;
    *) break ;;
  esac
  shift
done
if [ $# -lt 1 ]; then
  echo "usage: $0 [--compiles | --max-bytes=N --one-error] <snippet.cc> [expected string...]" >&2
  exit 2
fi
case "$max_bytes" in
  "" | *[!0-9]*)
    if [ -n "$max_bytes" ]; then
      echo "FAIL: --max-bytes takes a number of bytes, not '$max_bytes'" >&2
      exit 2
    fi ;;
esac
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
# The compiler runs in the workspace root with relative paths, so that the
# diagnostics (and their size) read as in a user's workspace, whatever the
# runfiles directory is called.
case "$snippet" in
  /*) relative_source=$source_file ;;
  *) relative_source=$snippet ;;
esac
command=("$compiler" -std=c++23 -fsyntax-only "${warnings[@]}"
         -fno-diagnostics-show-caret -fdiagnostics-color=never -I. "$relative_source")
output=$(cd "$root" && LC_ALL=C LANG=C "${command[@]}" 2>&1)
status=$?

if [ "$mode" = ok ]; then
  if [ "$status" -ne 0 ]; then
    echo "FAIL: $snippet must compile, but the compiler exited with status $status:"
    echo "\$ (cd $root && ${command[*]})"
    echo "$output"
    exit 1
  fi
  echo "PASS: $snippet compiles"
  exit 0
fi

if [ "$status" -eq 0 ]; then
  echo "FAIL: $snippet compiled, but it must be rejected"
  echo "\$ (cd $root && ${command[*]})"
  [ -n "$output" ] && echo "$output"
  exit 1
fi

bytes=$(printf '%s' "$output" | wc -c)
errors=$(grep -c ': error: ' <<<"$output")
failed=0
for expected in "$@"; do
  if ! grep -qF -- "$expected" <<<"$output"; then
    echo "FAIL: the diagnostics for $snippet do not contain: $expected"
    failed=1
  fi
done
if [ -n "$max_bytes" ] && [ "$bytes" -gt "$max_bytes" ]; then
  echo "FAIL: the diagnostics for $snippet are $bytes bytes, more than the $max_bytes allowed"
  failed=1
fi
if [ "$one_error" -eq 1 ] && [ "$errors" -ne 1 ]; then
  echo "FAIL: the diagnostics for $snippet hold $errors 'error:' lines; a mistake must give exactly one"
  failed=1
fi
if [ "$failed" -ne 0 ]; then
  echo "--- compiler output (status $status, $bytes bytes, $errors errors) ---"
  echo "\$ (cd $root && ${command[*]})"
  echo "$output"
  exit 1
fi
echo "PASS: $snippet is rejected with every expected message ($# checked); $bytes bytes, $errors error line(s)"
exit 0
