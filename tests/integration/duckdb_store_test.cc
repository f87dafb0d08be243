// duckdb_store and duckdb_query_source beyond the conformance suite: opening
// bad files, schema checks, error mapping, a query-backed change source (and
// one over 1,000,000 generated rows read in bounded batches with flat memory),
// and write-back from a query into a store.
#include "storesync/store/duckdb_store.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <tuple>
#include <thread>
#include <vector>

#include "storesync/store/duckdb_query_source.hpp"
#include "storesync/store/memory_store.hpp"
#include "tests/integration/moved_from_check.hpp"

namespace {

namespace fs = std::filesystem;
using storesync::condition;
using storesync::duckdb_instance;
using storesync::duckdb_query_source;
using storesync::duckdb_store;
using storesync::entry;
using storesync::errc;
using storesync::watermark;

static_assert(storesync::change_source<duckdb_query_source>);
static_assert(!storesync::checkpoint_store<duckdb_query_source>);

class DuckdbStore : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tmp = std::getenv("TEST_TMPDIR");
    std::string pattern = (tmp ? std::string(tmp) : fs::temp_directory_path().string()) +
                          "/duckdb_store_test_XXXXXX";
    dir_ = ::mkdtemp(pattern.data());
  }
  void TearDown() override {
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }
  std::string path(const std::string& name) const { return dir_ + "/" + name; }

  static std::shared_ptr<duckdb_instance> memory_db() {
    auto db = duckdb_instance::open({.threads = 2});
    EXPECT_TRUE(db) << db.error().message();
    return db.value();
  }
  static void exec(const std::shared_ptr<duckdb_instance>& db, const std::string& sql) {
    duckdb_connection c;
    ASSERT_EQ(duckdb_connect(db->native(), &c), DuckDBSuccess);
    duckdb_result r;
    const auto st = duckdb_query(c, sql.c_str(), &r);
    EXPECT_EQ(st, DuckDBSuccess) << duckdb_result_error(&r);
    duckdb_destroy_result(&r);
    duckdb_disconnect(&c);
  }

  std::string dir_;
};

TEST_F(DuckdbStore, FileThatIsNotDuckdbFailsAtOpenNamingIt) {
  const std::string p = path("not-a-db.duckdb");
  {
    std::ofstream out(p);
    for (int i = 0; i < 200; ++i) out << "this is a text file, not a DuckDB database\n";
  }
  auto opened = duckdb_store::open({.path = p});
  ASSERT_FALSE(opened);
  std::printf("%s\n", opened.error().message().c_str());
  EXPECT_TRUE(opened.error() == errc::corrupt) << opened.error().message();
  EXPECT_NE(opened.error().message().find(p), std::string::npos) << opened.error().message();
}

TEST_F(DuckdbStore, MissingDirectoryFailsAtOpenNamingThePath) {
  const std::string p = path("no/such/dir/store.duckdb");
  auto opened = duckdb_store::open({.path = p});
  ASSERT_FALSE(opened);
  std::printf("%s\n", opened.error().message().c_str());
  EXPECT_TRUE(opened.error() == condition::unavailable) << opened.error().message();
  EXPECT_NE(opened.error().message().find(p), std::string::npos) << opened.error().message();
}

TEST_F(DuckdbStore, ExistingTableWithWrongShapeIsRefusedNamingTheColumn) {
  auto db = memory_db();
  exec(db, "CREATE TABLE missing (key VARCHAR PRIMARY KEY, version BIGINT, hash BLOB, value VARCHAR,"
           " tombstone BOOLEAN, updated_at TIMESTAMP)");
  exec(db, "CREATE TABLE typed (key VARCHAR PRIMARY KEY, version VARCHAR, hash BLOB,"
           " row_hash BIGINT, value VARCHAR, tombstone BOOLEAN, updated_at TIMESTAMP)");
  exec(db, "CREATE TABLE nokey (key VARCHAR, version BIGINT, hash BLOB,"
           " row_hash BIGINT, value VARCHAR, tombstone BOOLEAN, updated_at TIMESTAMP)");
  for (auto [table, column] : {std::pair{"missing", "row_hash"}, std::pair{"typed", "version"},
                               std::pair{"nokey", "key"}}) {
    auto s = duckdb_store::open(db, {.table = table});
    ASSERT_FALSE(s) << table;
    EXPECT_TRUE(s.error() == errc::schema_mismatch) << s.error().message();
    EXPECT_NE(s.error().message().find(column), std::string::npos) << s.error().message();
  }
}

