#pragma once
// What the PostgreSQL tests share: the server scripts/test.sh started, and
// table names no other test process uses.

#include <atomic>
#include <cstdlib>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>

namespace storesync::testing {

/// STORESYNC_TEST_PG_URL. A PostgreSQL test never passes by skipping: with
/// no server this throws, and the test fails.
inline std::string test_pg_url() {
  const char* url = std::getenv("STORESYNC_TEST_PG_URL");
  if (url == nullptr || *url == '\0')
    throw std::runtime_error("STORESYNC_TEST_PG_URL is not set; run scripts/test.sh");
  return url;
}

/// `stem`, a tag of this process and a counter: a name no other test process
/// uses. Not the pid: Bazel's sandbox gives every test process the same one.
inline std::string unique_pg_name(std::string_view stem) {
  static const auto process = std::random_device{}();
  static std::atomic<int> counter{0};
  return std::string(stem) + "_" + std::to_string(process) + "_" + std::to_string(counter++);
}

}  // namespace storesync::testing
