// reconciler::check between PostgreSQL and SQLite holding the same
// STORESYNC_BENCH_ROWS entries (1,000,000) but for 10 scattered differences,
// against a plain ordered scan of both sides compared row by row (what a
// check costs without checksums) and against count(*) on both sides. Run by
// bench/reconcile.sh, which starts a throwaway server and prints the ratios;
// STORESYNC_TEST_PG_URL names the server.
#include <benchmark/benchmark.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include <pqxx/pqxx>

#include "bench/bench_data.hpp"
#include "storesync/store/postgres_store.hpp"
#include "storesync/store/sqlite_store.hpp"
#include "storesync/strategy/reconciler.hpp"

namespace {

using clock_type = std::chrono::steady_clock;
using storesync::bench::env_size;
using storesync::bench::pg_url;

std::size_t rows() { return env_size("STORESYNC_BENCH_ROWS", 1'000'000); }

/// The two stores, loaded once per process, with 10 differences: 4 newer
/// versions on PostgreSQL, 3 keys removed from SQLite, 3 keys only SQLite has.
struct fixture {
  std::string table = "reconcile_" + std::to_string(::getpid());
  std::filesystem::path dir = std::filesystem::temp_directory_path() / table;
  std::optional<storesync::postgres_store> pg;
  std::optional<storesync::sqlite_store> lite;
  std::vector<std::string> differing;

  fixture() {
    exec("CREATE SCHEMA IF NOT EXISTS bench");
    exec("DROP TABLE IF EXISTS bench." + table + ", bench." + table + "_checkpoints");
    storesync::postgres_config cfg;
    cfg.url = pg_url();
    cfg.schema = "bench";
    cfg.table = table;
    cfg.pool_size = 2;
    cfg.statement_timeout = std::chrono::minutes(30);
    pg.emplace(take(storesync::postgres_store::open(cfg)));
    std::filesystem::create_directories(dir);
    lite.emplace(take(storesync::sqlite_store::open({.path = (dir / "db.sqlite").string()})));
    const std::size_t n = rows();
    for (std::size_t i = 0; i < n; i += 10'000) {
      std::vector<storesync::entry> batch;
      for (std::size_t j = i; j < std::min(n, i + 10'000); ++j) batch.push_back(storesync::bench::make_entry(j));
      take(pg->write(batch));
      take(lite->write(batch));
    }
    for (int d = 0; d < 10; ++d) {
      const auto e = storesync::bench::make_entry(n * (2 * static_cast<std::size_t>(d) + 1) / 20, 2);
      differing.push_back(e.key);
      if (d < 4) {
        const auto newer = storesync::entry::put(e.key, R"({"changed":true})", 3);
        take(pg->write(std::span(&newer, 1)));
      } else if (d < 7) {
        take(lite->restore(e.key, e.version, std::nullopt));
      } else {
        const auto extra = storesync::entry::put(e.key + ":extra", "{}", 1);
        differing.back() = extra.key;
        take(lite->write(std::span(&extra, 1)));
      }
    }
    std::sort(differing.begin(), differing.end());
  }
  ~fixture() {
    pg.reset();
    lite.reset();
    try {
      exec("DROP TABLE IF EXISTS bench." + table + ", bench." + table + "_checkpoints");
    } catch (...) {
    }
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
  }

  template <class T>
  static T take(storesync::result<T> r) {
    if (!r) throw std::runtime_error(r.error().message());
    return std::move(r).value();
  }
  static void exec(const std::string& sql) {
    pqxx::connection c(pg_url());
    pqxx::nontransaction tx(c);
    tx.exec(sql);
  }
};

fixture& data() {
  static fixture f;
  return f;
}

void report(benchmark::State& state, double seconds) {
  state.SetIterationTime(seconds);
  state.counters["table_rows"] = static_cast<double>(rows());
}

// The reconciler's check of the whole key space.
void BM_ReconcilerCheck(benchmark::State& state) {
  fixture& f = data();
  storesync::reconciler rec(*f.pg, *f.lite);
  for (auto _ : state) {
    const auto start = clock_type::now();
    const auto found = fixture::take(rec.check({}));
    report(state, std::chrono::duration<double>(clock_type::now() - start).count());
    std::vector<std::string> keys;
    for (const auto& d : found.differences) keys.push_back(d.key);
    state.counters["differences"] = static_cast<double>(keys.size());
    state.counters["found_exactly"] = keys == f.differing ? 1 : 0;
    state.counters["rows_read"] = static_cast<double>(found.rows_read);
    state.counters["checksums"] = static_cast<double>(found.checksums);
  }
}

// Both sides scanned in key order, pages of 10,000, merged and compared row
// by row (version, hash, deleted): a check without checksums.
void BM_FullScanCompare(benchmark::State& state) {
  fixture& f = data();
  constexpr std::size_t page = 10'000;
  for (auto _ : state) {
    const auto start = clock_type::now();
    std::vector<storesync::entry> a, b;
    std::size_t ia = 0, ib = 0, read = 0, differences = 0;
    std::string after_a, after_b;
    bool done_a = false, done_b = false;
    for (;;) {
      if (ia == a.size() && !done_a) {
        a = fixture::take(f.pg->scan({}, after_a, page));
        ia = 0;
        read += a.size();
        done_a = a.size() < page;
        if (!a.empty()) after_a = a.back().key;
      }
      if (ib == b.size() && !done_b) {
        b = fixture::take(f.lite->scan({}, after_b, page));
        ib = 0;
        read += b.size();
        done_b = b.size() < page;
        if (!b.empty()) after_b = b.back().key;
      }
      const bool more_a = ia < a.size(), more_b = ib < b.size();
      if (!more_a && !more_b) break;
      if (more_a && (!more_b || a[ia].key < b[ib].key)) {
        ++differences;
        ++ia;
      } else if (more_b && (!more_a || b[ib].key < a[ia].key)) {
        ++differences;
        ++ib;
      } else {
        if (a[ia].version != b[ib].version || a[ia].hash != b[ib].hash || a[ia].tombstone != b[ib].tombstone)
          ++differences;
        ++ia;
        ++ib;
      }
    }
    report(state, std::chrono::duration<double>(clock_type::now() - start).count());
    state.counters["differences"] = static_cast<double>(differences);
    state.counters["rows_read"] = static_cast<double>(read);
  }
}

// count(*) on both sides.
void BM_CountBothSides(benchmark::State& state) {
  fixture& f = data();
  for (auto _ : state) {
    const auto start = clock_type::now();
    pqxx::connection c(pg_url());
    pqxx::nontransaction tx(c);
    const auto pg_rows = tx.exec("SELECT count(*) FROM bench." + f.table)[0][0].as<std::int64_t>();
    sqlite3* db = nullptr;
    sqlite3_open_v2((f.dir / "db.sqlite").c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
    sqlite3_stmt* s = nullptr;
    sqlite3_prepare_v2(db, "SELECT count(*) FROM storesync_entries", -1, &s, nullptr);
    sqlite3_step(s);
    const auto lite_rows = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    sqlite3_close(db);
    report(state, std::chrono::duration<double>(clock_type::now() - start).count());
    state.counters["rows_both"] = static_cast<double>(pg_rows + lite_rows);
  }
}

BENCHMARK(BM_ReconcilerCheck)->Iterations(1)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_FullScanCompare)->Iterations(1)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_CountBothSides)->Iterations(1)->UseManualTime()->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
