// SQLite ingest on 1,000,000 entries of ~200 bytes: sqlite_store::write (one
// transaction, version guard, exact report) against a hand-written prepared
// INSERT loop in one transaction into the same table. Target: >= 0.8x.
// Run: bench/embedded_ingest.sh (builds with -c opt and prints the ratios).
#include <benchmark/benchmark.h>
#include <sqlite3.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "bench/bench_data.hpp"
#include "storesync/store/sqlite_store.hpp"

namespace {

using storesync::entry;

constexpr std::size_t rows = 1'000'000;

const std::vector<entry>& dataset() {
  static const std::vector<entry> data = storesync::bench::scrambled_entries(rows);
  return data;
}

const storesync::bench::db_files files{".db", {"-wal", "-shm"}};

// sqlite_store::write: validation, the guarded upsert, exact counts, one transaction.
void BM_SqliteStoreBatchWrite(benchmark::State& state) {
  const std::size_t batch = static_cast<std::size_t>(state.range(0));
  storesync::bench::time_write_to_fresh_store(
      state, files, [](const std::string& path) { return storesync::sqlite_store::open({.path = path}); },
      [batch](storesync::sqlite_store& store) -> storesync::result<void> {
        const auto& data = dataset();
        for (std::size_t at = 0; at < data.size(); at += batch) {
          BOOST_OUTCOME_TRY(store.write(std::span(data).subspan(at, std::min(batch, data.size() - at))));
        }
        return storesync::success();
      });
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * rows));
}
BENCHMARK(BM_SqliteStoreBatchWrite)->Arg(1'000'000)->Iterations(1)->Unit(benchmark::kMillisecond)->UseRealTime();

// The baseline: what an application writes by hand. Same table (created by the
// store, so same schema and index), same pragmas, one transaction, one
// prepared INSERT, the same column values.
void BM_SqliteHandWrittenInsert(benchmark::State& state) {
  const auto& data = dataset();
  for (auto _ : state) {
    state.PauseTiming();
    const std::string path = files.fresh("hand");
    { auto schema = storesync::sqlite_store::open({.path = path}); }
    sqlite3* db = nullptr;
    sqlite3_open(path.c_str(), &db);
    sqlite3_exec(db, "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;"
                 " PRAGMA cache_size = -65536", nullptr, nullptr,
                 nullptr);
    sqlite3_stmt* insert = nullptr;
    sqlite3_prepare_v2(db,
                       "INSERT INTO storesync_entries (key, version, hash, row_hash, value,"
                       " tombstone, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                       -1, &insert, nullptr);
    state.ResumeTiming();
    const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    sqlite3_exec(db, "BEGIN", nullptr, nullptr, nullptr);
    for (const entry& e : data) {
      const auto blob = storesync::detail::hash_to_blob(e.hash);
      sqlite3_bind_text(insert, 1, e.key.data(), static_cast<int>(e.key.size()), SQLITE_STATIC);
      sqlite3_bind_int64(insert, 2, e.version);
      sqlite3_bind_blob(insert, 3, blob.data(), 16, SQLITE_STATIC);
      sqlite3_bind_int64(insert, 4, static_cast<sqlite3_int64>(storesync::row_hash(e)));
      sqlite3_bind_text(insert, 5, e.value.data(), static_cast<int>(e.value.size()), SQLITE_STATIC);
      sqlite3_bind_int(insert, 6, 0);
      sqlite3_bind_int64(insert, 7, now);
      if (sqlite3_step(insert) != SQLITE_DONE) {
        state.SkipWithError(sqlite3_errmsg(db));
        return;
      }
      sqlite3_reset(insert);
    }
    sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr);
    state.PauseTiming();
    sqlite3_finalize(insert);
    sqlite3_close(db);
    files.remove(path);
    state.ResumeTiming();
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * rows));
}
BENCHMARK(BM_SqliteHandWrittenInsert)->Iterations(1)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
