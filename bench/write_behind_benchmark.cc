// write_behind: how fast a put is acknowledged, how fast the backlog drains
// into PostgreSQL compared with writing PostgreSQL directly, and how much
// coalescing saves on a hot set. Run by bench/write_behind.sh, which starts a
// throwaway PostgreSQL and Redis and prints the ratio table.
//
// The backlog drains (BM_DrainBacklog*, with STORESYNC_TEST_REDIS_URL): the
// drain of an owed backlog with the journal in a Redis stream and a Redis
// fast store, next to the file journal and the memory fast store. Each puts
// STORESYNC_BENCH_BACKLOG distinct keys (100,000) from two threads while
// PostgreSQL, up when write-behind opened, refuses every call (faulty_store,
// unavailable), so all of it is journalled and owed; then the store comes
// back (within one retry delay, at most 5 ms) and the drain is the time
// until flush() reports everything delivered.
//
// Sizes: STORESYNC_BENCH_ROWS (1,000,000 distinct keys for the drain),
// STORESYNC_BENCH_SINGLE (20,000 autocommit INSERTs), STORESYNC_BENCH_PUTS
// (puts per producer thread in the latency run, 200,000),
// STORESYNC_BENCH_HOT_KEYS (10,000 keys x 10 updates in the hot set).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <random>
#include <thread>
#include <string>
#include <vector>

#include <pqxx/pqxx>

#include "bench/bench_data.hpp"
#include "storesync/store/faulty_store.hpp"
#include "storesync/store/memory_store.hpp"
#include "storesync/store/postgres_store.hpp"
#include "storesync/store/redis_store.hpp"
#include "storesync/store/redis_stream_journal.hpp"
#include "storesync/strategy/write_behind.hpp"

