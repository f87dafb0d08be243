// postgres_store against a real PostgreSQL (STORESYNC_TEST_PG_URL, started by
// scripts/test.sh): what the conformance suite cannot check -- a connection
// killed mid-batch, backend-rejected input, concurrent writers, hostile
// identifiers, schema checks, timeouts, error mapping and password hygiene.
#include "storesync/store/postgres_store.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <map>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <pqxx/pqxx>

#include "storesync/store/memory_store.hpp"
#include "tests/integration/moved_from_check.hpp"
#include "tests/integration/pg_scratch.hpp"
#include "tests/pg_test_env.hpp"

namespace storesync {
namespace {

using testing::count_rows;
using testing::open_ok;
using testing::scratch_table;

// Whether a session named `application_name` comes to wait on a row lock.
// Tests commit a competing transaction only once it does, so the race is
// really run whatever the machine's load; the deadline only guards a hang.
bool waits_on_a_lock(const std::string& application_name) {
  pqxx::connection watch(testing::test_pg_url());
  const auto hang_guard = std::chrono::steady_clock::now() + std::chrono::minutes(10);
  while (std::chrono::steady_clock::now() < hang_guard) {
    pqxx::nontransaction q(watch);
    if (q.exec_params("SELECT count(*) FROM pg_stat_activity WHERE application_name = $1"
                      " AND wait_event_type = 'Lock'",
                      application_name)[0][0]
            .as<int>() > 0)
      return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return false;
}

std::string payload(std::size_t i, std::size_t bytes) {
  std::string v = "{\"i\":" + std::to_string(i) + ",\"pad\":\"";
  v.append(bytes, 'x');
  return v + "\"}";
}

// --- a connection killed in the middle of a batch ----------------------------

TEST(PostgresStore, KilledConnectionMidBatchIsUnavailableAndLeavesNothing) {
  scratch_table t("killed");
  auto cfg = t.config();
  cfg.pool_size = 1;  // the next write must come from a replacement connection
  cfg.application_name = testing::unique_pg_name("storesync-kill");
  auto store = open_ok(cfg);

  std::vector<entry> batch;
  constexpr std::size_t n = 400'000;
  batch.reserve(n);
  for (std::size_t i = 0; i < n; ++i)
    batch.push_back(entry::put("kill:" + std::to_string(i), payload(i, 120), 1));

  std::atomic<bool> done{false};
  result<write_report> outcome = write_report{};
  std::thread writer([&] {
    outcome = store.write(batch);
    done = true;
  });

  pqxx::connection admin(testing::test_pg_url());
  bool killed = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!killed && !done && std::chrono::steady_clock::now() < deadline) {
    pqxx::nontransaction tx(admin);
    const pqxx::result r = tx.exec_params(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
        " WHERE application_name = $1 AND state = 'active' AND pid <> pg_backend_pid()",
        cfg.application_name);
    killed = !r.empty() && r[0][0].as<bool>();
    if (!killed) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  writer.join();
  ASSERT_TRUE(killed) << "the batch finished before its connection could be killed";

  ASSERT_FALSE(outcome) << "a write on a terminated connection reported success";
  EXPECT_TRUE(outcome.error() == condition::unavailable) << outcome.error().message();
  RecordProperty("error", outcome.error().message());
  EXPECT_EQ(count_rows(t.qualified(t.table)), 0) << "a partial batch was left behind";

  // The broken connection was discarded; the next write gets a fresh one.
  std::vector<entry> next = {entry::put("after-kill", "1", 1)};
  auto w = store.write(next);
  ASSERT_TRUE(w) << w.error().message();
  EXPECT_EQ(w.value(), (write_report{1, 0, 0}));
  EXPECT_TRUE(store.read("after-kill").value());
  EXPECT_EQ(store.open_connections(), 1u);
}

// --- input the backend rejects ------------------------------------------------

TEST(PostgresStore, InvalidInputIsRejectedNamingTheKeyAndWritesNothing) {
  scratch_table t("invalid");
  auto store = open_ok(t.config());
  const std::vector<std::pair<entry, std::string>> invalid = {
      {entry::put("bad-json-key", "{\"a\":", 1), "bad-json-key"},
      {entry::put(std::string(max_key_size + 1, 'k'), "1", 1), "kkkk"},
      {entry::put(std::string("nul\0inside", 10), "1", 1), "nul"},
      // Valid JSON that jsonb refuses: the store's rules() refuse it before
      // anything is sent.
      {entry::put("jsonb-nul-key", R"({"s":"a\u0000b"})", 1), "jsonb-nul-key"},
  };
  for (const auto& [bad, shown] : invalid) {
    std::vector<entry> batch;
    for (int i = 0; i < 5; ++i) batch.push_back(entry::put("good-" + std::to_string(i), "1", 1));
    batch.insert(batch.begin() + 3, bad);
    auto w = store.write(batch);
    ASSERT_FALSE(w) << "accepted " << shown;
    EXPECT_TRUE(w.error() == condition::invalid_input) << w.error().message();
    EXPECT_NE(w.error().message().find(shown), std::string::npos) << w.error().message();
    EXPECT_EQ(count_rows(t.qualified(t.table)), 0) << "partial batch for " << shown;
    RecordProperty("error_" + shown.substr(0, 8), w.error().message());
  }
  // The pool survived the rejected batches.
  std::vector<entry> ok = {entry::put("fine", "1", 1)};
  EXPECT_TRUE(store.write(ok));
}

TEST(PostgresStore, RejectedBatchDoesNotMoveTheCheckpoint) {
  scratch_table t("cp_rejected");
  auto store = open_ok(t.config());
  std::vector<entry> first = {entry::put("a", "1", 1)};
  ASSERT_TRUE(store.write_with_checkpoint(first, {"run", "1"}));
  std::vector<entry> bad = {entry::put("b", "1", 1), entry::put("c", R"("\u0000")", 1)};
  auto w = store.write_with_checkpoint(bad, {"run", "2"});
  ASSERT_FALSE(w);
  EXPECT_TRUE(w.error() == condition::invalid_input) << w.error().message();
  EXPECT_NE(w.error().message().find("\"c\""), std::string::npos) << w.error().message();
  EXPECT_EQ(store.load_checkpoint("run").value(), std::optional<std::string>("1"));
  EXPECT_FALSE(store.read("b").value());
}

// --- concurrent writers -------------------------------------------------------

TEST(PostgresStore, ConcurrentWritersConvergeToHighestVersionPerKey) {
  scratch_table t("concurrent");
  auto cfg = t.config();
  cfg.pool_size = 4;
  auto store = open_ok(cfg);

  constexpr int threads = 4, batches = 40, per_batch = 100, keys = 300;
  const auto value_of = [](int key, version_type v) {
    return "{\"k\":" + std::to_string(key) + ",\"v\":" + std::to_string(v) + "}";
  };
  std::vector<std::vector<std::vector<entry>>> work(threads);
  std::map<std::string, entry> newest;
  std::mt19937_64 rng(7);
  for (auto& mine : work) {
    for (int b = 0; b < batches; ++b) {
      std::vector<entry> batch;
      for (int i = 0; i < per_batch; ++i) {
        const int k = static_cast<int>(rng() % keys);
        const auto v = static_cast<version_type>(1 + rng() % 5000);
        entry e = (v % 11 == 0) ? entry::erase("c:" + std::to_string(k), v)
                                : entry::put("c:" + std::to_string(k), value_of(k, v), v);
        auto& best = newest[e.key];
        if (e.version > best.version) best = e;
        batch.push_back(std::move(e));
      }
      mine.push_back(std::move(batch));
    }
  }

  std::atomic<int> failures{0}, retries{0};
  std::vector<std::thread> pool;
  for (int th = 0; th < threads; ++th) {
    pool.emplace_back([&, th] {
      for (const auto& batch : work[th]) {
        for (int attempt = 0;; ++attempt) {
          auto w = store.write(batch);
          if (w) {
            if (w.value().total() != batch.size()) ++failures;
            break;
          }
          if (w.error() == condition::transient && attempt < 20) {
            ++retries;
            continue;
          }
          ADD_FAILURE() << w.error().message();
          ++failures;
          break;
        }
      }
    });
  }
  for (auto& th : pool) th.join();
  EXPECT_EQ(failures.load(), 0);

  memory_store expected;
  std::vector<entry> winners;
  for (const auto& [key, e] : newest) winners.push_back(e);
  ASSERT_TRUE(expected.write(winners));
  for (const auto& [key, e] : newest) {
    auto got = store.read(key);
    ASSERT_TRUE(got && got.value()) << key;
    EXPECT_EQ(got.value()->version, e.version) << key;
    EXPECT_EQ(got.value()->tombstone, e.tombstone) << key;
    EXPECT_EQ(got.value()->hash, e.hash) << key;
  }
  // Checksums agree with the reference store: digests are comparable.
  EXPECT_EQ(store.checksum(key_range{}).value(), expected.checksum(key_range{}).value());
  RecordProperty("transient_retries", retries.load());
}

TEST(PostgresStore, RacingInsertOfANewKeyStillHonoursTheGuard) {
  // Another session inserts the same new key and commits while our batch
  // waits on it: the fast path's INSERT hits unique_violation and the batch
  // is redone on the ON CONFLICT path, with the guard and counts intact.
  for (const bool other_is_newer : {false, true}) {
    scratch_table t("race");
    auto config = t.config();
    config.application_name = t.table;  // to find its session waiting below
    auto store = open_ok(config);
    pqxx::connection other(testing::test_pg_url());
    pqxx::work tx(other);
    const entry theirs = entry::put("race", "\"theirs\"", other_is_newer ? 9 : 3);
    tx.exec_params("INSERT INTO " + t.qualified(t.table) +
                       " (key, version, hash_lo, hash_hi, row_hash, tombstone, value)"
                       " VALUES ($1, $2, $3, $4, $5, false, $6::jsonb)",
                   theirs.key, theirs.version, static_cast<std::int64_t>(theirs.hash.lo),
                   static_cast<std::int64_t>(theirs.hash.hi),
                   static_cast<std::int64_t>(row_hash(theirs)), theirs.value);
    result<write_report> outcome = write_report{};
    std::vector<entry> batch = {entry::put("race", "\"ours\"", 5), entry::put("calm", "1", 1)};
    std::thread writer([&] { outcome = store.write(batch); });
    EXPECT_TRUE(waits_on_a_lock(t.table)) << "the batch never waited on the other session's lock";
    tx.commit();
    writer.join();
    ASSERT_TRUE(outcome) << outcome.error().message();
    const auto got = store.read("race").value();
    ASSERT_TRUE(got);
    if (other_is_newer) {
      EXPECT_EQ(outcome.value(), (write_report{1, 0, 1}));
      EXPECT_EQ(got->version, 9);
    } else {
      EXPECT_EQ(outcome.value(), (write_report{2, 0, 0}));
      EXPECT_EQ(got->version, 5);
      EXPECT_EQ(got->hash, batch[0].hash);
    }
    EXPECT_TRUE(store.read("calm").value());
  }
}

TEST(PostgresStore, AKeyRemovedUnderAWaitingUpdateIsWrittenAgain) {
  // A restore removes a key (DELETE ... WHERE version = expected) while our
  // batch, which saw the key stored, waits to update it. An UPDATE cannot
  // apply to a row deleted under it; the batch must notice and insert the
  // entry, not lose it as "stale".
  scratch_table t("removed");
  auto config = t.config();
  config.application_name = t.table;  // to find its session waiting below
  auto store = open_ok(config);
  const std::vector<entry> first = {entry::put("k", "1", 1)};
  const std::vector<entry> undone = {entry::put("k", "2", 2)};
  ASSERT_TRUE(store.write(first));
  ASSERT_TRUE(store.write(undone));
  pqxx::connection other(testing::test_pg_url());
  pqxx::work tx(other);
  tx.exec("DELETE FROM " + t.qualified(t.table) + " WHERE key = 'k' AND version = 2");
  result<write_report> outcome = write_report{};
  const std::vector<entry> newer = {entry::put("k", "\"newer\"", 3)};
  std::thread writer([&] { outcome = store.write(newer); });
  EXPECT_TRUE(waits_on_a_lock(t.table)) << "the batch never waited on the other session's lock";
  tx.commit();
  writer.join();
  ASSERT_TRUE(outcome) << outcome.error().message();
  EXPECT_EQ(outcome.value(), (write_report{1, 0, 0}));
  const auto got = store.read("k").value();
  ASSERT_TRUE(got) << "the write was lost";
  EXPECT_EQ(got->version, 3);
  EXPECT_EQ(got->hash, newer[0].hash);
}

TEST(PostgresStore, BatchesOfNewKeysAmongStoredOnesNeverFailAStatement) {
  // A statement that fails is an ERROR line in PostgreSQL's log and a rolled
  // back transaction, which operators rightly alert on. Batches of new keys,
  // which the store may COPY without a lookup, meet stored keys here in
  // every way: none may cost a failed statement. A database of its own, so
  // its rollback counter is this test's alone.
  const std::string db = testing::unique_pg_name("quiet");
  const std::string url = testing::test_pg_url();
  const auto slash = url.rfind('/');
  ASSERT_TRUE(slash != std::string::npos && url.find('?') == std::string::npos) << url;
  pqxx::connection admin(url);
  pqxx::nontransaction(admin).exec("CREATE DATABASE " + detail::pg_quote_ident(db));
  struct drop_at_exit {
    pqxx::connection& admin;
    std::string db;
    ~drop_at_exit() {
      try {
        pqxx::nontransaction(admin).exec("DROP DATABASE IF EXISTS " + detail::pg_quote_ident(db) + " WITH (FORCE)");
      } catch (const std::exception& e) {
        ADD_FAILURE() << "dropping database " << db << ": " << e.what();
      }
    }
  } dropped{admin, db};
  {
    postgres_config config;
    config.url = url.substr(0, slash + 1) + db;
    config.table = "quiet";
    auto store = open_ok(config);
    auto batch = [](std::string_view prefix, version_type v) {
      std::vector<entry> out;
      for (int i = 0; i < 10; ++i) out.push_back(entry::put(std::string(prefix) + std::to_string(i), "1", v));
      return out;
    };
    auto with = [](std::vector<entry> b, entry e) {
      b.push_back(std::move(e));
      return b;
    };
    const std::vector<std::pair<std::vector<entry>, write_report>> steps = {
        {batch("m", 1), {10, 0, 0}},                                   // an empty table
        {batch("z", 1), {10, 0, 0}},                                   // every key above the stored ones
        {batch("a", 5), {10, 0, 0}},                                   // new keys below the stored ones
        {with(batch("n", 1), entry::put("m5", "2", 2)), {11, 0, 0}},  // a stored key among new ones
        {with(batch("b", 1), entry::put("z3", "1", 1)), {10, 1, 0}},  // a stored key, unchanged
        {with(batch("y", 1), entry::put("a1", "0", 2)), {10, 0, 1}},  // a stored key, stale
    };
    for (const auto& [b, expected] : steps) {
      const auto got = store.write(b);
      ASSERT_TRUE(got) << got.error().message();
      EXPECT_EQ(got.value(), expected) << "batch starting " << b.front().key;
    }
    EXPECT_EQ(store.read("m5").value()->version, 2);
  }
  // The store's sessions are gone: their counters are flushed as they exit.
  pqxx::nontransaction watch(admin);
  const std::string counters = "SELECT numbackends, xact_commit, xact_rollback FROM pg_stat_database WHERE datname = " +
                               watch.quote(db);
  pqxx::row row;
  for (int i = 0; i < 600; ++i) {  // up to a minute: progress, not speed
    row = watch.exec1(counters);
    if (row[0].as<int>() == 0 && row[1].as<std::int64_t>() > 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(row[0].as<int>(), 0) << "the store's sessions never ended";
  EXPECT_GT(row[1].as<std::int64_t>(), 0) << "no commit was counted";
  EXPECT_EQ(row[2].as<std::int64_t>(), 0) << "a statement failed (an ERROR in the server's log)";
}

// --- the guard and its report, against the reference model -------------------

TEST(PostgresStore, ReportsMatchMemoryStoreOnRandomBatches) {
  scratch_table t("differential");
  auto store = open_ok(t.config());
  memory_store reference;
  std::mt19937_64 rng(11);
  for (int round = 0; round < 60; ++round) {
    std::vector<entry> batch;
    const int size = 1 + static_cast<int>(rng() % 40);
    for (int i = 0; i < size; ++i) {
      const std::string key = "d:" + std::to_string(rng() % 25);
      const auto v = static_cast<version_type>(1 + rng() % 12);
      batch.push_back(rng() % 5 == 0 ? entry::erase(key, v)
                                     : entry::put(key, std::to_string(rng() % 1000), v));
    }
    auto want = reference.write(batch);
    auto got = store.write(batch);
    ASSERT_TRUE(want && got) << (got ? "" : got.error().message());
    EXPECT_EQ(got.value(), want.value()) << "round " << round;
  }
  auto ours = store.scan(key_range{}, "", 1000);
  auto theirs = reference.scan(key_range{}, "", 1000);
  ASSERT_TRUE(ours && theirs);
  ASSERT_EQ(ours.value().size(), theirs.value().size());
  for (std::size_t i = 0; i < ours.value().size(); ++i) {
    const entry& a = ours.value()[i];
    const entry& b = theirs.value()[i];
    EXPECT_EQ(a.key, b.key);
    EXPECT_EQ(a.version, b.version) << a.key;
    EXPECT_EQ(a.hash, b.hash) << a.key;
    EXPECT_EQ(a.tombstone, b.tombstone) << a.key;
  }
  EXPECT_EQ(store.checksum(key_range{}).value(), reference.checksum(key_range{}).value());
  EXPECT_EQ(store.checksum(key_range{"d:1", "d:2"}).value(),
            reference.checksum(key_range{"d:1", "d:2"}).value());
}

// --- identifiers, schema checks, configuration --------------------------------

TEST(PostgresStore, HostileIdentifiersAreQuoted) {
  scratch_table t("we\"ird; DROP TABLE x; -- name", "sch\"ema; --");
  auto store = open_ok(t.config());
  std::vector<entry> batch = {entry::put("k", "1", 1)};
  ASSERT_TRUE(store.write_with_checkpoint(batch, {"cp", "v"}));
  EXPECT_EQ(count_rows(t.qualified(t.table)), 1);
  EXPECT_EQ(store.load_checkpoint("cp").value(), std::optional<std::string>("v"));
  EXPECT_EQ(store.changes_after({}, 10).value().size(), 1u);
}

TEST(PostgresStore, WrongTableShapeIsRefusedNamingTheColumn) {
  struct bad_shape {
    const char* ddl;
    const char* column;
  };
  const std::vector<bad_shape> shapes = {
      {"(key text COLLATE \"C\" PRIMARY KEY, version integer NOT NULL, hash_lo bigint,"
       " hash_hi bigint, row_hash bigint, tombstone boolean, value jsonb, updated_at timestamptz)",
       "\"version\""},
      {"(key text COLLATE \"C\" PRIMARY KEY, version bigint, hash_lo bigint, hash_hi bigint,"
       " tombstone boolean, value jsonb, updated_at timestamptz)",
       "\"row_hash\""},
      {"(key text PRIMARY KEY, version bigint, hash_lo bigint, hash_hi bigint, row_hash bigint,"
       " tombstone boolean, value jsonb, updated_at timestamptz)",
       "\"key\""},
      {"(key text COLLATE \"C\", version bigint, hash_lo bigint, hash_hi bigint, row_hash bigint,"
       " tombstone boolean, value text, updated_at timestamptz)",
       "\"value\""},
  };
  for (const auto& shape : shapes) {
    scratch_table t("shape");
    {
      pqxx::connection c(testing::test_pg_url());
      pqxx::nontransaction tx(c);
      tx.exec("CREATE SCHEMA IF NOT EXISTS " + detail::pg_quote_ident(t.schema));
      tx.exec("CREATE TABLE " + t.qualified(t.table) + " " + shape.ddl);
    }
    auto s = postgres_store::open(t.config());
    ASSERT_FALSE(s) << "accepted a table missing or mistyping " << shape.column;
    EXPECT_TRUE(s.error() == errc::schema_mismatch) << s.error().message();
    EXPECT_TRUE(s.error() == condition::permanent);
    EXPECT_NE(s.error().message().find(shape.column), std::string::npos) << s.error().message();
  }
}

TEST(PostgresStore, NewTablesKeepTheValueTextExactly) {
  scratch_table t("exact");
  auto store = open_ok(t.config());
  const std::string text = R"( {"b":1, "a":[1E-7, -0, 2.50, 123456789012345678901234567890], "s":"\u00e9\/"} )";
  std::vector<entry> batch = {entry::put("k", text, 1)};
  ASSERT_TRUE(store.write(batch));
  auto got = store.read("k");
  ASSERT_TRUE(got && got.value()) << (got ? "missing" : got.error().message());
  EXPECT_EQ(got.value()->value, text);
}

// --- the reconciler's sampled cuts ---

TEST(PostgresStore, SamplePointsAreKeysInsideTheRangeOrNoneForAFewRows) {
  scratch_table t("sample");
  auto store = open_ok(t.config());
  std::vector<entry> rows;
  for (int i = 0; i < 200'000; ++i) {
    rows.push_back(entry::put("s" + std::to_string(1'000'000 + i), payload(i, 10), 1));
    if (rows.size() == 20'000) {
      ASSERT_TRUE(store.write(rows));
      rows.clear();
    }
  }
  // A sample of pages is random: check what holds for every sample.
  for (const key_range& range : {key_range{}, key_range{"s1050000", "s1150000"}}) {
    const auto points = store.sample_points(range, 64);
    ASSERT_TRUE(points) << points.error().message();
    EXPECT_LE(points.value().size(), 63u);
    std::string previous = range.first;
    for (const std::string& p : points.value()) {
      EXPECT_GT(p, previous);
      EXPECT_TRUE(range.contains(p)) << p;
      EXPECT_TRUE(store.read(p).value()) << p << " is not a stored key";
      previous = p;
    }
  }
  // Ten rows give any sample fewer than a hundred keys: no points.
  const auto few = store.sample_points({"s1000000", "s1000010"}, 4);
  ASSERT_TRUE(few);
  EXPECT_TRUE(few.value().empty());
  EXPECT_TRUE(store.sample_points({}, 1).value().empty());
}

TEST(PostgresStore, AJsonbTableFromAnEarlierReleaseIsWrittenTheSameWay) {
  scratch_table t("jsonb");
  {
    pqxx::connection c(testing::test_pg_url());
    pqxx::nontransaction tx(c);
    tx.exec("CREATE SCHEMA IF NOT EXISTS " + detail::pg_quote_ident(t.schema));
    tx.exec("CREATE TABLE " + t.qualified(t.table) +
            " (key text COLLATE \"C\" PRIMARY KEY, version bigint NOT NULL, hash_lo bigint NOT NULL,"
            " hash_hi bigint NOT NULL, row_hash bigint NOT NULL, tombstone boolean NOT NULL, value jsonb,"
            " updated_at timestamp with time zone NOT NULL DEFAULT now())");
  }
  auto store = open_ok(t.config());
  const entry first = entry::put("k", R"({"b":1, "a":1E-7})", 1);
  std::vector<entry> batch = {first, entry::put("n", "1", 1)};
  ASSERT_TRUE(store.write(batch));
  batch = {entry::put("k", R"({"b":2})", 2)};  // through staging: an UPDATE
  ASSERT_TRUE(store.write(batch));
  auto got = store.read("k");
  ASSERT_TRUE(got && got.value());
  EXPECT_EQ(got.value()->version, 2);
  EXPECT_EQ(got.value()->value, R"({"b": 2})") << "jsonb's own spelling";
  EXPECT_EQ(store.read("n").value()->value, "1");
}

TEST(PostgresStore, MissingTableIsRefusedWithoutCreateIfMissing) {
  scratch_table t("absent");
  auto cfg = t.config();
  cfg.create_if_missing = false;
  auto s = postgres_store::open(cfg);
  ASSERT_FALSE(s);
  EXPECT_TRUE(s.error() == errc::schema_mismatch) << s.error().message();
}

TEST(PostgresStore, ReopensAnExistingTable) {
  scratch_table t("reopen");
  {
    auto a = open_ok(t.config());
    std::vector<entry> batch = {entry::put("k", "[1,2]", 4)};
    ASSERT_TRUE(a.write(batch));
  }
  auto b = open_ok(t.config());
  EXPECT_EQ(b.read("k").value()->version, 4);
}

TEST(PostgresStore, UrlComesFromTheEnvironmentWhenNotConfigured) {
  scratch_table t("from_env");
  auto cfg = t.config();
  cfg.url.clear();
  cfg.url_env = "STORESYNC_TEST_PG_URL";
  auto store = open_ok(cfg);
  EXPECT_TRUE(store.read("x"));
}

TEST(PostgresStore, PasswordNeverAppearsInErrors) {
  postgres_config cfg;
  cfg.url = "postgresql://storesync:Sup3rS3cretPw@127.0.0.1:1/none?connect_timeout=2";
  auto s = postgres_store::open(cfg);
  ASSERT_FALSE(s);
  EXPECT_TRUE(s.error() == condition::unavailable) << s.error().message();
  EXPECT_TRUE(s.error() == errc::connection_failed) << s.error().message();
  EXPECT_EQ(s.error().message().find("Sup3rS3cretPw"), std::string::npos) << s.error().message();
  EXPECT_NE(s.error().message().find("storesync:***@127.0.0.1"), std::string::npos)
      << s.error().message();

  EXPECT_EQ(detail::pg_redact("host=db user=u password='a b\\'c' dbname=x"),
            "host=db user=u password=*** dbname=x");
  EXPECT_EQ(detail::pg_redact("postgresql://u@h/db?password=pw&sslmode=require"),
            "postgresql://u@h/db?password=***&sslmode=require");
  EXPECT_EQ(detail::pg_redact("postgresql://u:p%40ss@h:5432/db"), "postgresql://u:***@h:5432/db");
  EXPECT_EQ(detail::pg_password_of("host=db password=hunter22"), "hunter22");
  EXPECT_EQ(detail::pg_scrub("bad password hunter22 for u", "hunter22"), "bad password *** for u");
}

TEST(PostgresStore, StatementTimeoutIsTransient) {
  scratch_table t("timeout");
  auto cfg = t.config();
  cfg.statement_timeout = std::chrono::milliseconds(200);
  auto store = open_ok(cfg);
  pqxx::connection locker(testing::test_pg_url());
  pqxx::work hold(locker);
  hold.exec("LOCK TABLE " + t.qualified(t.table) + " IN ACCESS EXCLUSIVE MODE");
  auto r = store.read("k");
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error() == errc::timeout) << r.error().message();
  EXPECT_TRUE(r.error() == condition::transient);
  EXPECT_NE(r.error().message().find("57014"), std::string::npos) << r.error().message();
  hold.abort();
  EXPECT_TRUE(store.read("k"));
}

TEST(PostgresStore, BadConfigurationIsInvalidArgument) {
  auto cfg = postgres_config{};
  cfg.url = testing::test_pg_url();
  cfg.table = std::string(64, 't');
  EXPECT_TRUE(postgres_store::open(cfg).error() == errc::invalid_argument);
  cfg.table = "ok";
  cfg.pool_size = 0;
  EXPECT_TRUE(postgres_store::open(cfg).error() == errc::invalid_argument);
}

TEST(PostgresStore, SqlstatesMapOntoConditions) {
  const auto cond = [](const char* state) {
    return error{detail::pg_errc_from_sqlstate(state)};
  };
  EXPECT_TRUE(cond("08006") == condition::unavailable);
  EXPECT_TRUE(cond("08001") == condition::unavailable);
  EXPECT_TRUE(cond("57P01") == condition::unavailable);
  EXPECT_TRUE(cond("40001") == errc::serialization_failure);
  EXPECT_TRUE(cond("40001") == condition::transient);
  EXPECT_TRUE(cond("40P01") == errc::deadlock);
  EXPECT_TRUE(cond("40P01") == condition::transient);
  EXPECT_TRUE(cond("53100") == condition::overloaded);
  EXPECT_TRUE(cond("53300") == condition::overloaded);
  EXPECT_TRUE(cond("22P02") == condition::invalid_input);
  EXPECT_TRUE(cond("23505") == condition::invalid_input);
  EXPECT_TRUE(cond("57014") == condition::transient);
  EXPECT_TRUE(cond("42P01") == condition::permanent);
  EXPECT_TRUE(cond("XX000") == condition::permanent);
  EXPECT_EQ(detail::pg_copy_line("ERROR: x\nCONTEXT:  COPY storesync_staging, line 17, column value"),
            std::optional<std::size_t>(17));
}

TEST(PostgresStore, MovedFromStoreReportsStopped) {
  scratch_table t("moved");
  auto a = open_ok(t.config());
  testing::check_moved_from(a, "postgres_store");
}

}  // namespace
}  // namespace storesync