TEST_F(DuckdbStore, MovedFromStoreReportsStoppedOnEveryCall) {
  auto opened = duckdb_store::open(memory_db(), {});
  ASSERT_TRUE(opened) << opened.error().message();
  storesync::testing::check_moved_from(opened.value(), "duckdb_store");
}

TEST_F(DuckdbStore, TheJsonTableAdmitsEveryEntryAndAMovedFromStoreNone) {
  auto opened = duckdb_store::open(memory_db(), {});
  ASSERT_TRUE(opened) << opened.error().message();
  // Beyond validation there is nothing a JSON table could not hold (a typed
  // table's conversions are tested in duckdb_typed_test.cc).
  EXPECT_TRUE(opened.value().admits(entry::put("k", "[1]", 1)));
  EXPECT_TRUE(opened.value().admits(entry::erase("k", 2)));
  duckdb_store moved = std::move(opened).value();
  const auto refused = opened.value().admits(entry::put("k", "[1]", 1));  // NOLINT(bugprone-use-after-move)
  ASSERT_FALSE(refused);
  EXPECT_TRUE(refused.error() == errc::stopped) << refused.error().message();
  EXPECT_TRUE(moved.admits(entry::put("k", "[1]", 1)));
}

TEST_F(DuckdbStore, BigBatchWithDuplicatesAndExistingKeysCountsExactly) {
  auto s = duckdb_store::open(memory_db(), {});
  ASSERT_TRUE(s) << s.error().message();
  storesync::memory_store reference;
  std::vector<entry> first, second;
  for (int i = 0; i < 5000; ++i) first.push_back(entry::put("k" + std::to_string(i), "1", 5));
  for (int i = 0; i < 6000; ++i) {
    const int k = (i * 7) % 5500;  // existing and new keys, each seen once or twice
    second.push_back(entry::put("k" + std::to_string(k), std::to_string(i), 3 + i % 5));
  }
  for (const auto* b : {&first, &second}) {
    auto got = s.value().write(*b);
    auto want = reference.write(*b);
    ASSERT_TRUE(got) << got.error().message();
    EXPECT_EQ(got.value(), want.value());
  }
  EXPECT_EQ(s.value().checksum({}).value(), reference.checksum({}).value());
}

// Tables made before the key lost its PRIMARY KEY still open, and the
// UPDATE + INSERT merge writes them exactly like new ones.
TEST_F(DuckdbStore, TableWithPrimaryKeyFromEarlierReleasesIsMergedExactly) {
  auto db = memory_db();
  exec(db, "CREATE TABLE legacy (key VARCHAR PRIMARY KEY, version BIGINT NOT NULL, hash BLOB NOT"
           " NULL, row_hash BIGINT NOT NULL, value VARCHAR, tombstone BOOLEAN NOT NULL,"
           " updated_at TIMESTAMP NOT NULL)");
  auto s = duckdb_store::open(db, {.table = "legacy"});
  ASSERT_TRUE(s) << s.error().message();
  storesync::memory_store reference;
  for (int round = 0; round < 3; ++round) {
    std::vector<entry> batch;
    for (int i = 0; i < 3000; ++i) {
      const std::string key = "k" + std::to_string((i * 13 + round * 1000) % 4000);
      const storesync::version_type v = 1 + (i + round) % 6;
      batch.push_back(i % 7 == 0 ? entry::erase(key, v) : entry::put(key, std::to_string(i), v));
    }
    auto got = s.value().write(batch);
    auto want = reference.write(batch);
    ASSERT_TRUE(got) << got.error().message();
    EXPECT_EQ(got.value(), want.value()) << "round " << round;
  }
  EXPECT_EQ(s.value().checksum({}).value(), reference.checksum({}).value());
  for (const char* key : {"k0", "k13", "k3999", "k4000"})
    EXPECT_EQ(s.value().read(key).value(), reference.read(key).value()) << key;
}

