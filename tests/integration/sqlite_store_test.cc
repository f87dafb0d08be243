// sqlite_store beyond the conformance suite: opening bad files, schema
// checks, durability across reopen, error mapping, and a writer racing three
// readers on the same keys.
#include "storesync/store/sqlite_store.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tests/child_process.hpp"
#include "tests/integration/moved_from_check.hpp"

namespace {

namespace fs = std::filesystem;
using storesync::condition;
using storesync::entry;
using storesync::errc;
using storesync::sqlite_store;

class SqliteStore : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tmp = std::getenv("TEST_TMPDIR");
    std::string pattern = (tmp ? std::string(tmp) : fs::temp_directory_path().string()) +
                          "/sqlite_store_test_XXXXXX";
    dir_ = ::mkdtemp(pattern.data());
  }
  void TearDown() override {
    std::error_code ignored;
    fs::permissions(dir_, fs::perms::owner_all, ignored);
    fs::remove_all(dir_, ignored);
  }
  std::string path(const std::string& name) const { return dir_ + "/" + name; }

  std::string dir_;
};

TEST_F(SqliteStore, FileThatIsNotSqliteFailsAtOpenNamingIt) {
  const std::string p = path("not-a-db.db");
  std::ofstream(p) << "this is a text file, certainly not a SQLite database, padded to be long "
                      "enough for SQLite to read a full header...........................\n";
  auto opened = sqlite_store::open({.path = p});
  ASSERT_FALSE(opened);
  EXPECT_TRUE(opened.error() == errc::corrupt) << opened.error().message();
  std::printf("%s\n", opened.error().message().c_str());
  EXPECT_TRUE(opened.error() == condition::permanent);
  EXPECT_NE(opened.error().message().find(p), std::string::npos) << opened.error().message();
}

TEST_F(SqliteStore, MissingDirectoryFailsAtOpenNamingThePath) {
  const std::string p = path("no/such/dir/store.db");
  auto opened = sqlite_store::open({.path = p});
  ASSERT_FALSE(opened);
  EXPECT_TRUE(opened.error() == condition::unavailable) << opened.error().message();
  EXPECT_NE(opened.error().message().find(p), std::string::npos) << opened.error().message();
}

// 0 when opening a store under `dir` fails as `unavailable`, naming it.
int open_fails_naming(const std::string& dir) {
  auto opened = sqlite_store::open({.path = dir + "/store.db"});
  if (opened) return 1;
  std::printf("%s\n", opened.error().message().c_str());
  if (!(opened.error() == condition::unavailable)) return 2;
  return opened.error().message().find(dir) == std::string::npos ? 3 : 0;
}

// The child: drops root to "nobody" and opens a store under the directory
// given; 4 when it cannot drop root.
STORESYNC_TEST_CHILD(open_as_nobody) {
  if (args.size() != 1) return 1;
  if (::setgid(65534) != 0 || ::setuid(65534) != 0) return 4;
  return open_fails_naming(args[0]);
}

TEST_F(SqliteStore, DirectoryWithoutWritePermissionFailsAtOpen) {
  const std::string d = path("readonly");
  fs::create_directory(d);
  fs::permissions(d, fs::perms::owner_read | fs::perms::owner_exec | fs::perms::group_read |
                         fs::perms::group_exec | fs::perms::others_read | fs::perms::others_exec);
  if (::geteuid() != 0) {
    EXPECT_EQ(open_fails_naming(d), 0);
    return;
  }
  // Root ignores permissions: try as "nobody" in a child process.
  std::fflush(stdout);
  storesync::testing::child_process child("open_as_nobody", {d});
  ASSERT_TRUE(child.started());
  const int status = child.wait();
  ASSERT_TRUE(status != -1 && WIFEXITED(status)) << "the open crashed (status " << status << ")";
  if (WEXITSTATUS(status) == 4) GTEST_SKIP() << "cannot drop root privileges here (sandbox)";
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST_F(SqliteStore, ExistingTableWithWrongShapeIsRefusedNamingTheColumn) {
  const std::string p = path("shape.db");
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(p.c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db,
                           "CREATE TABLE entries (key TEXT PRIMARY KEY, version INTEGER, hash BLOB,"
                           " value TEXT, tombstone INTEGER, updated_at INTEGER);"
                           "CREATE TABLE typed (key TEXT PRIMARY KEY, version TEXT, hash BLOB,"
                           " row_hash INTEGER, value TEXT, tombstone INTEGER, updated_at INTEGER);",
                           nullptr, nullptr, nullptr),
              SQLITE_OK);
    sqlite3_close(db);
  }
  auto missing = sqlite_store::open({.path = p, .table = "entries"});
  ASSERT_FALSE(missing);
  EXPECT_TRUE(missing.error() == errc::schema_mismatch) << missing.error().message();
  EXPECT_NE(missing.error().message().find("row_hash"), std::string::npos)
      << missing.error().message();
  auto typed = sqlite_store::open({.path = p, .table = "typed"});
  ASSERT_FALSE(typed);
  EXPECT_TRUE(typed.error() == errc::schema_mismatch) << typed.error().message();
  EXPECT_NE(typed.error().message().find("version"), std::string::npos) << typed.error().message();
}

