// sqlite_store on a typed table (a table_mapping): every column type round
// trips with its edge values in the storage class documented for it, every
// conversion failure is refused naming the field and writes nothing, an
// existing table of the wrong shape is refused naming every mismatch, a cell
// of another storage class written by other SQL is never read as something
// else, and a typed table's checksums equal a JSON table's holding the same
// entries. The conformance suite runs on typed tables too
// (tests/conformance/sqlite_store_conformance_test.cc).
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <stdlib.h>  // mkdtemp

#include <cstdlib>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "storesync/store/sqlite_store.hpp"
#include "tests/integration/typed_tables.hpp"

namespace storesync {
namespace {

using testing::every_type;
constexpr auto key = testing::typed_key;

class SqliteTyped : public ::testing::Test {
 protected:
  SqliteTyped() {
    const char* tmp = std::getenv("TEST_TMPDIR");
    std::string pattern = std::string(tmp ? tmp : "/tmp") + "/sqlite_typed_XXXXXX";
    dir_ = ::mkdtemp(pattern.data());
  }
  ~SqliteTyped() override {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  std::string path(const char* name = "db.sqlite") const { return dir_ + "/" + name; }

  result<sqlite_store> open(table_mapping m, const char* name = "db.sqlite") {
    return sqlite_store::open({.path = path(name), .table = "rows", .mapping = std::move(m)});
  }
  sqlite_store open_ok(table_mapping m) {
    auto s = open(std::move(m));
    EXPECT_TRUE(s) << s.error().message();
    return std::move(s).value();
  }

  /// Runs `sql` on the database with a connection of its own; the first
  /// column of each row as text, NULL as "NULL", each prefixed by its
  /// storage class (i, r, t, b, n).
  std::vector<std::string> sql(const std::string& text) const {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open(path().c_str(), &db), SQLITE_OK);
    std::vector<std::string> out;
    sqlite3_stmt* s = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db, text.c_str(), -1, &s, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
      for (int c = 0; c < sqlite3_column_count(s); ++c) {
        const char* v = reinterpret_cast<const char*>(sqlite3_column_text(s, c));
        out.push_back(std::string(1, storage_class(sqlite3_column_type(s, c))) + ":" + (v ? v : "NULL"));
      }
    }
    EXPECT_EQ(rc, SQLITE_DONE) << sqlite3_errmsg(db);
    sqlite3_finalize(s);
    sqlite3_close(db);
    return out;
  }

  static char storage_class(int type) {
    switch (type) {
      case SQLITE_INTEGER: return 'i';
      case SQLITE_FLOAT: return 'r';
      case SQLITE_TEXT: return 't';
      case SQLITE_BLOB: return 'b';
      default: return 'n';
    }
  }

  std::string dir_;
};

TEST_F(SqliteTyped, EveryColumnTypeRoundTripsInItsStorageClass) {
  auto store = open_ok(every_type());
  const entry e = testing::edge_values_entry();
  ASSERT_TRUE(store.write(std::span(&e, 1)));

  const auto got = store.read(e.key).value();
  ASSERT_TRUE(got);
  EXPECT_EQ(got->version, 7);
  EXPECT_EQ(got->hash, e.hash) << "the content hash is the written value's";
  EXPECT_EQ(got->value,
            R"({"t":"Ada \"q\" \\ é","i":-2147483648,"b":9223372036854775807,)"
            // SQLite writes an integral REAL as an integer: -0.0 comes back as 0.
            R"("n":123456789012345678901234567890.000000010,"d":0,"f":false,)"
            R"("ts":"2026-03-03T23:36:07.5Z","day":"2024-02-29","doc":{"a":[1,{"b":null}]},)"
            R"("opt":null,"dflt":"given","later":"kept"})");

  // The columns hold the values themselves, each in its storage class.
  EXPECT_EQ(sql("SELECT tenant, id, storesync_key, i, b, n, d, f, \"happened at\", day, doc, opt, dflt, extra,"
                " storesync_deleted FROM rows"),
            (std::vector<std::string>{"t:acme corp", "i:-42", "t:" + e.key, "i:-2147483648",
                                      "i:9223372036854775807", "t:123456789012345678901234567890.000000010",
                                      "r:0.0", "i:0", "t:2026-03-03T23:36:07.500000Z", "t:2024-02-29",
                                      R"(t:{"a":[1,{"b":null}]})", "n:NULL", "t:given", R"(t:{"later":"kept"})",
                                      "i:0"}));
}

