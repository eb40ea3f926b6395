"""Everything a workspace needs to build @keel//rt, offline.

In a WORKSPACE that names Keel's repository `keel`:

    local_repository(name = "keel", path = "third_party/keel")
    load("@keel//bazel:deps.bzl", "keel_dependencies")
    keel_dependencies()

keel_dependencies() defines each repository below only if the workspace has
not defined it already, so a workspace that brings its own rules_cc (or its
own Debian-library repository) keeps it:

- `keel_system`: Debian's packages under /usr (liburing, Abseil, GoogleTest,
  Google Benchmark), as link options; headers come from /usr/include.
- `rules_cc`, `rules_java`, `remote_coverage_tools`: Bazel 4.2.3 refers to
  these from its own tools and would otherwise download them. Keel's
  stand-ins forward to the native rules.
"""

def _keel_stand_in_impl(ctx):
    # The stand-in's files live in Keel's own tree, next to system.BUILD;
    # a repository rule is the one place that can turn a label into a path.
    third_party = ctx.path(Label("@keel//third_party:system.BUILD")).dirname
    source = third_party.get_child(ctx.attr.directory)
    for child in source.readdir():
        ctx.symlink(child, child.basename)

_keel_stand_in = repository_rule(
    implementation = _keel_stand_in_impl,
    attrs = {"directory": attr.string(mandatory = True)},
    local = True,
)

def _define_once(rule, name, **kwargs):
    if not native.existing_rule(name):
        rule(name = name, **kwargs)

def keel_dependencies():
    """Defines the repositories Keel's targets refer to (see the file comment)."""
    _define_once(
        native.new_local_repository,
        name = "keel_system",
        build_file = "@keel//third_party:system.BUILD",
        path = "/usr",
    )
    for name in ["rules_cc", "rules_java", "remote_coverage_tools"]:
        _define_once(_keel_stand_in, name = name, directory = name)
