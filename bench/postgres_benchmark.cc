// PostgreSQL ingest: postgres_store's batch write against the physical limit
// (one plain COPY into a bare table), against plain COPY into a table with
// the store's indexes (what keeping a key and a change feed costs in
// PostgreSQL itself), and the naive path (one autocommit INSERT per row), on
// the same generated entries. Run by
// bench/postgres_ingest.sh, which starts a throwaway server and prints the
// ratio table; STORESYNC_TEST_PG_URL names the server.
//
// Sizes come from the environment: STORESYNC_BENCH_ROWS (1,000,000),
// STORESYNC_BENCH_BATCH (10,000), STORESYNC_BENCH_SINGLE (20,000 rows for the
// per-row INSERT sample), STORESYNC_BENCH_MEMORY_BATCHES (N for the memory
// check: peak RSS after N and after 2N batches).
#include <benchmark/benchmark.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <numeric>
#include <random>
#include <span>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include <pqxx/pqxx>

#include "bench/bench_data.hpp"
#include "storesync/store/postgres_store.hpp"

namespace {

using clock_type = std::chrono::steady_clock;

using storesync::bench::env_size;
using storesync::bench::make_entry;
using storesync::bench::pg_url;

std::size_t rows() { return env_size("STORESYNC_BENCH_ROWS", 1'000'000); }
std::size_t batch_size() { return env_size("STORESYNC_BENCH_BATCH", 10'000); }

/// The shared data set, built once per process so every measurement sees
/// the same entries.
const std::vector<storesync::entry>& data() {
  static const std::vector<storesync::entry> all = storesync::bench::make_entries(rows());
  return all;
}

std::string table_name(const char* stem) { return std::string(stem) + "_" + std::to_string(::getpid()); }

void exec(const std::string& sql) {
  pqxx::connection c(pg_url());
  pqxx::nontransaction tx(c);
  tx.exec(sql);
}

/// Opens a store on `table`, dropped first when `fresh`.
storesync::postgres_store open_store(const std::string& table, bool fresh) {
  exec("CREATE SCHEMA IF NOT EXISTS bench");
  if (fresh) exec("DROP TABLE IF EXISTS bench." + storesync::detail::pg_quote_ident(table));
  storesync::postgres_config cfg;
  cfg.url = pg_url();
  cfg.schema = "bench";
  cfg.table = table;
  cfg.pool_size = 1;
  cfg.statement_timeout = std::chrono::minutes(30);
  auto s = storesync::postgres_store::open(cfg);
  if (!s) throw std::runtime_error(s.error().message());
  return std::move(s).value();
}

storesync::postgres_store fresh_store(const std::string& table) { return open_store(table, true); }
storesync::postgres_store fresh_store_keep(const std::string& table) {
  return open_store(table, false);
}

/// Writes `entries` in batches; returns seconds and the summed report.
std::pair<double, storesync::write_report> write_batches(storesync::postgres_store& store,
                                                         std::span<const storesync::entry> entries) {
  storesync::write_report total;
  const auto start = clock_type::now();
  for (std::size_t i = 0; i < entries.size(); i += batch_size()) {
    const auto n = std::min(batch_size(), entries.size() - i);
    auto r = store.write(entries.subspan(i, n));
    if (!r) throw std::runtime_error(r.error().message());
    total += r.value();
  }
  return {std::chrono::duration<double>(clock_type::now() - start).count(), total};
}

void report(benchmark::State& state, std::size_t n, double seconds) {
  state.SetIterationTime(seconds);
  state.counters["rows"] = static_cast<double>(n);
  state.counters["rows_per_s"] = static_cast<double>(n) / seconds;
}

// (a) postgres_store, new keys. Also (d): the same entries again (all
// unchanged: nothing to apply) and the same keys at an older version (all stale).
void BM_PostgresStoreWriteNewKeys(benchmark::State& state) {
  const auto& all = data();
  for (auto _ : state) {
    auto store = fresh_store(table_name("store_new"));
    const auto [seconds, r] = write_batches(store, all);
    if (r.applied != all.size()) state.SkipWithError("not every entry was applied");
    report(state, all.size(), seconds);
  }
}

void BM_PostgresStoreRewriteSame(benchmark::State& state) {
  const auto& all = data();
  for (auto _ : state) {
    // Runs after BM_PostgresStoreWriteNewKeys: the table holds every entry.
    auto store = fresh_store_keep(table_name("store_new"));
    const auto [seconds, r] = write_batches(store, all);
    if (r.unchanged != all.size()) state.SkipWithError("expected every entry unchanged");
    report(state, all.size(), seconds);
  }
}

void BM_PostgresStoreRewriteOlder(benchmark::State& state) {
  std::vector<storesync::entry> older = data();
  for (auto& e : older) e.version = 1;
  for (auto _ : state) {
    auto store = fresh_store_keep(table_name("store_new"));
    const auto [seconds, r] = write_batches(store, older);
    if (r.stale != older.size()) state.SkipWithError("expected every entry stale");
    report(state, older.size(), seconds);
  }
}

/// Whether a plain-COPY table carries the store's indexes.
enum class indexes { none, store };

/// COPYs every entry into a fresh table `bench.<stem>` with the store's
/// columns (and, with `indexes::store`, its primary key and (version, key)
/// index), in transactions of `per_tx` rows, each sorted by key when
/// `sorted`; returns the seconds from the first COPY to the last commit.
double plain_copy(const char* stem, indexes with, std::size_t per_tx, bool sorted) {
  const auto& all = data();
  const std::string table = "bench." + table_name(stem);
  exec("CREATE SCHEMA IF NOT EXISTS bench");
  exec("DROP TABLE IF EXISTS " + table);
  exec("CREATE TABLE " + table +
       " (key text COLLATE \"C\", version bigint, hash_lo bigint, hash_hi bigint,"
       " row_hash bigint, tombstone boolean, value jsonb,"
       " updated_at timestamptz DEFAULT now())");
  if (with == indexes::store) {
    exec("ALTER TABLE " + table + " ADD PRIMARY KEY (key)");
    exec("CREATE INDEX ON " + table + " (version, key)");
  }
  std::vector<const storesync::entry*> order;
  pqxx::connection c(pg_url());
  const auto start = clock_type::now();
  for (std::size_t i = 0; i < all.size(); i += per_tx) {
    order.clear();
    for (std::size_t j = i; j < std::min(all.size(), i + per_tx); ++j) order.push_back(&all[j]);
    if (sorted) std::sort(order.begin(), order.end(), [](auto* x, auto* y) { return x->key < y->key; });
    pqxx::work tx(c);
    pqxx::stream_to copy(tx, table, std::vector<std::string>{"key", "version", "hash_lo", "hash_hi",
                                                              "row_hash", "tombstone", "value"});
    for (const storesync::entry* e : order)
      copy << std::make_tuple(e->key.c_str(), e->version, static_cast<std::int64_t>(e->hash.lo),
                              static_cast<std::int64_t>(e->hash.hi),
                              static_cast<std::int64_t>(storesync::row_hash(*e)), e->tombstone,
                              e->value.c_str());
    copy.complete();
    tx.commit();
  }
  const double seconds = std::chrono::duration<double>(clock_type::now() - start).count();
  exec("DROP TABLE " + table);
  return seconds;
}

// (b) one plain COPY of every row into a bare table with the same columns.
void BM_PlainCopyBareTable(benchmark::State& state) {
  for (auto _ : state) report(state, data().size(), plain_copy("bare_copy", indexes::none, data().size(), false));
}

// (e) the floor for a keyed table: plain COPY in the store's batches (each
// sorted by key, as the store sends them) into a table with the store's
// primary key and (version, key) index. No version lookup, no guard.
void BM_PlainCopyIndexedTable(benchmark::State& state) {
  for (auto _ : state)
    report(state, data().size(),
           plain_copy("indexed_copy", indexes::store, batch_size(), /*sorted=*/true));
}

// (c) one autocommit INSERT per row (a sample), the naive application path.
void BM_AutocommitInsertPerRow(benchmark::State& state) {
  const auto& all = data();
  const std::size_t n = std::min(all.size(), env_size("STORESYNC_BENCH_SINGLE", 20'000));
  const std::string table = "bench." + table_name("per_row");
  exec("CREATE SCHEMA IF NOT EXISTS bench");
  for (auto _ : state) {
    exec("DROP TABLE IF EXISTS " + table);
    exec("CREATE TABLE " + table +
         " (key text COLLATE \"C\" PRIMARY KEY, version bigint, hash_lo bigint, hash_hi bigint,"
         " row_hash bigint, tombstone boolean, value jsonb,"
         " updated_at timestamptz DEFAULT now())");
    pqxx::connection c(pg_url());
    c.prepare("ins", "INSERT INTO " + table +
                         " (key, version, hash_lo, hash_hi, row_hash, tombstone, value)"
                         " VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb)");
    const auto start = clock_type::now();
    for (std::size_t i = 0; i < n; ++i) {
      const auto& e = all[i];
      pqxx::nontransaction tx(c);
      tx.exec_prepared("ins", e.key, e.version, static_cast<std::int64_t>(e.hash.lo),
                       static_cast<std::int64_t>(e.hash.hi),
                       static_cast<std::int64_t>(storesync::row_hash(e)), e.tombstone, e.value);
    }
    report(state, n, std::chrono::duration<double>(clock_type::now() - start).count());
    exec("DROP TABLE " + table);
  }
}

long peak_rss_kib() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss;
}

// The writer's peak memory after N batches and after 2N: flat means the
// store holds nothing per batch. Batches are generated on the fly, so the
// data set itself is not resident; run it in its own process.
void BM_PostgresStoreWriterMemory(benchmark::State& state) {
  const std::size_t n_batches = env_size("STORESYNC_BENCH_MEMORY_BATCHES", 50);
  for (auto _ : state) {
    auto store = fresh_store(table_name("store_memory"));
    std::vector<storesync::entry> batch;
    std::size_t next = 0;
    long after_n = 0;
    const auto start = clock_type::now();
    for (std::size_t b = 0; b < 2 * n_batches; ++b) {
      batch.clear();
      for (std::size_t i = 0; i < batch_size(); ++i) batch.push_back(make_entry(next++));
      auto r = store.write(batch);
      if (!r) {
        state.SkipWithError(r.error().message().c_str());
        return;
      }
      if (b + 1 == n_batches) after_n = peak_rss_kib();
    }
    report(state, next, std::chrono::duration<double>(clock_type::now() - start).count());
    state.counters["batches_n"] = static_cast<double>(n_batches);
    state.counters["peak_rss_kib_after_n"] = static_cast<double>(after_n);
    state.counters["peak_rss_kib_after_2n"] = static_cast<double>(peak_rss_kib());
  }
}

}  // namespace

// Order matters: the rewrites reuse the table the first one filled.
BENCHMARK(BM_PostgresStoreWriteNewKeys)->Iterations(1)->UseManualTime()->Unit(benchmark::kSecond);
BENCHMARK(BM_PostgresStoreRewriteSame)->Iterations(1)->UseManualTime()->Unit(benchmark::kSecond);
BENCHMARK(BM_PostgresStoreRewriteOlder)->Iterations(1)->UseManualTime()->Unit(benchmark::kSecond);
BENCHMARK(BM_PlainCopyBareTable)->Iterations(1)->UseManualTime()->Unit(benchmark::kSecond);
BENCHMARK(BM_PlainCopyIndexedTable)->Iterations(1)->UseManualTime()->Unit(benchmark::kSecond);
BENCHMARK(BM_AutocommitInsertPerRow)->Iterations(1)->UseManualTime()->Unit(benchmark::kSecond);
BENCHMARK(BM_PostgresStoreWriterMemory)->Iterations(1)->UseManualTime()->Unit(benchmark::kSecond);

BENCHMARK_MAIN();
