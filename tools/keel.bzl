"""Shared compiler options for Keel's own targets (not for third_party)."""

KEEL_COPTS = [
    "-Wall",
    "-Wextra",
    "-Wpedantic",
    "-Werror",
    "-Wno-gnu-zero-variadic-macro-arguments",
]

def keel_cc_library(name, copts = [], **kwargs):
    native.cc_library(name = name, copts = KEEL_COPTS + copts, **kwargs)

def keel_cc_test(name, copts = [], deps = [], **kwargs):
    native.cc_test(
        name = name,
        copts = KEEL_COPTS + copts,
        deps = deps + ["@system//:gtest_main"],
        **kwargs
    )

def keel_cc_binary(name, copts = [], **kwargs):
    native.cc_binary(name = name, copts = KEEL_COPTS + copts, **kwargs)

def keel_cc_benchmark(name, copts = [], deps = [], tags = [], **kwargs):
    """A Google Benchmark binary; run it with `bazel run --config=bench`."""
    native.cc_binary(
        name = name,
        copts = KEEL_COPTS + copts,
        deps = deps + ["@system//:benchmark"],
        tags = tags + ["benchmark"],
        **kwargs
    )

def _shell_quote(s):
    """Quotes one argument for sh_test `args`, which Bazel expands for $(...) and splits like a shell."""
    return "'" + s.replace("$", "$$").replace("'", "'\\''") + "'"

def keel_compile_fail_test(name, src, expect, deps = [], tags = []):
    """Compiles `src` and passes only if compilation fails with `expect` in the output.

    `expect` is a list of fixed strings; each must appear in the compiler's
    diagnostics. `deps` are the header filegroups the snippet includes.
    """
    if not expect:
        fail("keel_compile_fail_test(%s): `expect` must name at least one string" % name)
    native.sh_test(
        name = name,
        srcs = ["//tests/compile_fail:compile_fail.sh"],
        args = ["$(location %s)" % src] + [_shell_quote(e) for e in expect],
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
