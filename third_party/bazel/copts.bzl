"""Compiler flags shared by every storesync target (one place to change them)."""

STORESYNC_COPTS = [
    "-Wall",
    "-Wextra",
    "-Werror",
    "-Wno-missing-field-initializers",
]