// Uniqueness of `key` rests on one writer at a time: two stores on the same
// table of one instance share its writer lock, so racing writes of the same
// new keys still store each key once.
TEST_F(DuckdbStore, TwoStoresOnOneTableNeverStoreAKeyTwice) {
  auto db = memory_db();
  auto a = duckdb_store::open(db, {});
  auto b = duckdb_store::open(db, {});
  ASSERT_TRUE(a && b);
  auto writes = [](duckdb_store& s, storesync::version_type v) {
    for (int round = 0; round < 20; ++round) {
      std::vector<entry> batch;
      for (int k = 0; k < 50; ++k)
        batch.push_back(entry::put("r" + std::to_string(round) + ":" + std::to_string(k), "1", v));
      EXPECT_TRUE(s.write(batch));
    }
  };
  std::thread first([&] { writes(a.value(), 1); });
  std::thread second([&] { writes(b.value(), 2); });
  first.join();
  second.join();
  const auto sum = a.value().checksum({});
  ASSERT_TRUE(sum);
  EXPECT_EQ(sum.value().count, 20u * 50u);
  EXPECT_EQ(a.value().read("r7:7").value()->version, 2);
}

// One invalid value among 40,000 fails the whole call, checkpoint included,
// and the error names its key.
TEST_F(DuckdbStore, LargeBatchWithOneInvalidValueWritesNothing) {
  auto s = duckdb_store::open(memory_db(), {});
  ASSERT_TRUE(s) << s.error().message();
  std::vector<entry> batch;
  for (int i = 0; i < 40'000; ++i) batch.push_back(entry::put("k" + std::to_string(i), "1", 1));
  batch[31'234] = entry::put("k31234", "{not json", 1);
  auto w = s.value().write_with_checkpoint(batch, {"run", "v=1"});
  ASSERT_FALSE(w);
  EXPECT_TRUE(w.error() == errc::invalid_value) << w.error().message();
  EXPECT_NE(w.error().message().find("k31234"), std::string::npos) << w.error().message();
  EXPECT_EQ(s.value().checksum({}).value().count, 0u);
  EXPECT_EQ(s.value().load_checkpoint("run").value(), std::nullopt);
}

TEST_F(DuckdbStore, ConcurrentReadersAndWriterSeeNoErrors) {
  auto s = duckdb_store::open(memory_db(), {});
  ASSERT_TRUE(s) << s.error().message();
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  std::thread writer([&] {
    for (storesync::version_type v = 1; v <= 40; ++v) {
      std::vector<entry> batch;
      for (int k = 0; k < 32; ++k) batch.push_back(entry::put("k" + std::to_string(k), "1", v));
      if (!s.value().write(batch)) ++failures;
    }
    stop = true;
  });
  std::vector<std::thread> readers;
  for (int r = 0; r < 3; ++r)
    readers.emplace_back([&] {
      while (!stop) {
        if (!s.value().read("k1")) ++failures;
        if (!s.value().changes_after({}, 8)) ++failures;
      }
    });
  writer.join();
  for (auto& t : readers) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(s.value().read("k31").value()->version, 40);
}

TEST_F(DuckdbStore, TextThatIsNotUtf8FailsInsteadOfReusingThePreviousValue) {
  // Prepared statements are cached: a bind DuckDB refuses must not leave the
  // previous call's key or bound in place.
  auto s = duckdb_store::open(memory_db(), {});
  ASSERT_TRUE(s) << s.error().message();
  std::vector<entry> batch = {entry::put("a", "1", 1), entry::put("b", "2", 1)};
  ASSERT_TRUE(s.value().write(batch));
  ASSERT_TRUE(s.value().read("a").value());  // binds "a"
  auto bad = s.value().read("b\xff");
  ASSERT_FALSE(bad) << "read of a key that is not UTF-8 returned "
                    << (bad.value() ? bad.value()->key : std::string("nothing"));
  EXPECT_TRUE(bad.error() == errc::invalid_argument) << bad.error().message();
  ASSERT_TRUE(s.value().scan({"a", std::string("b")}, "", 10));  // binds "a" and "b"
  auto scan = s.value().scan({"a", std::string("\xc3")}, "", 10);
  ASSERT_FALSE(scan) << "a scan with a bound that is not UTF-8 ran with " << scan.value().size() << " rows";
  auto sum = s.value().checksum({"\xff", std::nullopt});
  EXPECT_FALSE(sum) << "a checksum with a bound that is not UTF-8 ran";
}

TEST(DuckdbErrors, ErrorTypesMapOntoConditions) {
  using storesync::detail::duckdb_error;
  EXPECT_TRUE(duckdb_error(DUCKDB_ERROR_CONSTRAINT, "x", "db", "t") == condition::invalid_input);
  EXPECT_TRUE(duckdb_error(DUCKDB_ERROR_CONVERSION, "x", "db", "t") == condition::invalid_input);
  EXPECT_TRUE(duckdb_error(DUCKDB_ERROR_INVALID_INPUT, "x", "db", "t") == condition::invalid_input);
  EXPECT_TRUE(duckdb_error(DUCKDB_ERROR_IO, "x", "db", "t") == condition::unavailable);
  EXPECT_TRUE(duckdb_error(DUCKDB_ERROR_OUT_OF_MEMORY, "x", "db", "t") == condition::overloaded);
  EXPECT_TRUE(duckdb_error(DUCKDB_ERROR_TRANSACTION, "x", "db", "t") == condition::transient);
  EXPECT_TRUE(duckdb_error(DUCKDB_ERROR_INTERNAL, "x", "db", "t") == condition::permanent);
  EXPECT_EQ(storesync::detail::duckdb_type_of_message("Constraint Error: Duplicate key"),
            DUCKDB_ERROR_CONSTRAINT);
}

TEST_F(DuckdbStore, QuerySourceReadsInVersionKeyOrderAndResumes) {
  auto db = memory_db();
  exec(db, "CREATE TABLE src (id VARCHAR, doc VARCHAR, rev INTEGER, gone BOOLEAN, extra INTEGER)");
  exec(db, "INSERT INTO src VALUES ('b', '{\"n\":1}', 2, false, 0), ('a', '{\"n\":2}', 2, NULL, 0),"
           " ('c', NULL, 1, true, 0), ('d', '[1,2]', 7, false, 0), ('e', '\"s\"', 3, false, 0)");
  auto source = duckdb_query_source::open(
      db, "SELECT id AS key, doc AS value, rev AS version, gone AS tombstone, extra FROM src");
  ASSERT_TRUE(source) << source.error().message();
  auto& q = source.value();

  auto first = q.changes_after({}, 2);
  ASSERT_TRUE(first) << first.error().message();
  ASSERT_EQ(first.value().size(), 2u);
  EXPECT_EQ(first.value()[0], entry::erase("c", 1));
  EXPECT_EQ(first.value()[1], entry::put("a", "{\"n\":2}", 2));
  auto rest = q.changes_after({2, "a"}, 10);  // continues the open cursor
  ASSERT_TRUE(rest);
  ASSERT_EQ(rest.value().size(), 3u);
  EXPECT_EQ(rest.value()[0].key, "b");
  EXPECT_EQ(rest.value()[2], entry::put("d", "[1,2]", 7));
  // Resuming elsewhere re-runs the query from that watermark.
  auto again = q.changes_after({2, "b"}, 10);
  ASSERT_TRUE(again);
  ASSERT_EQ(again.value().size(), 2u);
  EXPECT_EQ(again.value()[0].key, "e");
  // A stream that ran dry picks up rows added since.
  EXPECT_TRUE(q.changes_after({7, "d"}, 10).value().empty());
  exec(db, "INSERT INTO src VALUES ('f', '1', 9, false, 0)");
  auto grown = q.changes_after({7, "d"}, 10);
  ASSERT_TRUE(grown);
  ASSERT_EQ(grown.value().size(), 1u);
  EXPECT_EQ(grown.value()[0].key, "f");

  EXPECT_EQ(q.read("d").value(), entry::put("d", "[1,2]", 7));
  EXPECT_FALSE(q.read("zzz").value());
}

// A query's output is read-only: the source is a change_source, not a store.
static_assert(storesync::change_source<storesync::duckdb_query_source>);
static_assert(!storesync::store<storesync::duckdb_query_source>);

// Windows of 7 rows over 100, with a run of 20 rows at one version: every
// row comes once, in order, whatever the page size, and a version is never
// split between windows.
TEST_F(DuckdbStore, QuerySourceReadsWindowsWithoutSplittingAVersion) {
  auto db = memory_db();
  exec(db, "CREATE TABLE src AS SELECT 'k' || lpad(i::VARCHAR, 3, '0') AS id, i AS n,"
           " CASE WHEN i BETWEEN 30 AND 49 THEN 30 ELSE i END AS rev FROM range(100) t(i)");
  auto source = duckdb_query_source::open(
      db, "SELECT id AS key, to_json({'n': n}) AS value, rev AS version FROM src", {.window_rows = 7});
  ASSERT_TRUE(source) << source.error().message();
  auto& q = source.value();
  EXPECT_EQ(q.max_version().value(), 99);
  EXPECT_EQ(q.count_after({}).value(), 100u);
  EXPECT_EQ(q.count_after({30, "k039"}).value(), 60u);
  for (const std::size_t page : {1u, 3u, 7u, 9u, 64u, 200u}) {
    std::vector<entry> all;
    watermark mark;
    for (;;) {
      auto got = q.changes_after(mark, page);
      ASSERT_TRUE(got) << got.error().message();
      if (got.value().empty()) break;
      mark = {got.value().back().version, got.value().back().key};
      for (auto& e : got.value()) all.push_back(std::move(e));
    }
    ASSERT_EQ(all.size(), 100u) << "page " << page;
    for (std::size_t i = 1; i < all.size(); ++i)
      EXPECT_LT(std::tie(all[i - 1].version, all[i - 1].key), std::tie(all[i].version, all[i].key));
  }
  // Resuming inside the run of ties continues after its key.
  auto rest = q.changes_after({30, "k044"}, 1000);
  ASSERT_TRUE(rest);
  EXPECT_EQ(rest.value().size(), 55u);
  EXPECT_EQ(rest.value().front().key, "k045");
  EXPECT_FALSE(duckdb_query_source::open(db, "SELECT id AS key, '1' AS value, rev AS version FROM src",
                                         {.window_rows = 0}));
}

// A row without a version (or a key) has no place in (version, key) order:
// it is never read, never blocks a read, and is counted.
TEST_F(DuckdbStore, QuerySourceCountsRowsItCannotOrder) {
  auto db = memory_db();
  exec(db, "CREATE TABLE src (id VARCHAR, rev BIGINT)");
  exec(db, "INSERT INTO src VALUES ('a', 1), ('b', NULL), (NULL, 2), ('c', 3)");
  auto source = duckdb_query_source::open(db, "SELECT id AS key, '1' AS value, rev AS version FROM src");
  ASSERT_TRUE(source) << source.error().message();
  EXPECT_EQ(source.value().unreadable_rows().value(), 2u);
  auto rows = source.value().changes_after({}, 10);
  ASSERT_TRUE(rows) << rows.error().message();
  ASSERT_EQ(rows.value().size(), 2u);
  EXPECT_EQ(rows.value()[1].key, "c");
}

TEST_F(DuckdbStore, QuerySourceRejectsBadQueriesAtOpen) {
  auto db = memory_db();
  auto missing = duckdb_query_source::open(db, "SELECT 'k' AS key, 1 AS version");
  ASSERT_FALSE(missing);
  EXPECT_TRUE(missing.error() == errc::schema_mismatch) << missing.error().message();
  EXPECT_NE(missing.error().message().find("value"), std::string::npos);
  auto garbage = duckdb_query_source::open(db, "SELEKT nothing");
  ASSERT_FALSE(garbage);
  EXPECT_TRUE(garbage.error() == condition::invalid_input) << garbage.error().message();
  auto no_table = duckdb_query_source::open(db, "SELECT * FROM no_such_table");
  ASSERT_FALSE(no_table);
  EXPECT_TRUE(no_table.error() == condition::invalid_input) << no_table.error().message();
}

// Write-back inside DuckDB: a transformation's output, read from the query,
// lands in a store with checkpoints, and both sides checksum the same.
TEST_F(DuckdbStore, QueryOutputWritesBackWithoutMaterialising) {
  auto db = memory_db();
  auto sink = duckdb_store::open(db, {.table = "results"});
  ASSERT_TRUE(sink) << sink.error().message();
  auto source = duckdb_query_source::open(
      db, "SELECT 'user:' || i AS key, to_json({'score': i * 3}) AS value, 1 + i % 17 AS version"
          " FROM range(5000) t(i)");
  ASSERT_TRUE(source) << source.error().message();
  storesync::memory_store reference;
  watermark mark;
  for (;;) {
    auto page = source.value().changes_after(mark, 700);
    ASSERT_TRUE(page) << page.error().message();
    if (page.value().empty()) break;
    mark = {page.value().back().version, page.value().back().key};
    auto w = sink.value().write_with_checkpoint(page.value(),
                                                {"writeback", std::to_string(mark.version) + "/" + mark.key});
    ASSERT_TRUE(w) << w.error().message();
    ASSERT_TRUE(reference.write(page.value()));
  }
  EXPECT_EQ(sink.value().checksum({}).value().count, 5000u);
  EXPECT_EQ(sink.value().checksum({}).value(), reference.checksum({}).value());
  EXPECT_EQ(sink.value().load_checkpoint("writeback").value(),
            std::optional<std::string>(std::to_string(mark.version) + "/" + mark.key));
}

std::size_t resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  std::size_t pages = 0, resident = 0;
  statm >> pages >> resident;
  return resident * static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
}

// 1,000,000 generated rows of ~200 bytes, read in batches of 10,000: every
// batch is bounded, order holds throughout, and memory stays flat after the
// first batches (DuckDB sorts once; the client holds one chunk and one page).
TEST_F(DuckdbStore, MillionRowQuerySourceReadsInBoundedBatchesWithFlatMemory) {
  auto db = duckdb_instance::open({.path = path("big.duckdb"), .memory_limit = "256MB", .threads = 2});
  ASSERT_TRUE(db) << db.error().message();
  auto source = duckdb_query_source::open(
      db.value(),
      "SELECT 'key:' || lpad(i::VARCHAR, 8, '0') AS key,"
      " '{\"n\":' || i || ',\"pad\":\"' || repeat('x', 160) || '\"}' AS value,"
      " 1 + (i * 7919) % 1000 AS version FROM range(1000000) t(i)");
  ASSERT_TRUE(source) << source.error().message();
  constexpr std::size_t batch = 10'000;
  std::size_t total = 0, batches = 0, baseline = 0, peak = 0;
  watermark mark;
  const auto start = std::chrono::steady_clock::now();
  for (;;) {
    auto page = source.value().changes_after(mark, batch);
    ASSERT_TRUE(page) << page.error().message();
    const auto& rows = page.value();
    if (rows.empty()) break;
    ASSERT_LE(rows.size(), batch);
    for (const entry& e : rows) {
      const watermark here{e.version, e.key};
      ASSERT_LT(mark, here);
      mark = here;
    }
    total += rows.size();
    ++batches;
    if (batches == 5) baseline = resident_bytes();
    if (batches > 5) peak = std::max(peak, resident_bytes());
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(total, 1'000'000u);
  EXPECT_EQ(batches, 100u);
  std::printf("1M rows in %zu batches, %.2f s (%.0f rows/s); RSS after 5 batches %zu MiB, peak "
              "after %zu MiB\n",
              batches, seconds, total / seconds, baseline >> 20, peak >> 20);
  // Flat: reading the remaining 950,000 rows adds less than 64 MiB.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  // AddressSanitizer keeps up to 256 MiB of freed memory in quarantine, and
  // ThreadSanitizer maps shadow memory for every page the program touches
  // (the first whole run measured 71 MiB of growth), so RSS measures the
  // sanitizer, not the reader: the bound is checked without one
  // (scripts/test.sh), and here every row is still read and ordered.
  std::printf("the memory bound is not checked under a sanitizer\n");
#else
  EXPECT_LT(peak, baseline + (64u << 20));
#endif
}

}  // namespace
