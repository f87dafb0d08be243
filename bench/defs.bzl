"""storesync_benchmark: a Google Benchmark binary of bench/."""

load("@rules_cc//cc:defs.bzl", "cc_binary")
load("//third_party/bazel:copts.bzl", "STORESYNC_COPTS")

def storesync_benchmark(name, deps):
    """A benchmark binary `<name>` from `<name>.cc`.

    Built by //... (so it always compiles) but tagged `benchmark`, which the
    test command filters out: only the bench/ scripts run it, with -c opt.
    """
    cc_binary(
        name = name,
        testonly = True,
        srcs = [name + ".cc"],
        copts = STORESYNC_COPTS,
        tags = ["benchmark"],
        deps = deps,
    )
