"""Shared compiler options for Keel's own targets (not for third_party)."""

KEEL_COPTS = [
    "-Wall",
    "-Wextra",
    "-Wpedantic",
    "-Werror",
]

def keel_cc_library(name, copts = [], **kwargs):
    native.cc_library(name = name, copts = KEEL_COPTS + copts, **kwargs)

def keel_cc_test(name, copts = [], deps = [], **kwargs):
    native.cc_test(
        name = name,
        copts = KEEL_COPTS + copts,
        deps = deps + ["@keel_system//:gtest_main"],
        **kwargs
    )

def keel_cc_binary(name, copts = [], **kwargs):
    native.cc_binary(name = name, copts = KEEL_COPTS + copts, **kwargs)

def keel_cc_benchmark(name, copts = [], deps = [], tags = [], **kwargs):
    """A Google Benchmark binary; run it with `bazel run --config=bench`."""
    native.cc_binary(
        name = name,
        copts = KEEL_COPTS + copts,
        deps = deps + ["@keel_system//:benchmark"],
        tags = tags + ["benchmark"],
        **kwargs
    )

def _shell_quote(s):
    """Quotes one argument for sh_test `args`, which Bazel expands for $(...) and splits like a shell."""
    return "'" + s.replace("$", "$$").replace("'", "'\\''") + "'"

# Every compile-fail test holds the compiler's whole output to this many
# bytes: a Keel mistake is one static_assert whose backtrace names short
# types, and a page of follow-on errors or of nested chain types fails the
# test. Raise it for one test only, with a comment saying why.
KEEL_COMPILE_FAIL_MAX_BYTES = 4096

def keel_compile_fail_test(name, src, expect, deps = [], tags = [], max_bytes = KEEL_COMPILE_FAIL_MAX_BYTES, one_error = True):
    """Compiles `src` and passes only if compilation fails with `expect` in the output.

    `expect` is a list of fixed strings; each must appear in the compiler's
    diagnostics. The whole output must be at most `max_bytes` bytes and,
    with `one_error`, hold exactly one "error:" line (the static_assert,
    with nothing after it). `deps` are the header filegroups the snippet
    includes.
    """
    if not expect:
        fail("keel_compile_fail_test(%s): `expect` must name at least one string" % name)
    limits = ["--max-bytes=%d" % max_bytes]
    if one_error:
        limits.append("--one-error")
    native.sh_test(
        name = name,
        srcs = ["//tests/compile_fail:compile_fail.sh"],
        args = limits + ["$(location %s)" % src] + [_shell_quote(e) for e in expect],
        data = [src] + deps,
        size = "small",
        tags = tags + ["compile_fail"],
    )

def keel_compile_ok_test(name, src, deps = [], tags = []):
    """Compiles `src` (warnings as errors) and passes only if it compiles.

    The positive control for keel_compile_fail_test: same script, same
    include path, so a broken setup fails here instead of letting every
    compile-fail test pass for the wrong reason.
    """
    native.sh_test(
        name = name,
        srcs = ["//tests/compile_fail:compile_fail.sh"],
        args = ["--compiles", "$(location %s)" % src],
        data = [src] + deps,
        size = "small",
        tags = tags + ["compile_fail"],
    )

def keel_compile_fail_tests(tests, ok = None, deps = [], tags = [], max_bytes = {}, several_errors = []):
    """One keel_compile_fail_test per entry of `tests`: `<stem>.cc` -> `<stem>_test`.

    `tests` maps a snippet's file stem to its `expect` list, so a family of
    mistakes reads as one table. `ok`, a stem too, adds the family's positive
    control: a keel_compile_ok_test of `<ok>.cc` named `<ok>_test`.
    `max_bytes` maps a stem to its own output limit and `several_errors`
    lists stems that may give more than one "error:" line; each such
    exception needs a comment in the table saying why.
    """
    if ok != None:
        keel_compile_ok_test(name = ok + "_test", src = ok + ".cc", deps = deps, tags = tags)
    for stem in max_bytes.keys() + several_errors:
        if stem not in tests:
            fail("keel_compile_fail_tests: '%s' has a limit of its own but no test" % stem)
    for stem, expect in tests.items():
        keel_compile_fail_test(
            name = stem + "_test",
            src = stem + ".cc",
            expect = expect,
            deps = deps,
            tags = tags,
            max_bytes = max_bytes.get(stem, KEEL_COMPILE_FAIL_MAX_BYTES),
            one_error = stem not in several_errors,
        )

# --- Examples (//examples) -----------------------------------------------------

def keel_example(name, expect, srcs = None, deps = ["//rt"], doc = None):
    """A runnable example: the binary `name` and the test `<name>_runs_test`.

    The test runs the binary and passes if it exits 0 and prints every
    fragment in `expect` (examples/run_example.sh). `srcs` defaults to
    `<name>.cc`. With `doc` (a Markdown label), `<name>_doc_snippets_test`
    also checks that the code quoted on that page is in `srcs`, verbatim; a
    page quoting several examples uses keel_doc_snippets_test instead.
    """
    if srcs == None:
        srcs = [name + ".cc"]
    keel_cc_binary(name = name, srcs = srcs, deps = deps)
    keel_example_test(name = name + "_runs_test", example = name, expect = expect)
    if doc != None:
        keel_doc_snippets_test(name = name + "_doc_snippets_test", docs = [doc], srcs = srcs)

def keel_example_test(name, example, expect, args = [], status = 0, env = {}):
    """Runs the example binary `example` (same package) with `args` and `env`;
    passes if it exits with `status` and prints every fragment in `expect`
    (on stdout or stderr)."""
    if not expect:
        fail("keel_example_test(%s): `expect` must name at least one line" % name)
    native.sh_test(
        name = name,
        size = "small",
        srcs = ["//examples:run_example.sh"],
        args = [str(status), "$(location :%s)" % example] +
               [_shell_quote(a) for a in args] + ["--"] +
               [_shell_quote(e) for e in expect],
        data = [":" + example],
        env = env,
    )

def keel_doc_snippets_test(name, docs, srcs):
    """Checks that every ```cpp block of the Markdown files (or filegroups)
    `docs` is marked, and that the marked ones are in `srcs`, verbatim
    (examples/check_snippets.sh)."""
    native.sh_test(
        name = name,
        size = "small",
        srcs = ["//examples:check_snippets.sh"],
        args = ["$(locations %s)" % d for d in docs],
        data = srcs + docs,
    )

# --- Sanitizer tests (//sanitizer-tests) ---------------------------------------

def keel_sanitizer_test(name, tags = [], deps = []):
    """A small test of one raw-memory pattern: `<name>.cc` against //rt.

    Tag it "tsan" when it exercises threads and belongs under --config=tsan.
    `deps` adds test helpers (//tests/rt:fd).
    """
    keel_cc_test(
        name = name,
        size = "small",
        srcs = [name + ".cc"],
        tags = tags,
        deps = ["//rt"] + deps,
    )
