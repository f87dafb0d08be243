// dual_write's cost per batch: STORESYNC_BENCH_ROWS entries (200,000) in
// batches of STORESYNC_BENCH_BATCH (1,000) through a dual_write with a
// PostgreSQL primary and a SQLite secondary, strict and best effort, against
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

/// Writes every batch with `write`, timing only the writes.
template <class Write>
void run(benchmark::State& state, Write&& write) {
  const auto& all = data();
  const auto start = clock_type::now();
  std::size_t batches = 0;
  for (std::size_t i = 0; i < all.size(); i += batch_size(), ++batches)
    write(std::span(all).subspan(i, std::min(batch_size(), all.size() - i)));
  const double seconds = std::chrono::duration<double>(clock_type::now() - start).count();
  state.SetIterationTime(seconds);
  state.counters["ms_per_batch"] = 1000 * seconds / static_cast<double>(batches);
  state.counters["rows_per_s"] = static_cast<double>(all.size()) / seconds;
}

template <class Consistency>
void dual(benchmark::State& state) {
  for (auto _ : state) {
    stores s;
    storesync::memory_store log;
    auto dw = take(storesync::dual_write<storesync::postgres_store, storesync::sqlite_store, storesync::memory_store,
                                         Consistency>::open(s.pg, s.lite, log,
                                                            {.intents = {.directory = (s.dir / "intents").string()}}));
    run(state, [&](std::span<const storesync::entry> batch) { take(dw->write(batch)); });
  }
}

void BM_DualWriteStrict(benchmark::State& state) { dual<storesync::strict_consistency>(state); }
void BM_DualWriteBestEffort(benchmark::State& state) { dual<storesync::best_effort_consistency>(state); }

void BM_BothStoresOwnWrites(benchmark::State& state) {
  for (auto _ : state) {
    stores s;
    run(state, [&](std::span<const storesync::entry> batch) {
      take(s.pg.write(batch));
      take(s.lite.write(batch));
    });
  }
}

BENCHMARK(BM_BothStoresOwnWrites)->Iterations(1)->UseManualTime()->Unit(benchmark::kSecond);
BENCHMARK(BM_DualWriteBestEffort)->Iterations(1)->UseManualTime()->Unit(benchmark::kSecond);
BENCHMARK(BM_DualWriteStrict)->Iterations(1)->UseManualTime()->Unit(benchmark::kSecond);

}  // namespace

BENCHMARK_MAIN();