TEST_F(SqliteTyped, NullAMissingFieldAndADefaultAreDistinctAndADeleteIsAMarkerRow) {
  auto store = open_ok(every_type());
  const std::vector<entry> batch = {entry::put(key("a", "1"), R"({"t":null,"d":1e308})", 1),
                                    entry::put(key("a", "2"), R"({"dflt":null})", 1)};
  ASSERT_TRUE(store.write(batch));
  EXPECT_EQ(store.read(batch[0].key).value()->value,
            R"({"t":null,"i":null,"b":null,"n":null,"d":1e+308,"f":null,"ts":null,"day":null,)"
            R"("doc":null,"opt":null,"dflt":"x"})");
  EXPECT_EQ(store.read(batch[1].key).value()->value,
            R"({"t":null,"i":null,"b":null,"n":null,"d":null,"f":null,"ts":null,"day":null,)"
            R"("doc":null,"opt":null,"dflt":null})");
  const entry gone = entry::erase(batch[0].key, 2);
  ASSERT_TRUE(store.write(std::span(&gone, 1)));
  const auto read = store.read(gone.key).value();
  ASSERT_TRUE(read);
  EXPECT_TRUE(read->tombstone);
  EXPECT_EQ(read->version, 2);
  EXPECT_EQ(sql("SELECT storesync_deleted, d, dflt FROM rows WHERE id = 1"),
            (std::vector<std::string>{"i:1", "n:NULL", "n:NULL"}));
  const entry late = entry::put(batch[0].key, R"({"i":5})", 1);
  EXPECT_EQ(store.write(std::span(&late, 1)).value(), (write_report{.stale = 1}))
      << "the marker keeps the deleted version";
}

TEST_F(SqliteTyped, EveryConversionFailureNamesTheFieldAndWritesNothing) {
  auto store = open_ok(every_type());
  const entry good = entry::put(key("a", "1"), R"({"i":1})", 1);
  for (const auto& [value, names] : testing::conversion_failures()) {
    const std::vector<entry> batch = {good, entry::put(key("a", "2"), value, 1)};
    const auto w = store.write(batch);
    ASSERT_FALSE(w) << value;
    EXPECT_EQ(w.error(), condition::invalid_input) << value;
    EXPECT_NE(w.error().message().find(names), std::string::npos) << w.error().message();
    const auto admitted = store.admits(batch[1]);
    ASSERT_FALSE(admitted) << value;
    EXPECT_EQ(admitted.error().message(), w.error().message());
  }
  EXPECT_EQ(sql("SELECT count(*) FROM rows"), std::vector<std::string>{"i:0"}) << "a refused batch wrote something";
}

TEST_F(SqliteTyped, AnExistingTableOfAnotherShapeIsRefusedNamingEveryMismatch) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path().c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db,
                         "CREATE TABLE rows (tenant TEXT NOT NULL, id INTEGER NOT NULL, storesync_key TEXT NOT NULL"
                         " UNIQUE, version INTEGER NOT NULL, storesync_hash_lo INTEGER NOT NULL, storesync_hash_hi"
                         " INTEGER NOT NULL, storesync_row_hash INTEGER NOT NULL, storesync_deleted INTEGER NOT NULL,"
                         " t TEXT, i TEXT, b INTEGER NOT NULL, n NUMERIC, d REAL, f INTEGER, \"happened at\" TEXT,"
                         " day TEXT, doc TEXT, opt INTEGER, dflt TEXT, extra TEXT, PRIMARY KEY (tenant, id))",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  const auto opened = open(every_type());
  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.error(), errc::schema_mismatch);
  const std::string m = opened.error().message();
  EXPECT_NE(m.find(R"(column "i" has type TEXT; storesync needs INTEGER)"), std::string::npos) << m;
  EXPECT_NE(m.find(R"(column "b" is NOT NULL; a deleted key's row holds NULL there)"), std::string::npos) << m;
  EXPECT_NE(m.find(R"(column "n" has type NUMERIC; storesync needs TEXT)"), std::string::npos) << m;
}

