// dual_write's cost per batch: STORESYNC_BENCH_ROWS entries (200,000) in
// batches of STORESYNC_BENCH_BATCH (1,000) through a dual_write with a
// PostgreSQL primary and a SQLite secondary, strict and best effort, as new
// keys and as updates of keys both stores hold, against
// the same batches written to the two stores one after the other with no
// dual_write (what the two writes cost alone). Fresh tables for each. Run by
// bench/dual_write.sh, which starts a throwaway server and prints the ratios.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include <pqxx/pqxx>

#include "bench/bench_data.hpp"
#include "storesync/store/memory_store.hpp"
#include "storesync/store/postgres_store.hpp"
#include "storesync/store/sqlite_store.hpp"
#include "storesync/strategy/dual_write.hpp"

namespace {

using clock_type = std::chrono::steady_clock;
using storesync::bench::env_size;
using storesync::bench::pg_url;

std::size_t rows() { return env_size("STORESYNC_BENCH_ROWS", 200'000); }
std::size_t batch_size() { return env_size("STORESYNC_BENCH_BATCH", 1'000); }

template <class T>
T take(storesync::result<T> r) {
  if (!r) throw std::runtime_error(r.error().message());
  return std::move(r).value();
}

/// Fresh stores: a PostgreSQL table, a SQLite file, a scratch directory.
struct stores {
  std::string table = "dual_" + std::to_string(::getpid());
  std::filesystem::path dir = std::filesystem::temp_directory_path() / table;
  storesync::postgres_store pg = open_pg();
  storesync::sqlite_store lite = open_lite();

  storesync::postgres_store open_pg() {
    exec("CREATE SCHEMA IF NOT EXISTS bench");
    exec("DROP TABLE IF EXISTS bench." + table + ", bench." + table + "_checkpoints");
    storesync::postgres_config cfg;
    cfg.url = pg_url();
    cfg.schema = "bench";
    cfg.table = table;
    cfg.pool_size = 2;
    return take(storesync::postgres_store::open(cfg));
  }
  storesync::sqlite_store open_lite() {
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    return take(storesync::sqlite_store::open({.path = (dir / "secondary.db").string()}));
  }
  ~stores() {
    try {
      exec("DROP TABLE IF EXISTS bench." + table + ", bench." + table + "_checkpoints");
    } catch (...) {
    }
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
  }
  static void exec(const std::string& sql) {
    pqxx::connection c(pg_url());
    pqxx::nontransaction tx(c);
    tx.exec(sql);
  }
};

const std::vector<storesync::entry>& data() {
  static const auto all = storesync::bench::make_entries(rows());
  return all;
}

/// The same keys at the next version.
const std::vector<storesync::entry>& updates() {
  static const auto all = [] {
    std::vector<storesync::entry> out;
    out.reserve(rows());
    for (std::size_t i = 0; i < rows(); ++i) out.push_back(storesync::bench::make_entry(i, 3));
    return out;
  }();
  return all;
}

/// Writes every batch of `all` with `write`, timing only the writes.
template <class Write>
void run(benchmark::State& state, const std::vector<storesync::entry>& all, Write&& write) {
  const auto start = clock_type::now();
  std::size_t batches = 0;
  for (std::size_t i = 0; i < all.size(); i += batch_size(), ++batches)
    write(std::span(all).subspan(i, std::min(batch_size(), all.size() - i)));
  const double seconds = std::chrono::duration<double>(clock_type::now() - start).count();
  state.SetIterationTime(seconds);
  state.counters["ms_per_batch"] = 1000 * seconds / static_cast<double>(batches);
  state.counters["rows_per_s"] = static_cast<double>(all.size()) / seconds;
}

/// New keys, or (`update`) the same keys written again at a newer version.
template <class Consistency>
void dual(benchmark::State& state, bool update) {
  for (auto _ : state) {
    stores s;
    storesync::memory_store log;
    auto dw = take(storesync::dual_write<storesync::postgres_store, storesync::sqlite_store, storesync::memory_store,
                                         Consistency>::open(s.pg, s.lite, log,
                                                            {.intents = {.directory = (s.dir / "intents").string()}}));
    const auto write = [&](std::span<const storesync::entry> batch) { take(dw->write(batch)); };
    if (update) {
      for (std::size_t i = 0; i < data().size(); i += batch_size())
        write(std::span(data()).subspan(i, std::min(batch_size(), data().size() - i)));
    }
    run(state, update ? updates() : data(), write);
  }
}

void BM_DualWriteStrict(benchmark::State& state) { dual<storesync::strict_consistency>(state, false); }
void BM_DualWriteBestEffort(benchmark::State& state) { dual<storesync::best_effort_consistency>(state, false); }
void BM_DualWriteStrictUpdates(benchmark::State& state) { dual<storesync::strict_consistency>(state, true); }
void BM_DualWriteBestEffortUpdates(benchmark::State& state) { dual<storesync::best_effort_consistency>(state, true); }

/// Both stores' own writes, one after the other, of new keys or (`update`)
/// of the same keys again at a newer version.
void own_writes(benchmark::State& state, bool update) {
  for (auto _ : state) {
    stores s;
    const auto write = [&](std::span<const storesync::entry> batch) {
      take(s.pg.write(batch));
      take(s.lite.write(batch));
    };
    if (update) {
      for (std::size_t i = 0; i < data().size(); i += batch_size())
        write(std::span(data()).subspan(i, std::min(batch_size(), data().size() - i)));
    }
    run(state, update ? updates() : data(), write);
  }
}

void BM_BothStoresOwnWrites(benchmark::State& state) { own_writes(state, false); }
void BM_BothStoresOwnUpdates(benchmark::State& state) { own_writes(state, true); }

BENCHMARK(BM_BothStoresOwnWrites)->Iterations(1)->UseManualTime()->Unit(benchmark::kSecond);
BENCHMARK(BM_BothStoresOwnUpdates)->Iterations(1)->UseManualTime()->Unit(benchmark::kSecond);
BENCHMARK(BM_DualWriteBestEffort)->Iterations(1)->UseManualTime()->Unit(benchmark::kSecond);
BENCHMARK(BM_DualWriteStrict)->Iterations(1)->UseManualTime()->Unit(benchmark::kSecond);
BENCHMARK(BM_DualWriteBestEffortUpdates)->Iterations(1)->UseManualTime()->Unit(benchmark::kSecond);
BENCHMARK(BM_DualWriteStrictUpdates)->Iterations(1)->UseManualTime()->Unit(benchmark::kSecond);

}  // namespace

BENCHMARK_MAIN();
