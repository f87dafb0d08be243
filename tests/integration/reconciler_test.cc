// reconciler between a real PostgreSQL and a real SQLite: drift made with
// plain SQL (rows deleted, altered, added on either side) is found exactly
// by `check`, reading a small part of the tables, and
// `repair` with PostgreSQL as the source of truth makes the two equal; the
// same edit on 2,000 rows of one side is 2,000 differences.
#include "storesync/strategy/reconciler.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <pqxx/pqxx>

#include "storesync/store/sqlite_store.hpp"
#include "tests/integration/pg_scratch.hpp"

namespace storesync {
namespace {

using testing::open_ok;
using testing::scratch_table;

std::string key_of(int i) {
  char k[32];
  std::snprintf(k, sizeof k, "user:%06d", i);
  return k;
}

struct two_stores {
  scratch_table table{"reconcile"};
  postgres_store pg = open_ok(table.config());
  std::filesystem::path dir = std::filesystem::temp_directory_path() / testing::unique_pg_name("reconcile");
  sqlite_store lite = open_sqlite();

  sqlite_store open_sqlite() {
    std::filesystem::create_directories(dir);
    auto s = sqlite_store::open({.path = (dir / "db.sqlite").string()});
    if (!s) throw std::runtime_error(s.error().message());
    return std::move(s).value();
  }
  ~two_stores() {
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
  }

  void fill(int n) {
    std::vector<entry> rows;
    for (int i = 0; i < n; ++i) rows.push_back(entry::put(key_of(i), R"({"n":)" + std::to_string(i) + "}", 10));
    ASSERT_TRUE(pg.write(rows));
    ASSERT_TRUE(lite.write(rows));
  }
  void pg_sql(const std::string& sql) {
    pqxx::connection c(testing::test_pg_url());
    pqxx::nontransaction tx(c);
    tx.exec(sql);
  }
  void sqlite_sql(const std::string& sql) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((dir / "db.sqlite").c_str(), &db), SQLITE_OK);
    char* why = nullptr;
    EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &why), SQLITE_OK) << (why ? why : "");
    sqlite3_free(why);
    sqlite3_close(db);
  }
  std::string t() const { return table.qualified(table.table); }
};

TEST(Reconciler, DriftMadeWithPlainSqlIsFoundExactlyAndRepaired) {
  two_stores s;
  s.fill(20'000);
  // PostgreSQL: three rows deleted; two altered and two added by another
  // writer that keeps storesync's columns (a check compares those: see
  // reconciler.hpp).
  s.pg_sql("DELETE FROM " + s.t() + " WHERE key IN ('" + key_of(11) + "', '" + key_of(7'000) + "', '" +
           key_of(19'999) + "')");
  auto n = [](auto v) { return std::to_string(static_cast<std::int64_t>(v)); };
  for (const std::string& k : {key_of(500), key_of(12'345)}) {
    const entry e = entry::put(k, R"({"altered":true})", 15);
    s.pg_sql("UPDATE " + s.t() + " SET value = '{\"altered\":true}', version = 15, hash_lo = " + n(e.hash.lo) +
             ", hash_hi = " + n(e.hash.hi) + ", row_hash = " + n(row_hash(e)) + " WHERE key = '" + k + "'");
  }
  for (const std::string_view k : {"user:a-added", "user:zz-added"}) {
    const entry e = entry::put(std::string(k), R"({"added":1})", 3);
    s.pg_sql("INSERT INTO " + s.t() + " (key, version, hash_lo, hash_hi, row_hash, tombstone, value) VALUES ('" +
             e.key + "', 3, " + n(e.hash.lo) + ", " + n(e.hash.hi) + ", " + n(row_hash(e)) + ", false, '{\"added\":1}')");
  }
  // SQLite: two rows deleted.
  s.sqlite_sql("DELETE FROM storesync_entries WHERE key IN ('" + key_of(3) + "', '" + key_of(15'000) + "')");

  reconciler rec(s.pg, s.lite);
  const auto found = rec.check({});
  ASSERT_TRUE(found) << found.error().message();
  std::vector<std::pair<std::string, difference_kind>> got;
  for (const difference& d : found.value().differences) got.emplace_back(d.key, d.kind);
  using k = difference_kind;
  EXPECT_EQ(got, (std::vector<std::pair<std::string, difference_kind>>{
                     {key_of(3), k::only_left},
                     {key_of(11), k::only_right},
                     {key_of(500), k::differ},
                     {key_of(7'000), k::only_right},
                     {key_of(12'345), k::differ},
                     {key_of(15'000), k::only_left},
                     {key_of(19'999), k::only_right},
                     {"user:a-added", k::only_left},
                     {"user:zz-added", k::only_left},
                 }));
  EXPECT_TRUE(found.value().complete());
  EXPECT_LT(found.value().rows_read, 40'000u / 10) << "bisection read the tables, not their differing parts";

  const auto fixed = rec.repair(found.value(), {.truth = source_of_truth::left});
  ASSERT_TRUE(fixed) << fixed.error().message();
  EXPECT_EQ(fixed.value().copied_to_right, 6u);
  EXPECT_EQ(fixed.value().removed_from_right, 3u);
  EXPECT_TRUE(fixed.value().refused.empty());
  EXPECT_EQ(s.pg.checksum({}).value(), s.lite.checksum({}).value());
  const auto again = rec.check({});
  ASSERT_TRUE(again);
  EXPECT_TRUE(again.value().differences.empty());
}

TEST(Reconciler, TheSameEditOnTwoThousandRowsIsTwoThousandDifferences) {
  two_stores s;
  s.fill(10'000);
  // One identical edit on every fifth row of SQLite: the digest sums row
  // hashes that include the key, so no two such edits cancel out.
  std::vector<entry> same;
  for (int i = 0; i < 10'000; i += 5) same.push_back(entry::put(key_of(i), R"({"same":"edit"})", 11));
  ASSERT_TRUE(s.lite.write(same));
  reconciler rec(s.pg, s.lite);
  const auto found = rec.check({});
  ASSERT_TRUE(found) << found.error().message();
  EXPECT_EQ(found.value().differences.size(), 2'000u);
}

}  // namespace
}  // namespace storesync
