#!/usr/bin/env bash
# Keeps the code in the docs honest. Every ```cpp block in the given
# Markdown files must be preceded (blank lines aside) by one of:
#
#   <!-- snippet: examples/quickstart.cc -->   the block's lines appear, in
#       order and verbatim, in that file (which builds and runs as a test);
#       a line "// ..." inside the block stands for lines left out.
#   <!-- not compiled: <reason> -->             e.g. code that must fail to compile.
#
#   check_snippets.sh <file.md>...   (paths relative to the workspace root)
set -uo pipefail

status=0
for doc in "$@"; do
  awk -v doc="$doc" '
    function rtrim(s) { sub(/[ \t\r]+$/, "", s); return s }
    function fail(line, msg) { printf "FAIL: %s:%d: %s\n", doc, line, msg; bad = 1 }
    function load(path,    line, n) {
      if (path in loaded) return loaded[path]
      n = 0
      while ((getline line < path) > 0) src[path, ++n] = rtrim(line)
      close(path)
      srcn[path] = n
      loaded[path] = (n > 0)
      return loaded[path]
    }
    # Finds chunk[1..m] as consecutive lines of path at or after line `from`;
    # returns the line after the match, or 0.
    function find(path, from, m,    i, j, ok) {
      for (i = from; i + m - 1 <= srcn[path]; i++) {
        ok = 1
        for (j = 1; j <= m; j++) if (src[path, i + j - 1] != chunk[j]) { ok = 0; break }
        if (ok) return i + m
      }
      return 0
    }
    function check_block(    i, m, pos, next_pos) {
      blocks++
      if (mark == "") { fail(start, "```cpp block without a <!-- snippet: ... --> or <!-- not compiled: ... --> marker"); return }
      if (mark == "skip") return
      if (!load(path)) { fail(start, "snippet source " path " is missing or empty"); return }
      pos = 1; m = 0
      for (i = 1; i <= n + 1; i++) {
        if (i <= n && lines[i] !~ /^[ \t]*\/\/ \.\.\.$/) { chunk[++m] = lines[i]; continue }
        if (m > 0) {
          next_pos = find(path, pos, m)
          if (next_pos == 0) { fail(start, "a " m "-line chunk is not found verbatim in " path " after line " pos - 1 "; it starts: " chunk[1]); return }
          pos = next_pos
        }
        m = 0
      }
      snippets++
    }
    /^<!-- snippet: [^ ]+ -->$/ { path = $3; mark = "snippet"; markline = FNR; next }
    /^<!-- not compiled: .+ -->$/ { mark = "skip"; markline = FNR; next }
    !inblock && /^```cpp[ \t]*$/ { inblock = 1; start = FNR; n = 0; next }
    inblock && /^```[ \t]*$/ { inblock = 0; check_block(); mark = ""; next }
    inblock { lines[++n] = rtrim($0); next }
    NF > 0 && mark != "" { fail(markline, "marker not followed by a ```cpp block"); mark = "" }
    END {
      if (inblock) fail(start, "unterminated ```cpp block")
      printf "%s: %d cpp blocks, %d checked against examples\n", doc, blocks, snippets
      exit bad
    }
  ' "$doc" || status=1
done
[ "$status" -eq 0 ] && echo "PASS" || echo "FAIL: see above"
exit "$status"
