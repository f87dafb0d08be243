#pragma once
// What the examples share and is not part of the lesson: how a failed step
// is reported, and a scratch directory that is removed when the example ends.
#include <stdlib.h>  // mkdtemp

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>
#include <system_error>

namespace example {

/// Says what failed and why; the exit code of a failed run.
inline int fail(const char* what, const std::string& why) {
  std::cerr << what << ": " << why << '\n';
  return 1;
}

/// A fresh directory `<stem>.XXXXXX` under TEST_TMPDIR (set by `bazel test`)
/// or /tmp, removed with everything in it on destruction; `path` is empty
/// when none could be made.
struct temp_dir {
  std::filesystem::path path;
  explicit temp_dir(const std::string& stem) {
    const char* base = std::getenv("TEST_TMPDIR");
    std::string pattern = std::string(base ? base : "/tmp") + "/" + stem + ".XXXXXX";
    if (mkdtemp(pattern.data())) path = pattern;
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  ~temp_dir() {
    std::error_code ignored;
    if (!path.empty()) std::filesystem::remove_all(path, ignored);
  }
};

}  // namespace example