namespace {

using namespace storesync;
using clock_type = std::chrono::steady_clock;
using pg_write_behind = memory_write_behind<postgres_store>;

std::string scratch(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() / ("storesync-bench-" + name);
  std::filesystem::remove_all(dir);
  return dir.string();
}

postgres_store fresh_table(const std::string& table) {
  {
    pqxx::connection c(bench::pg_url());
    pqxx::work tx(c);
    tx.exec0("DROP TABLE IF EXISTS " + tx.quote_name(table) + ", " + tx.quote_name(table + "_checkpoints"));
    tx.commit();
  }
  postgres_config cfg;
  cfg.url = bench::pg_url();
  cfg.table = table;
  auto s = postgres_store::open(cfg);
  if (!s) throw std::runtime_error(s.error().message());
  return std::move(s).value();
}

write_behind_options options(const std::string& name, std::size_t max_pending) {
  write_behind_options o;
  o.directory = scratch(name);
  o.max_pending_entries = max_pending;
  o.max_pending_bytes = max_pending * 2048;  // the entry bound is the one reached
  // As docs/benchmarks.md's Write-behind figures were measured;
  // bench/durability.sh compares the modes.
  o.journal.durability = durability::process;
  return o;
}

std::unique_ptr<pg_write_behind> open_wb(memory_store& fast, postgres_store& slow, write_behind_options o) {
  auto wb = pg_write_behind::open(fast, slow, std::move(o), exponential_backoff{},
                                  aimd_batch_sizer({.max_size = 20'000, .initial_size = 5'000}),
                                  block_for(std::chrono::seconds(60)));
  if (!wb) throw std::runtime_error(wb.error().message());
  return std::move(wb).value();
}

/// put() latency and throughput in `process` durability, 1 or 2 producers,
/// with a flusher draining behind them into `Slow` (PostgreSQL, or memory
/// as a control that takes the database's CPU out of the picture).
template <class Slow, class MakeSlow>
void put_latency(benchmark::State& state, MakeSlow make_slow) {
  using wb_type = memory_write_behind<Slow>;
  static memory_store* fast = nullptr;
  static Slow* slow = nullptr;
  static std::unique_ptr<wb_type> wb;
  const std::size_t puts = bench::env_size("STORESYNC_BENCH_PUTS", 200'000);
  if (state.thread_index() == 0) {
    fast = new memory_store;
    slow = make_slow();
    auto opened = wb_type::open(*fast, *slow, options("put", 4 * puts), exponential_backoff{},
                                aimd_batch_sizer({.max_size = 20'000, .initial_size = 5'000}),
                                block_for(std::chrono::seconds(60)));
    if (!opened) throw std::runtime_error(opened.error().message());
    wb = std::move(opened).value();
  }
  std::vector<double> micros;
  micros.reserve(puts);
  std::vector<entry> mine;
  mine.reserve(puts);
  for (std::size_t i = 0; i < puts; ++i) mine.push_back(bench::make_entry(i * 2 + state.thread_index()));
  std::size_t n = 0;
  for (auto _ : state) {
    for (const entry& e : mine) {
      const auto t0 = clock_type::now();
      if (!wb->put(e)) state.SkipWithError("put failed");
      micros.push_back(std::chrono::duration<double, std::micro>(clock_type::now() - t0).count());
    }
    n += mine.size();
  }
  std::sort(micros.begin(), micros.end());
  auto at = [&](double q) { return micros[std::min(micros.size() - 1, static_cast<std::size_t>(q * micros.size()))]; };
  state.counters["p50_us"] = benchmark::Counter(at(0.50), benchmark::Counter::kAvgThreads);
  state.counters["p99_us"] = benchmark::Counter(at(0.99), benchmark::Counter::kAvgThreads);
  state.counters["puts_per_s"] = benchmark::Counter(static_cast<double>(n), benchmark::Counter::kIsRate);
  if (state.thread_index() == 0) {
    if (!wb->stop(std::chrono::minutes(5))) state.SkipWithError("stop failed");
    wb.reset();
    delete slow;
    delete fast;
  }
}

void BM_PutLatency(benchmark::State& state) {
  put_latency<postgres_store>(state, [] { return new postgres_store(fresh_table("bench_wb_put")); });
}
BENCHMARK(BM_PutLatency)->Threads(1)->Threads(2)->Iterations(1)->UseRealTime()->Unit(benchmark::kMillisecond);

void BM_PutLatencyMemorySlowStore(benchmark::State& state) {
  put_latency<memory_store>(state, [] { return new memory_store; });
}
BENCHMARK(BM_PutLatencyMemorySlowStore)->Threads(1)->Threads(2)->Iterations(1)->UseRealTime()->Unit(benchmark::kMillisecond);

/// End to end: 1M distinct keys put and flushed into PostgreSQL.
void BM_DrainDistinctKeys(benchmark::State& state) {
  const std::size_t rows = bench::env_size("STORESYNC_BENCH_ROWS", 1'000'000);
  const std::vector<entry> all = bench::make_entries(rows);
  for (auto _ : state) {
    memory_store fast;
    postgres_store slow = fresh_table("bench_wb_drain");
    auto wb = open_wb(fast, slow, options("drain", rows));
    const auto t0 = clock_type::now();
    for (const entry& e : all)
      if (!wb->put(e)) state.SkipWithError("put failed");
    const auto f = wb->flush(std::chrono::minutes(10));
    state.SetIterationTime(std::chrono::duration<double>(clock_type::now() - t0).count());
    if (!f || !f.value().complete) state.SkipWithError("flush incomplete");
    state.counters["flushed"] = static_cast<double>(wb->status().flushed_total);
  }
  state.counters["rows_per_s"] = benchmark::Counter(static_cast<double>(rows), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_DrainDistinctKeys)->Iterations(1)->UseManualTime()->Unit(benchmark::kMillisecond);

using down_store = faulty_store<postgres_store>;

/// Takes `slow` down, puts `all` from two threads into `wb`, then times the
/// drain once `slow` is back.
template <class WriteBehind>
void fill_then_drain(benchmark::State& state, WriteBehind& wb, down_store& slow, const std::vector<entry>& all) {
  slow.set_faults({.unavailable_rate = 1});
  std::vector<std::thread> producers;
  for (std::size_t t = 0; t < 2; ++t)
    producers.emplace_back([&, t] {
      for (std::size_t i = t; i < all.size(); i += 2)
        if (!wb.put(all[i])) state.SkipWithError("put failed");
    });
  for (auto& p : producers) p.join();
  const auto t0 = clock_type::now();
  slow.heal();
  const auto f = wb.flush(std::chrono::minutes(10));
  state.SetIterationTime(std::chrono::duration<double>(clock_type::now() - t0).count());
  if (!f || !f.value().complete) state.SkipWithError("flush incomplete");
  if (wb.status().flushed_total < all.size()) state.SkipWithError("fewer rows flushed than put");
  state.counters["rows_per_s"] = benchmark::Counter(static_cast<double>(all.size()), benchmark::Counter::kIsRate);
}

/// Quick retries, so the store is found back at once.
write_behind_options backlog_options(std::size_t rows) {
  write_behind_options o = options("backlog", rows);
  o.outage_pause = std::chrono::milliseconds(5);
  return o;
}
exponential_backoff backlog_retry() {
  return exponential_backoff({.base = std::chrono::milliseconds(1), .cap = std::chrono::milliseconds(5),
                              .max_attempts = 2});
}
aimd_batch_sizer backlog_sizer() { return aimd_batch_sizer({.max_size = 20'000, .initial_size = 5'000}); }

void BM_DrainBacklogFileJournal(benchmark::State& state) {
  const std::vector<entry> all = bench::make_entries(bench::env_size("STORESYNC_BENCH_BACKLOG", 100'000));
  for (auto _ : state) {
    memory_store fast;
    down_store slow(fresh_table("bench_wb_backlog_file"));
    auto wb = write_behind<memory_store, down_store>::open(fast, slow, backlog_options(all.size()), backlog_retry(),
                                                           backlog_sizer(), block_for(std::chrono::seconds(60)));
    if (!wb) throw std::runtime_error(wb.error().message());
    fill_then_drain(state, *wb.value(), slow, all);
  }
}
BENCHMARK(BM_DrainBacklogFileJournal)->Iterations(1)->UseManualTime()->Unit(benchmark::kMillisecond);

void BM_DrainBacklogRedisStream(benchmark::State& state) {
  using redis_write_behind = write_behind<redis_store, down_store, exponential_backoff, aimd_batch_sizer, block_for,
                                          system_clock, redis_stream_journal>;
  const char* redis = std::getenv("STORESYNC_TEST_REDIS_URL");
  if (redis == nullptr || *redis == '\0') throw std::runtime_error("STORESYNC_TEST_REDIS_URL is not set");
  const std::string url = std::string(redis) + "/0";
  const std::vector<entry> all = bench::make_entries(bench::env_size("STORESYNC_BENCH_BACKLOG", 100'000));
  for (auto _ : state) {
    const std::string prefix = "bench-backlog-" + std::to_string(clock_type::now().time_since_epoch().count()) + ":";
    auto fast = redis_store::open({.url = url, .prefix = prefix + "fast:", .pool_size = 4});
    if (!fast) throw std::runtime_error(fast.error().message());
    auto journal = [&](const std::string& stream) {
      auto j = redis_stream_journal::open({.url = url, .stream = prefix + stream, .consumer = "bench", .pool_size = 4});
      if (!j) throw std::runtime_error(j.error().message());
      return std::move(j).value();
    };
    down_store slow(fresh_table("bench_wb_backlog_stream"));
    auto wb = redis_write_behind::open(fast.value(), slow, journal("journal"), journal("dead-letters"),
                                       backlog_options(all.size()), backlog_retry(), backlog_sizer(),
                                       block_for(std::chrono::seconds(60)));
    if (!wb) throw std::runtime_error(wb.error().message());
    fill_then_drain(state, *wb.value(), slow, all);
  }
}
BENCHMARK(BM_DrainBacklogRedisStream)->Iterations(1)->UseManualTime()->Unit(benchmark::kMillisecond);

/// The same rows through postgres_store's own batch write (10,000 per batch).
void BM_PostgresStoreDirect(benchmark::State& state) {
  const std::size_t rows = bench::env_size("STORESYNC_BENCH_ROWS", 1'000'000);
  const std::vector<entry> all = bench::make_entries(rows);
  for (auto _ : state) {
    postgres_store slow = fresh_table("bench_wb_direct");
    const auto t0 = clock_type::now();
    for (std::size_t i = 0; i < rows; i += 10'000) {
      const std::span<const entry> batch(all.data() + i, std::min<std::size_t>(10'000, rows - i));
      if (!slow.write(batch)) state.SkipWithError("write failed");
    }
    state.SetIterationTime(std::chrono::duration<double>(clock_type::now() - t0).count());
  }
  state.counters["rows_per_s"] = benchmark::Counter(static_cast<double>(rows), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_PostgresStoreDirect)->Iterations(1)->UseManualTime()->Unit(benchmark::kMillisecond);

/// What a naive application does per put: one autocommit INSERT (a sample).
void BM_AutocommitInsertPerPut(benchmark::State& state) {
  const std::size_t rows = bench::env_size("STORESYNC_BENCH_SINGLE", 20'000);
  for (auto _ : state) {
    pqxx::connection c(bench::pg_url());
    {
      pqxx::nontransaction tx(c);
      tx.exec0("DROP TABLE IF EXISTS bench_wb_single");
      tx.exec0("CREATE TABLE bench_wb_single (key text PRIMARY KEY, version bigint, value jsonb)");
    }
    c.prepare("ins", "INSERT INTO bench_wb_single VALUES ($1, $2, $3::jsonb) ON CONFLICT (key) DO UPDATE "
                     "SET version = excluded.version, value = excluded.value WHERE excluded.version > bench_wb_single.version");
    const auto t0 = clock_type::now();
    for (std::size_t i = 0; i < rows; ++i) {
      const entry e = bench::make_entry(i);
      pqxx::nontransaction tx(c);
      tx.exec_prepared0("ins", e.key, e.version, e.value);
    }
    state.SetIterationTime(std::chrono::duration<double>(clock_type::now() - t0).count());
  }
  state.counters["rows_per_s"] = benchmark::Counter(static_cast<double>(rows), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_AutocommitInsertPerPut)->Iterations(1)->UseManualTime()->Unit(benchmark::kMillisecond);

/// A hot set: 10,000 keys, each updated 10 times, in random order, with a
/// 2 s coalescing window (write_delay): about one row per key should reach
/// PostgreSQL.
void BM_HotSetCoalescing(benchmark::State& state) {
  const std::size_t keys = bench::env_size("STORESYNC_BENCH_HOT_KEYS", 10'000);
  std::vector<std::size_t> order;
  for (std::size_t round = 0; round < 10; ++round)
    for (std::size_t k = 0; k < keys; ++k) order.push_back(k);
  std::shuffle(order.begin(), order.end(), std::mt19937_64(7));
  for (auto _ : state) {
    memory_store fast;
    postgres_store slow = fresh_table("bench_wb_hot");
    write_behind_options o = options("hot", keys * 20);
    o.write_delay = std::chrono::seconds(2);
    auto wb = open_wb(fast, slow, std::move(o));
    std::vector<version_type> version(keys, 0);
    const auto t0 = clock_type::now();
    for (std::size_t k : order)
      if (!wb->put(bench::make_entry(k, ++version[k]))) state.SkipWithError("put failed");
    // Let the window pass instead of forcing a flush, as a running service would.
    while (wb->status().pending + wb->status().in_flight > 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    state.SetIterationTime(std::chrono::duration<double>(clock_type::now() - t0).count());
    const auto flushed = wb->status().flushed_total;
    state.counters["puts"] = static_cast<double>(order.size());
    state.counters["rows_written"] = static_cast<double>(flushed);
    state.counters["rows_per_put"] = static_cast<double>(flushed) / static_cast<double>(order.size());
  }
}
BENCHMARK(BM_HotSetCoalescing)->Iterations(1)->UseManualTime()->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
