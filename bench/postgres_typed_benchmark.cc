// Typed tables: postgres_store's batch write into a table of six typed
// value columns, against the same entries written to its JSON table, and
// against a plain COPY of the same rows into the same typed table (what
// PostgreSQL itself costs, with no storesync code). Run by
// bench/postgres_typed.sh, which starts a throwaway server and prints the
// ratios; STORESYNC_TEST_PG_URL names the server.
//
// STORESYNC_BENCH_ROWS (1,000,000) entries in batches of
// STORESYNC_BENCH_BATCH (10,000), keys ascending.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include <pqxx/pqxx>

#include "bench/bench_data.hpp"
#include "storesync/store/postgres_store.hpp"

namespace {

using clock_type = std::chrono::steady_clock;
using storesync::bench::env_size;
using storesync::bench::pg_url;

std::size_t rows() { return env_size("STORESYNC_BENCH_ROWS", 1'000'000); }
std::size_t batch_size() { return env_size("STORESYNC_BENCH_BATCH", 10'000); }

/// Six value columns of five types.
storesync::table_mapping mapping(bool composite) {
  using storesync::column_type;
  storesync::table_mapping m;
  if (composite) m.key = {{"community_id", column_type::bigint}, {"profile_id", column_type::bigint}};
  else m.key = {{"profile", column_type::text}};
  m.fields = {{.field = "score", .type = column_type::integer},
              {.field = "best", .type = column_type::bigint},
              {.field = "tier", .type = column_type::text},
              {.field = "ratio", .type = column_type::double_precision},
              {.field = "seen_at", .type = column_type::timestamptz},
              {.field = "active", .type = column_type::boolean}};
  return m;
}

/// Entry `i` under `m`'s key, with a ~130-byte value of the six fields.
storesync::entry make_entry(const storesync::table_mapping& m, std::size_t i) {
  char value[192];
  std::snprintf(value, sizeof value,
                R"({"score":%zu,"best":%zu,"tier":"%s","ratio":%zu.25,"seen_at":"2026-%02zu-%02zuT%02zu:%02zu:00Z","active":%s})",
                i % 100'000, i * 7, i % 3 == 0 ? "gold" : "free", i % 1000, 1 + i % 12, 1 + i % 28, i % 24, i % 60,
                i % 2 == 0 ? "true" : "false");
  std::string key;
  if (m.key.size() == 2) {
    key = storesync::encode_key(m, {std::to_string(i / 1000), std::to_string(i % 1000)}).value();
  } else {
    char k[32];
    std::snprintf(k, sizeof k, "profile:%09zu", i);
    key = k;
  }
  return storesync::entry::put(std::move(key), value, 2);
}

const std::vector<storesync::entry>& data(bool composite) {
  static std::optional<std::vector<storesync::entry>> sets[2];
  auto& set = sets[composite ? 1 : 0];
  if (!set) {
    const auto m = mapping(composite);
    set.emplace();
    set->reserve(rows());
    for (std::size_t i = 0; i < rows(); ++i) set->push_back(make_entry(m, i));
  }
  return *set;
}

std::string table_name(const char* stem) { return std::string(stem) + "_" + std::to_string(::getpid()); }

void exec(const std::string& sql) {
  pqxx::connection c(pg_url());
  pqxx::nontransaction tx(c);
  tx.exec(sql);
}

storesync::postgres_store fresh_store(const std::string& table, std::optional<storesync::table_mapping> m) {
  exec("CREATE SCHEMA IF NOT EXISTS bench");
  exec("DROP TABLE IF EXISTS bench." + storesync::detail::pg_quote_ident(table) + ", bench." +
       storesync::detail::pg_quote_ident(table + "_checkpoints"));
  storesync::postgres_config cfg;
  cfg.url = pg_url();
  cfg.schema = "bench";
  cfg.table = table;
  cfg.pool_size = 1;
  cfg.statement_timeout = std::chrono::minutes(30);
  cfg.mapping = std::move(m);
  auto s = storesync::postgres_store::open(cfg);
  if (!s) throw std::runtime_error(s.error().message());
  // Each measurement starts with no dirty pages left by the one before.
  exec("CHECKPOINT");
  return std::move(s).value();
}

void report(benchmark::State& state, std::size_t n, double seconds) {
  state.SetIterationTime(seconds);
  state.counters["rows"] = static_cast<double>(n);
  state.counters["rows_per_s"] = static_cast<double>(n) / seconds;
}

/// Writes every entry through a fresh store, in batches.
void write_all(benchmark::State& state, const char* stem, std::optional<storesync::table_mapping> m,
               bool composite) {
  const auto& all = data(composite);
  for (auto _ : state) {
    auto store = fresh_store(table_name(stem), std::move(m));
    const auto start = clock_type::now();
    std::size_t applied = 0;
    for (std::size_t i = 0; i < all.size(); i += batch_size()) {
      auto r = store.write(std::span(all).subspan(i, std::min(batch_size(), all.size() - i)));
      if (!r) throw std::runtime_error(r.error().message());
      applied += r.value().applied;
    }
    report(state, all.size(), std::chrono::duration<double>(clock_type::now() - start).count());
    if (applied != all.size()) state.SkipWithError("not every entry was applied");
    exec("DROP TABLE bench." + storesync::detail::pg_quote_ident(table_name(stem)));
  }
}

// The typed table, keyed by one text column (the entry key itself).
void BM_TypedWrite(benchmark::State& state) { write_all(state, "typed", mapping(false), false); }
// The typed table, keyed by (community_id, profile_id) plus storesync_key.
void BM_TypedCompositeWrite(benchmark::State& state) { write_all(state, "typed_pair", mapping(true), true); }
// The JSON table, the same entries as BM_TypedWrite.
void BM_JsonWrite(benchmark::State& state) { write_all(state, "json", std::nullopt, false); }

// Plain COPY of the same rows, converted before the clock starts, into the
// typed table as the store creates it, in the same batches, one transaction
// each: no staging table, no version guard, only libpqxx's COPY writer.
void BM_PlainCopyTypedTable(benchmark::State& state) {
  const auto m = mapping(false);
  const auto& all = data(false);
  std::vector<storesync::detail::pg_copy_row> lines;
  lines.reserve(all.size());
  for (const auto& e : all) {
    const auto row = storesync::detail::row_of(m, e).value();
    storesync::detail::pg_copy_row line;
    line.text(e.key);
    line.number(e.version);
    line.number(static_cast<std::int64_t>(e.hash.lo));
    line.number(static_cast<std::int64_t>(e.hash.hi));
    line.number(static_cast<std::int64_t>(storesync::row_hash(e)));
    line.boolean(false);
    for (const auto& c : row.values) line.text(*c);
    lines.push_back(std::move(line));
  }
  for (auto _ : state) {
    const std::string table = table_name("typed_copy");
    { auto created = fresh_store(table, m); }
    const std::vector<std::string> columns{"profile", "version", "storesync_hash_lo", "storesync_hash_hi",
                                           "storesync_row_hash", "storesync_deleted", "score", "best",
                                           "tier", "ratio", "seen_at", "active"};
    pqxx::connection c(pg_url());
    const auto start = clock_type::now();
    for (std::size_t i = 0; i < lines.size(); i += batch_size()) {
      pqxx::work tx(c);
      storesync::detail::pg_copy_in copy(tx, "bench." + storesync::detail::pg_quote_ident(table), columns);
      for (std::size_t j = i; j < std::min(lines.size(), i + batch_size()); ++j) copy.write(lines[j]);
      copy.complete();
      tx.commit();
    }
    report(state, lines.size(), std::chrono::duration<double>(clock_type::now() - start).count());
    exec("DROP TABLE bench." + storesync::detail::pg_quote_ident(table));
  }
}

BENCHMARK(BM_TypedWrite)->Iterations(1)->UseManualTime()->Unit(benchmark::kSecond);
BENCHMARK(BM_JsonWrite)->Iterations(1)->UseManualTime()->Unit(benchmark::kSecond);
BENCHMARK(BM_PlainCopyTypedTable)->Iterations(1)->UseManualTime()->Unit(benchmark::kSecond);
BENCHMARK(BM_TypedCompositeWrite)->Iterations(1)->UseManualTime()->Unit(benchmark::kSecond);

}  // namespace

BENCHMARK_MAIN();
