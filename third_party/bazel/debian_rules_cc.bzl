"""rules_cc from Debian's bazel-rules-cc, made to load under Bazel 4.2.3.

Debian ships rules_cc 0.0.4, which is newer than Bazel 4.2.3: two files load
`use_cpp_toolchain` from @bazel_tools, which 4.2.3 does not have. This rule
mirrors the system tree (symlinks, nothing copied) and rewrites only those two
files, so `load("@rules_cc//cc:defs.bzl", ...)` works everywhere and no network
is needed.
"""

_PATCHED = [
    "cc/private/rules_impl/cc_flags_supplier.bzl",
    "cc/private/rules_impl/compiler_flag.bzl",
]

def _debian_rules_cc_impl(rctx):
    root = rctx.path(rctx.attr.path)
    if not root.exists:
        fail("rules_cc not found at %s: install Debian's bazel-rules-cc" % root)
    listing = rctx.execute(["find", ".", "-type", "f"], working_directory = str(root))
    if listing.return_code != 0:
        fail("cannot list %s: %s" % (root, listing.stderr))
    for rel in listing.stdout.splitlines():
        rel = rel[2:]  # strip "./"
        if rel in _PATCHED:
            text = rctx.read(rctx.path(str(root) + "/" + rel))
            text = text.replace(', "use_cpp_toolchain")', ")")
            text = text.replace(
                "toolchains = use_cpp_toolchain()",
                'toolchains = ["@bazel_tools//tools/cpp:toolchain_type"]',
            )
            rctx.file(rel, text, executable = False)
        else:
            rctx.symlink(str(root) + "/" + rel, rel)

debian_rules_cc = repository_rule(
    implementation = _debian_rules_cc_impl,
    attrs = {"path": attr.string(default = "/usr/share/bazel/rules/cc")},
    local = True,
    doc = "Mirrors Debian's rules_cc and adapts it to Bazel 4.2.3.",
)
