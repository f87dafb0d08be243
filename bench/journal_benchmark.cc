// file_journal append latency and throughput per durability mode, 1 and 2
// producers, ~200-byte records (write-behind's target in process mode: put
// p99 under 20 us and >= 200,000 puts/s), plus CRC32C and the entry codec.
// Run: bazel run -c opt //bench:journal_benchmark
// Journals go to $TEST_TMPDIR or $TMPDIR (default /tmp): put it on the disk
// you care about, since `always` and `interval` measure its fsync.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "storesync/journal/detail/crc32c.hpp"
#include "storesync/journal/entry_codec.hpp"
#include "storesync/journal/file_journal.hpp"

namespace {

std::string bench_dir(const char* name) {
  const char* base = std::getenv("TEST_TMPDIR");
  if (!base) base = std::getenv("TMPDIR");
  return (std::filesystem::path(base ? base : "/tmp") / (std::string("storesync_journal_bench_") + name))
      .string();
}

std::string record_200() {
  const auto e = storesync::entry::put("user:000000042", std::string(R"({"name":")") +
                                                              std::string(130, 'x') + R"(","n":42})",
                                       7);
  const auto bytes = storesync::encode_entry(e);
  return std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

// One journal shared by the benchmark's threads.
std::optional<storesync::file_journal> shared_journal;
std::string shared_dir;

void BM_Append(benchmark::State& state, storesync::durability mode) {
  if (state.thread_index() == 0) {
    shared_dir = bench_dir(std::string(to_string(mode)).c_str());
    std::filesystem::remove_all(shared_dir);
    storesync::journal_options o;
    o.directory = shared_dir;
    o.durability = mode;
    o.fsync_interval_ms = 10;
    auto j = storesync::file_journal::open(o);
    if (!j) {
      state.SkipWithError(j.error().message().c_str());
      return;
    }
    shared_journal.emplace(std::move(j).value());
  }
  const std::string rec = record_200();
  std::vector<std::uint32_t> ns;
  ns.reserve(1 << 20);
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    auto at = shared_journal->append(rec);
    const auto t1 = std::chrono::steady_clock::now();
    if (!at) {
      state.SkipWithError(at.error().message().c_str());
      break;
    }
    if (ns.size() < ns.capacity())
      ns.push_back(static_cast<std::uint32_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count()));
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(rec.size()));
  if (!ns.empty()) {
    std::sort(ns.begin(), ns.end());
    auto pct = [&](double p) { return ns[static_cast<std::size_t>(p * static_cast<double>(ns.size() - 1))] / 1e3; };
    using C = benchmark::Counter;
    state.counters["p50_us"] = C(pct(0.50), C::kAvgThreads);
    state.counters["p99_us"] = C(pct(0.99), C::kAvgThreads);
    state.counters["p999_us"] = C(pct(0.999), C::kAvgThreads);
  }
  if (state.thread_index() == 0) {
    // Teardown waits for the other threads: the loop ends with a barrier.
    const auto s = shared_journal->stats();
    state.counters["records_per_write"] = static_cast<double>(s.records_appended) /
                                          static_cast<double>(std::max<std::uint64_t>(1, s.writes));
    state.counters["records_per_fsync"] = s.fsyncs ? static_cast<double>(s.records_appended) /
                                                         static_cast<double>(s.fsyncs)
                                                   : 0.0;
    (void)shared_journal->close();
    shared_journal.reset();
    std::filesystem::remove_all(shared_dir);
  }
}

BENCHMARK_CAPTURE(BM_Append, process, storesync::durability::process)
    ->Threads(1)->Threads(2)->UseRealTime()->MinTime(1.0);
BENCHMARK_CAPTURE(BM_Append, interval, storesync::durability::interval)
    ->Threads(1)->Threads(2)->UseRealTime()->MinTime(1.0);
BENCHMARK_CAPTURE(BM_Append, always, storesync::durability::always)
    ->Threads(1)->Threads(2)->Threads(8)->UseRealTime()->MinTime(1.0);

void BM_Crc32c(benchmark::State& state) {
  const std::string data(static_cast<std::size_t>(state.range(0)), 'x');
  const auto bytes = std::as_bytes(std::span(data));
  for (auto _ : state) benchmark::DoNotOptimize(storesync::detail::crc32c(bytes));
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_Crc32c)->Arg(200)->Arg(4096);

void BM_Crc32cSoftware(benchmark::State& state) {
  const std::string data(static_cast<std::size_t>(state.range(0)), 'x');
  const auto bytes = std::as_bytes(std::span(data));
  for (auto _ : state) benchmark::DoNotOptimize(storesync::detail::crc32c_software(bytes));
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_Crc32cSoftware)->Arg(200)->Arg(4096);

void BM_EncodeEntry(benchmark::State& state) {
  const auto e = storesync::entry::put("user:000000042", std::string(R"({"name":")") + std::string(130, 'x') + "\"}", 7);
  std::vector<std::byte> buf;
  for (auto _ : state) {
    storesync::encode_entry(e, buf);
    benchmark::DoNotOptimize(buf.data());
  }
}
BENCHMARK(BM_EncodeEntry);

void BM_DecodeEntry(benchmark::State& state) {
  const auto buf = storesync::encode_entry(
      storesync::entry::put("user:000000042", std::string(R"({"name":")") + std::string(130, 'x') + "\"}", 7));
  for (auto _ : state) benchmark::DoNotOptimize(storesync::decode_entry(buf));
}
BENCHMARK(BM_DecodeEntry);

}  // namespace
