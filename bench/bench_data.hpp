#pragma once
// What the benchmarks share: sizes from the environment, the PostgreSQL URL
// of bench scripts, one generator of ~200-byte entries, so every suite
// measures the same rows, and the scratch files of the embedded suites.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <unistd.h>

#include <benchmark/benchmark.h>

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

/// Entries 0 .. `rows` - 1 of `make_entry`.
inline std::vector<entry> make_entries(std::size_t rows) {
  std::vector<entry> out;
  out.reserve(rows);
  for (std::size_t i = 0; i < rows; ++i) out.push_back(make_entry(i));
  return out;
}

/// The embedded suites' data set: `rows` entries with keys "key:%08zu" in
/// scrambled order (a multiplicative permutation), ~180-byte JSON values and
/// versions 1 to 100.
inline std::vector<entry> scrambled_entries(std::size_t rows) {
  std::vector<entry> out;
  out.reserve(rows);
  const std::string pad(150, 'x');
  char key[32];
  for (std::size_t i = 0; i < rows; ++i) {
    std::snprintf(key, sizeof key, "key:%08zu", (i * 7919) % rows);
    out.push_back(entry::put(key, "{\"id\":" + std::to_string(i) + ",\"pad\":\"" + pad + "\"}",
                             1 + static_cast<version_type>(i % 100)));
  }
  return out;
}

/// The files of one embedded database: the main file and its side files
/// (each the main path plus a suffix), under `<TMPDIR>/storesync_bench`.
struct db_files {
  std::string extension;              // of the main file: ".db"
  std::vector<std::string> suffixes;  // of its side files: "-wal", ...

  /// `<TMPDIR>/storesync_bench/<name>-<pid><extension>`, with any files of
  /// an earlier run removed.
  std::string fresh(const std::string& name) const {
    const char* tmp = std::getenv("TMPDIR");
    const auto dir = std::filesystem::path(tmp ? tmp : "/tmp") / "storesync_bench";
    std::filesystem::create_directories(dir);
    const std::string path = (dir / (name + "-" + std::to_string(::getpid()) + extension)).string();
    remove(path);
    return path;
  }

  void remove(const std::string& path) const {
    std::filesystem::remove(path);
    for (const std::string& suffix : suffixes) std::filesystem::remove(path + suffix);
  }
};

/// Times `write(store)` once per iteration on a store that `open(path)`
/// makes at a fresh path of `files`; opening, closing and removing the files
/// are not timed. An error from either skips the benchmark with its message.
template <class Open, class Write>
void time_write_to_fresh_store(benchmark::State& state, const db_files& files, Open open, Write write) {
  for (auto _ : state) {
    state.PauseTiming();
    const std::string path = files.fresh("store");
    auto opened = open(path);
    if (!opened) {
      state.SkipWithError(opened.error().message().c_str());
      return;
    }
    auto store = std::move(opened).value();
    state.ResumeTiming();
    if (auto r = write(store); !r) {
      state.SkipWithError(r.error().message().c_str());
      return;
    }
    state.PauseTiming();
    { auto closing = std::move(store); }
    files.remove(path);
    state.ResumeTiming();
  }
}

}  // namespace storesync::bench
