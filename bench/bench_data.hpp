#pragma once
// What the benchmarks share: sizes from the environment, the PostgreSQL URL
// of bench scripts, and one generator of ~200-byte entries, so every suite
// measures the same rows.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <string>

#include "storesync/core/entry.hpp"

namespace storesync::bench {

/// The size named by environment variable `name`, or `fallback`.
inline std::size_t env_size(const char* name, std::size_t fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? static_cast<std::size_t>(std::stoull(v)) : fallback;
}

/// The server a bench script started (STORESYNC_TEST_PG_URL).
inline std::string pg_url() {
  const char* url = std::getenv("STORESYNC_TEST_PG_URL");
  if (url == nullptr || *url == '\0') throw std::runtime_error("STORESYNC_TEST_PG_URL is not set");
  return url;
}

/// Entry number `i`: a key of ~20 bytes and a JSON value of ~170 bytes.
/// Keys ascend with `i`, or are scrambled with STORESYNC_BENCH_KEYS=scrambled.
inline entry make_entry(std::size_t i, version_type version = 2) {
  static const bool scrambled = [] {
    const char* v = std::getenv("STORESYNC_BENCH_KEYS");
    return v != nullptr && std::string(v) == "scrambled";
  }();
  const std::uint64_t h = (i * 0x9e3779b97f4a7c15ULL) >> 20;
  std::string digits = std::to_string(scrambled ? h % 10'000'000 : i);
  std::string key = "user:" + std::string(7 - std::min<std::size_t>(7, digits.size()), '0') + digits + ":" +
                    std::to_string(i);
  std::string value = R"({"id":)" + std::to_string(i) + R"(,"name":"user number )" + std::to_string(i) +
                      R"(","email":"user)" + std::to_string(i) + R"(@example.com","score":)" +
                      std::to_string(h % 1000) + R"(,"tags":["alpha","beta","gamma"],"note":")" +
                      std::string(48, 'n') + R"("})";
  return entry::put(std::move(key), std::move(value), version);
}

}  // namespace storesync::bench
