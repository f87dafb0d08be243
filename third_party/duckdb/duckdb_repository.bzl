"""Exposes a prebuilt DuckDB (header + shared library) as @duckdb//:duckdb.

Looks in $STORESYNC_DUCKDB_DIR when set (a host project's own build), else in
third_party/duckdb/dist of this workspace, where scripts/setup.sh unpacks the
official 1.4.4 build from the npm registry. The folder must hold duckdb.h and
libduckdb.so.
"""

def _duckdb_repository_impl(rctx):
    custom = rctx.os.environ.get("STORESYNC_DUCKDB_DIR", "")
    if custom:
        src = rctx.path(custom)
    else:
        src = rctx.path(Label("//third_party/duckdb:BUILD.bazel")).dirname.get_child("dist")
    for name in ["duckdb.h", "libduckdb.so"]:
        if not src.get_child(name).exists:
            fail("DuckDB not found: %s has no %s. Run scripts/setup.sh, or set " % (src, name) +
                 "STORESYNC_DUCKDB_DIR to a folder with duckdb.h and libduckdb.so.")
        rctx.symlink(src.get_child(name), name)
    rctx.file("BUILD.bazel", """
load("@rules_cc//cc:defs.bzl", "cc_import", "cc_library")

cc_import(
    name = "libduckdb",
    shared_library = "libduckdb.so",
)

cc_library(
    name = "duckdb",
    hdrs = ["duckdb.h"],
    includes = ["."],
    deps = [":libduckdb"],
    visibility = ["//visibility:public"],
)
""")

duckdb_repository = repository_rule(
    implementation = _duckdb_repository_impl,
    environ = ["STORESYNC_DUCKDB_DIR"],
    local = True,
)