TEST_F(SqliteStore, CollectionsInOneFileAreIndependent) {
  const std::string p = path("two.db");
  auto users = sqlite_store::open({.path = p, .table = "users"});
  auto orders = sqlite_store::open({.path = p, .table = "orders"});
  ASSERT_TRUE(users && orders);
  const std::vector<entry> u = {entry::put("k", "1", 1)};
  const std::vector<entry> o = {entry::put("k", "2", 9)};
  ASSERT_TRUE(users.value().write(u));
  ASSERT_TRUE(orders.value().write(o));
  EXPECT_EQ(users.value().read("k").value()->version, 1);
  EXPECT_EQ(orders.value().read("k").value()->version, 9);
  EXPECT_EQ(users.value().checksum({}).value().count, 1u);
}

TEST_F(SqliteStore, MovedFromStoreReportsStoppedOnEveryCall) {
  auto opened = sqlite_store::open({.path = path("moved.db")});
  ASSERT_TRUE(opened) << opened.error().message();
  storesync::testing::check_moved_from(opened.value(), "sqlite_store");
}

TEST(SqliteErrors, ResultCodesMapOntoConditions) {
  using storesync::detail::sqlite_error;
  const std::string f = "/data/x.db";
  EXPECT_TRUE(sqlite_error(SQLITE_BUSY, "", f, "t") == condition::transient);
  EXPECT_TRUE(sqlite_error(SQLITE_LOCKED, "", f, "t") == condition::transient);
  EXPECT_TRUE(sqlite_error(SQLITE_BUSY_SNAPSHOT, "", f, "t") == condition::transient);
  EXPECT_TRUE(sqlite_error(SQLITE_FULL, "", f, "t") == condition::unavailable);
  EXPECT_TRUE(sqlite_error(SQLITE_IOERR_WRITE, "", f, "t") == condition::unavailable);
  EXPECT_TRUE(sqlite_error(SQLITE_CONSTRAINT_NOTNULL, "", f, "t") == condition::invalid_input);
  EXPECT_TRUE(sqlite_error(SQLITE_MISMATCH, "", f, "t") == condition::invalid_input);
  const auto corrupt = sqlite_error(SQLITE_CORRUPT, "malformed", f, "t");
  EXPECT_TRUE(corrupt == condition::permanent);
  EXPECT_NE(corrupt.message().find(f), std::string::npos);
  EXPECT_TRUE(sqlite_error(SQLITE_NOTADB, "", f, "t") == errc::corrupt);
}

// One writer and three readers on the same 64 keys for 5 seconds: no error
// reaches any caller (BUSY is waited out or retried inside the store), and a
// reader never sees a key's version go backwards.
TEST_F(SqliteStore, WriterAndThreeReadersHammerSameKeysWithoutErrors) {
  auto opened = sqlite_store::open({.path = path("hammer.db")});
  ASSERT_TRUE(opened) << opened.error().message();
  sqlite_store& s = opened.value();
  constexpr int keys = 64;
  std::atomic<bool> stop{false};
  std::atomic<long> writes{0}, reads{0}, failures{0};
  std::mutex first_mutex;
  std::string first_failure;
  auto fail = [&](const storesync::error& e) {
    if (failures++ == 0) {
      std::lock_guard lock(first_mutex);
      first_failure = e.message();
    }
  };

  std::thread writer([&] {
    for (storesync::version_type v = 1; !stop; ++v) {
      std::vector<entry> batch;
      for (int k = 0; k < keys; ++k) {
        const std::string key = "k" + std::to_string(k);
        batch.push_back(v % 5 == 0 ? entry::erase(key, v)
                                   : entry::put(key, "{\"v\":" + std::to_string(v) + "}", v));
      }
      auto w = v % 3 == 0 ? s.write_with_checkpoint(batch, {"hammer", std::to_string(v)})
                          : s.write(batch);
      if (!w) fail(w.error());
      else writes += static_cast<long>(w.value().applied);
    }
  });
  std::vector<std::thread> readers;
  for (int r = 0; r < 3; ++r) {
    readers.emplace_back([&, r] {
      std::vector<storesync::version_type> seen(keys, 0);
      for (int i = 0; !stop; ++i) {
        const int k = (i * 7 + r) % keys;
        if (i % 50 == 0) {
          auto sum = s.checksum({});
          if (!sum) fail(sum.error());
          auto changes = s.changes_after({}, 16);
          if (!changes) fail(changes.error());
          auto cp = s.load_checkpoint("hammer");
          if (!cp) fail(cp.error());
          continue;
        }
        auto got = s.read("k" + std::to_string(k));
        if (!got) {
          fail(got.error());
          continue;
        }
        ++reads;
        if (got.value()) {
          if (got.value()->version < seen[k]) ++failures;  // went backwards
          seen[k] = got.value()->version;
        }
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::seconds(5));
  stop = true;
  writer.join();
  for (auto& t : readers) t.join();
  EXPECT_EQ(failures.load(), 0) << first_failure;
  EXPECT_GT(writes.load(), 0);
  EXPECT_GT(reads.load(), 0);
  std::printf("hammer: %ld rows written, %ld reads in 5 s\n", writes.load(), reads.load());
}

}  // namespace
