// DuckDB on 1,000,000 entries of ~200 bytes, same run:
// - duckdb_store::write (Appender into a TEMP staging table, one classify
//   query, a guarded UPDATE + INSERT, one transaction) against a plain row-by-row
//   Appender into a bare table (no key, no constraint). Target: >= 0.5x.
// - change-source reads: duckdb_store::changes_after over the table and
//   duckdb_query_source over a query, in batches of 10,000.
// - point reads: duckdb_store::read of one key on the loaded table.
// Run: bench/embedded_ingest.sh (builds with -c opt and prints the ratios).
#include <benchmark/benchmark.h>
#include <duckdb.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "bench/bench_data.hpp"
#include "storesync/store/duckdb_query_source.hpp"
#include "storesync/store/duckdb_store.hpp"

namespace {

using storesync::entry;

constexpr std::size_t rows = 1'000'000;
constexpr std::size_t read_batch = 10'000;

const std::vector<entry>& dataset() {
  static const std::vector<entry> data = storesync::bench::scrambled_entries(rows);
  return data;
}

const storesync::bench::db_files files{".duckdb", {".wal"}};

void BM_DuckdbStoreBatchWrite(benchmark::State& state) {
  storesync::bench::time_write_to_fresh_store(
      state, files, [](const std::string& path) { return storesync::duckdb_store::open({.path = path}); },
      [](storesync::duckdb_store& store) { return store.write(dataset()); });
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * rows));
}
BENCHMARK(BM_DuckdbStoreBatchWrite)->Iterations(2)->Unit(benchmark::kMillisecond)->UseRealTime();

// The baseline: a plain row-by-row Appender into a bare table with the same
// columns and no key or constraint, committed by the appender's close.
void BM_DuckdbPlainAppender(benchmark::State& state) {
  const auto& data = dataset();
  for (auto _ : state) {
    state.PauseTiming();
    const std::string path = files.fresh("plain");
    duckdb_database db;
    duckdb_connection c;
    duckdb_open(path.c_str(), &db);
    duckdb_connect(db, &c);
    duckdb_query(c,
                 "CREATE TABLE bare (key VARCHAR, version BIGINT, hash BLOB, row_hash BIGINT,"
                 " value VARCHAR, tombstone BOOLEAN, updated_at TIMESTAMP)",
                 nullptr);
    state.ResumeTiming();
    const int64_t now_us = std::chrono::duration_cast<std::chrono::microseconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count();
    duckdb_appender app;
    duckdb_appender_create(c, nullptr, "bare", &app);
    for (const entry& e : data) {
      const auto hash = storesync::detail::hash_to_blob(e.hash);
      duckdb_append_varchar_length(app, e.key.data(), e.key.size());
      duckdb_append_int64(app, e.version);
      duckdb_append_blob(app, hash.data(), hash.size());
      duckdb_append_int64(app, static_cast<int64_t>(storesync::row_hash(e)));
      duckdb_append_varchar_length(app, e.value.data(), e.value.size());
      duckdb_append_bool(app, e.tombstone);
      duckdb_append_timestamp(app, duckdb_timestamp{now_us});
      duckdb_appender_end_row(app);
    }
    if (duckdb_appender_close(app) == DuckDBError) {
      state.SkipWithError(duckdb_appender_error(app));
      return;
    }
    duckdb_appender_destroy(&app);
    state.PauseTiming();
    duckdb_disconnect(&c);
    duckdb_close(&db);
    files.remove(path);
    state.ResumeTiming();
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * rows));
}
BENCHMARK(BM_DuckdbPlainAppender)->Iterations(2)->Unit(benchmark::kMillisecond)->UseRealTime();

// A store holding the dataset, shared by the read benchmarks.
storesync::duckdb_store& loaded_store() {
  // Loaded once for every read benchmark; its ~100 MB file goes at exit.
  struct loaded {
    std::string path = files.fresh("read");
    storesync::duckdb_store store = [this] {
      auto s = storesync::duckdb_store::open({.path = path});
      if (!s || !s.value().write(dataset())) std::abort();
      return std::move(s).value();
    }();
    ~loaded() { files.remove(path); }  // unlinked now, freed when `store` closes
  };
  static loaded once;
  return once.store;
}

template <class Source>
void read_all(benchmark::State& state, Source& source) {
  std::size_t total = 0;
  storesync::watermark mark;
  for (;;) {
    auto page = source.changes_after(mark, read_batch);
    if (!page) {
      state.SkipWithError(page.error().message().c_str());
      return;
    }
    if (page.value().empty()) break;
    total += page.value().size();
    mark = {page.value().back().version, page.value().back().key};
  }
  if (total != rows) state.SkipWithError("wrong row count");
}

void BM_DuckdbStoreChangesAfter(benchmark::State& state) {
  auto& store = loaded_store();
  for (auto _ : state) read_all(state, store);
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * rows));
}
BENCHMARK(BM_DuckdbStoreChangesAfter)->Iterations(1)->Unit(benchmark::kMillisecond)->UseRealTime();

// Point reads on the loaded table: keys spread over the whole data set, each a
// hit. The time per iteration is one `duckdb_store::read` (an index lookup).
void BM_DuckdbStorePointRead(benchmark::State& state) {
  auto& store = loaded_store();
  const auto& data = dataset();
  std::size_t at = 0;
  for (auto _ : state) {
    at = (at + 104'729) % rows;
    auto r = store.read(data[at].key);
    if (!r || !r.value()) {
      state.SkipWithError("point read missed");
      return;
    }
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_DuckdbStorePointRead)->Iterations(300)->Unit(benchmark::kMicrosecond)->UseRealTime();

void BM_DuckdbQuerySourceRead(benchmark::State& state) {
  auto& store = loaded_store();
  auto source = storesync::duckdb_query_source::open(
      store.instance(), "SELECT key, value, version, tombstone, hash FROM storesync_entries");
  if (!source) {
    state.SkipWithError(source.error().message().c_str());
    return;
  }
  for (auto _ : state) read_all(state, source.value());
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * rows));
}
BENCHMARK(BM_DuckdbQuerySourceRead)->Iterations(3)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