TEST_F(SqliteTyped, StoresyncColumnsAreAddedToAnEmptyTableOfTheUsersAndNeverToAFullOne) {
  table_mapping m;
  m.key = {{"community_id", column_type::bigint}, {"profile_id", column_type::bigint}};
  m.fields = {{.field = "score", .type = column_type::integer, .required = true}};
  for (const bool full : {false, true}) {
    const char* name = full ? "full.sqlite" : "empty.sqlite";
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path(name).c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db,
                           "CREATE TABLE rows (community_id INTEGER NOT NULL, profile_id INTEGER NOT NULL,"
                           " score INTEGER, version INTEGER NOT NULL, PRIMARY KEY (community_id, profile_id))",
                           nullptr, nullptr, nullptr),
              SQLITE_OK);
    if (full) {
      ASSERT_EQ(sqlite3_exec(db, "INSERT INTO rows VALUES (1, 2, 3, 4)", nullptr, nullptr, nullptr), SQLITE_OK);
    }
    sqlite3_close(db);
    auto opened = open(m, name);
    if (full) {
      ASSERT_FALSE(opened);
      EXPECT_EQ(opened.error(), errc::schema_mismatch);
      EXPECT_NE(opened.error().message().find("holds rows but lacks storesync's columns"), std::string::npos)
          << opened.error().message();
      continue;
    }
    ASSERT_TRUE(opened) << opened.error().message();
    auto store = std::move(opened).value();
    const entry e = entry::put(encode_key(m, {"7", "42"}).value(), R"({"score":10})", 3);
    ASSERT_TRUE(store.write(std::span(&e, 1)));
    EXPECT_EQ(store.read(e.key).value()->value, R"({"score":10})");
    const entry again = entry::put(e.key, R"({"score":11})", 4);
    ASSERT_EQ(store.write(std::span(&again, 1)).value(), (write_report{.applied = 1}));
  }
}

TEST_F(SqliteTyped, ATimestamptzVersionHoldsMicrosecondsAsAnInteger) {
  table_mapping m = every_type();
  m.version_column = "changed_at";
  m.version_type = version_column_type::timestamptz;
  auto store = open_ok(m);
  constexpr version_type last = 253'402'300'799'999'999;  // 9999-12-31T23:59:59.999999Z
  const std::vector<entry> batch = {entry::put(key("a", "1"), "{}", 1'767'319'445'123'456),
                                    entry::put(key("a", "2"), "{}", last)};
  ASSERT_TRUE(store.write(batch));
  EXPECT_EQ(sql("SELECT changed_at, datetime(changed_at / 1000000, 'unixepoch') FROM rows ORDER BY id"),
            (std::vector<std::string>{"i:1767319445123456", "t:2026-01-02 02:04:05", "i:253402300799999999",
                                      "t:9999-12-31 23:59:59"}));
  EXPECT_EQ(store.read(batch[1].key).value()->version, last);
  const entry past = entry::put(key("a", "3"), "{}", last + 1);
  const auto refused = store.write(std::span(&past, 1));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error(), errc::invalid_version);
}

TEST_F(SqliteTyped, ACellOfAnotherStorageClassIsNeverReadAsSomethingElse) {
  auto store = open_ok(every_type());
  const entry e = entry::put(key("a", "1"), R"({"i":1,"ts":"2026-01-01T00:00:00Z"})", 1);
  ASSERT_TRUE(store.write(std::span(&e, 1)));
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path().c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "UPDATE rows SET i = 'abc'", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  const auto read = store.read(e.key);
  ASSERT_FALSE(read);
  EXPECT_EQ(read.error(), errc::corrupt);
  EXPECT_NE(read.error().message().find(R"(column "i" holds a value of another type than INTEGER)"),
            std::string::npos)
      << read.error().message();
  ASSERT_EQ(sqlite3_open(path().c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "UPDATE rows SET i = 1, \"happened at\" = 'yesterday'", nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  const auto again = store.read(e.key);
  ASSERT_FALSE(again);
  EXPECT_NE(again.error().message().find(R"(holds "yesterday", not a timestamptz)"), std::string::npos)
      << again.error().message();
}

TEST_F(SqliteTyped, ChecksumsAgreeWithAJsonTableHoldingTheSameEntries) {
  auto typed = open_ok(every_type());
  auto json = sqlite_store::open({.path = path("json.sqlite")});
  ASSERT_TRUE(json) << json.error().message();
  const std::vector<entry> batch = testing::checksum_batch();
  ASSERT_TRUE(typed.write(batch));
  ASSERT_TRUE(json.value().write(batch));
  for (const key_range& r : {key_range{}, key_range{key("a", "0"), key("b c", "-100")}}) {
    const auto a = typed.checksum(r);
    const auto b = json.value().checksum(r);
    ASSERT_TRUE(a && b);
    EXPECT_EQ(a.value(), b.value());
    EXPECT_GT(a.value().count, 0u);
  }
}

}  // namespace
}  // namespace storesync
