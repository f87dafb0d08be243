// duckdb_store on a typed table (a table_mapping): every column type round
// trips with its edge values, every conversion failure is refused naming the
// field and writes nothing, an existing table of the wrong shape is refused
// naming every mismatch, a numeric is kept as written, and a typed
// table's checksums and change stream agree with a JSON DuckDB table's
// holding the same entries. The conformance suite runs on typed tables too
// (tests/conformance/duckdb_store_conformance_test.cc).
#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "storesync/store/duckdb_store.hpp"
#include "tests/integration/typed_tables.hpp"

namespace storesync {
namespace {

// Every column type but numeric (tested on its own), keyed by (tenant text,
// id bigint), with a rest column.
table_mapping every_type() { return testing::every_type(false); }
constexpr auto key = testing::typed_key;

std::shared_ptr<duckdb_instance> memory_db() {
  auto db = duckdb_instance::open({.threads = 2});
  EXPECT_TRUE(db) << db.error().message();
  return db.value();
}

duckdb_store open_ok(const std::shared_ptr<duckdb_instance>& db, table_mapping m,
                     std::string table = "scores") {
  auto opened = duckdb_store::open(db, {.table = std::move(table), .mapping = std::move(m)});
  EXPECT_TRUE(opened) << opened.error().message();
  return std::move(opened).value();
}

// The rows of `sql`, every column as text (NULL as nothing).
std::vector<std::vector<std::optional<std::string>>> query(const std::shared_ptr<duckdb_instance>& db,
                                                           const std::string& sql) {
  duckdb_connection c;
  EXPECT_EQ(duckdb_connect(db->native(), &c), DuckDBSuccess);
  duckdb_result r;
  std::vector<std::vector<std::optional<std::string>>> rows;
  if (duckdb_query(c, sql.c_str(), &r) == DuckDBError) {
    ADD_FAILURE() << sql << ": " << duckdb_result_error(&r);
  } else {
    for (idx_t i = 0; i < duckdb_row_count(&r); ++i) {
      auto& row = rows.emplace_back();
      for (idx_t j = 0; j < duckdb_column_count(&r); ++j) {
        char* v = duckdb_value_varchar(&r, j, i);
        row.push_back(v ? std::optional<std::string>(v) : std::nullopt);
        duckdb_free(v);
      }
    }
  }
  duckdb_destroy_result(&r);
  duckdb_disconnect(&c);
  return rows;
}

void exec(const std::shared_ptr<duckdb_instance>& db, const std::string& sql) { query(db, sql); }

std::int64_t count_rows(const std::shared_ptr<duckdb_instance>& db, const std::string& table,
                        const std::string& where = "true") {
  return std::stoll(*query(db, "SELECT count(*) FROM " + table + " WHERE " + where)[0][0]);
}

TEST(DuckdbTyped, EveryColumnTypeRoundTripsWithEdgeValues) {
  auto db = memory_db();
  auto store = open_ok(db, every_type());
  const std::vector<entry> batch = {
      entry::put(key("acme corp", "-9223372036854775808"),
                 R"({"t":"Ada \"q\" \\ é \u0000\u0001","i":-2147483648,"b":9223372036854775807,"d":-0,)"
                 R"("f":false,"ts":"2026-03-04T05:06:07.123456+05:30","day":"0001-01-01",)"
                 R"("doc":{"a":[1,{"b":null}]},"later":"kept","dflt":"given"})",
                 7),
      entry::put(key("acme corp", "9223372036854775807"),
                 R"({"i":2147483647,"b":-9223372036854775808,"d":1e308,"f":true,)"
                 R"("ts":"0001-01-01T00:00:00-00:00","day":"9999-12-31","doc":"just text"})",
                 8),
      entry::put(key("b", "0"),
                 R"({"d":5e-324,"ts":"9999-12-31T23:59:59.999999Z","day":"2024-02-29","doc":[]})", 9),
      entry::put(key("c", "1"), R"({"d":0.1,"ts":"1969-12-31T23:59:59.5-01:30","doc":1.50})", 10),
  };
  const auto w = store.write(batch);
  ASSERT_TRUE(w) << w.error().message();
  EXPECT_EQ(w.value(), (write_report{4, 0, 0}));

  const std::vector<std::string> want = {
      R"({"t":"Ada \"q\" \\ é \u0000\u0001","i":-2147483648,"b":9223372036854775807,"d":-0,"f":false,)"
      R"("ts":"2026-03-03T23:36:07.123456Z","day":"0001-01-01","doc":{"a":[1,{"b":null}]},)"
      R"("opt":null,"dflt":"given","later":"kept"})",
      R"({"t":null,"i":2147483647,"b":-9223372036854775808,"d":1e+308,"f":true,)"
      R"("ts":"0001-01-01T00:00:00Z","day":"9999-12-31","doc":"just text","opt":null,"dflt":"x"})",
      R"({"t":null,"i":null,"b":null,"d":5e-324,"f":null,"ts":"9999-12-31T23:59:59.999999Z",)"
      R"("day":"2024-02-29","doc":[],"opt":null,"dflt":"x"})",
      R"({"t":null,"i":null,"b":null,"d":0.1,"f":null,"ts":"1970-01-01T01:29:59.5Z",)"
      R"("day":null,"doc":1.50,"opt":null,"dflt":"x"})",
  };
  for (std::size_t i = 0; i < batch.size(); ++i) {
    const auto got = store.read(batch[i].key);
    ASSERT_TRUE(got) << got.error().message();
    ASSERT_TRUE(got.value()) << batch[i].key;
    EXPECT_EQ(got.value()->version, batch[i].version);
    EXPECT_EQ(got.value()->hash, batch[i].hash) << "the content hash is the written value's";
    EXPECT_EQ(got.value()->value, want[i]);
  }
  // scan and changes_after rebuild the same values.
  const auto scanned = store.scan({}, {}, 10);
  ASSERT_TRUE(scanned) << scanned.error().message();
  ASSERT_EQ(scanned.value().size(), 4u);
  const auto changes = store.changes_after({}, 10);
  ASSERT_TRUE(changes) << changes.error().message();
  ASSERT_EQ(changes.value().size(), 4u);
  for (std::size_t i = 0; i < batch.size(); ++i) EXPECT_EQ(changes.value()[i].value, want[i]);

  // The columns are really typed, and hold the values themselves.
  const auto rows = query(
      db, "SELECT tenant, id::VARCHAR, typeof(id), i::VARCHAR, typeof(i), b::VARCHAR, typeof(b),"
          " signbit(d)::VARCHAR, typeof(d), f::VARCHAR, typeof(f),"
          " epoch_us(\"happened at\")::VARCHAR, typeof(\"happened at\"), day::VARCHAR, typeof(day),"
          " doc, typeof(doc), opt IS NULL, extra, storesync_deleted::VARCHAR, typeof(storesync_hash_lo)"
          " FROM scores ORDER BY storesync_key LIMIT 1");
  ASSERT_EQ(rows.size(), 1u);
  const std::vector<std::optional<std::string>> first = {
      "acme corp", "-9223372036854775808", "BIGINT", "-2147483648", "INTEGER",
      "9223372036854775807", "BIGINT", "true", "DOUBLE", "false", "BOOLEAN", "1772580967123456",
      "TIMESTAMP WITH TIME ZONE", "0001-01-01", "DATE", R"({"a":[1,{"b":null}]})", "VARCHAR", "true",
      R"({"later":"kept"})", "false", "BIGINT"};
  EXPECT_EQ(rows[0], first);
  EXPECT_EQ(count_rows(db, "scores", "d = 1e308 AND day = DATE '9999-12-31'"), 1);
  EXPECT_EQ(count_rows(db, "scores", "t = 'Ada \"q\" \\ é ' || chr(0) || chr(1)"), 1);
  EXPECT_EQ(count_rows(db, "scores", "\"happened at\" = TIMESTAMPTZ '9999-12-31 23:59:59.999999+00'"), 1);
}

TEST(DuckdbTyped, NullAMissingFieldAndADefaultAreDistinct) {
  auto db = memory_db();
  auto store = open_ok(db, every_type());
  // Missing "dflt" takes the default; an explicit null stays NULL; other
  // missing optional fields are NULL.
  const std::vector<entry> batch = {entry::put(key("a", "1"), R"({"t":null})", 1),
                                    entry::put(key("a", "2"), R"({"dflt":null})", 1)};
  ASSERT_TRUE(store.write(batch));
  EXPECT_EQ(store.read(batch[0].key).value()->value,
            R"({"t":null,"i":null,"b":null,"d":null,"f":null,"ts":null,"day":null,)"
            R"("doc":null,"opt":null,"dflt":"x"})");
  EXPECT_EQ(store.read(batch[1].key).value()->value,
            R"({"t":null,"i":null,"b":null,"d":null,"f":null,"ts":null,"day":null,)"
            R"("doc":null,"opt":null,"dflt":null})");
  EXPECT_EQ(count_rows(db, "scores", "dflt IS NULL"), 1);
  EXPECT_EQ(count_rows(db, "scores", "dflt = 'x' AND t IS NULL AND extra IS NULL"), 1);
}

TEST(DuckdbTyped, ADeleteIsAMarkerRowWithNullValues) {
  auto db = memory_db();
  auto store = open_ok(db, every_type());
  const std::vector<entry> batch = {entry::put(key("a", "1"), R"({"t":"x","i":1,"later":2})", 1),
                                    entry::erase(key("a", "1"), 2)};
  ASSERT_TRUE(store.write(batch));
  const auto got = store.read(batch[0].key).value();
  ASSERT_TRUE(got);
  EXPECT_TRUE(got->tombstone);
  EXPECT_EQ(got->version, 2);
  EXPECT_EQ(count_rows(db, "scores",
                       "storesync_deleted AND tenant = 'a' AND id = 1 AND t IS NULL AND i IS NULL AND"
                       " extra IS NULL AND dflt IS NULL"),
            1);
  // The marker keeps the version guard: an older put stays deleted.
  const entry late = entry::put(key("a", "1"), R"({"t":"back"})", 1);
  EXPECT_EQ(store.write(std::span(&late, 1)).value(), (write_report{0, 0, 1}));
  EXPECT_TRUE(store.read(late.key).value()->tombstone);
}

TEST(DuckdbTyped, EveryConversionFailureNamesTheFieldAndWritesNothing) {
  auto db = memory_db();
  auto store = open_ok(db, every_type());
  const entry good = entry::put(key("a", "1"), R"({"i":1})", 1);
  for (const testing::refused_value& c : testing::conversion_failures()) {
    const std::vector<entry> batch = {good, entry::put(key("a", "2"), c.value, 1)};
    const auto w = store.write(batch);
    ASSERT_FALSE(w) << c.value;
    EXPECT_EQ(w.error(), errc::invalid_value) << c.value;
    EXPECT_EQ(w.error(), condition::invalid_input) << c.value;
    EXPECT_NE(w.error().message().find(c.names), std::string::npos) << w.error().message();
    EXPECT_NE(w.error().message().find(batch[1].key), std::string::npos) << w.error().message();
    const auto admitted = store.admits(batch[1]);
    ASSERT_FALSE(admitted) << c.value;
    EXPECT_EQ(admitted.error().message(), w.error().message());
    EXPECT_TRUE(store.admits(good));
  }
  // A key that is not the encoding of (text, bigint).
  const entry stray = entry::put("a 12", R"({"i":1})", 1);
  const std::vector<entry> with_stray = {good, stray};
  const auto w = store.write(with_stray);
  ASSERT_FALSE(w);
  EXPECT_EQ(w.error(), condition::invalid_input);
  EXPECT_NE(w.error().message().find(R"(key column "id")"), std::string::npos) << w.error().message();
  // An older version of a key the batch writes again is checked as well.
  const std::vector<entry> hidden = {entry::put(key("a", "1"), R"({"i":2})", 2),
                                     entry::put(key("a", "1"), R"({"i":"x"})", 1)};
  const auto h = store.write(hidden);
  ASSERT_FALSE(h);
  EXPECT_NE(h.error().message().find(R"(field "i")"), std::string::npos) << h.error().message();
  EXPECT_EQ(count_rows(db, "scores"), 0) << "a refused batch wrote something";
  // A field the mapping does not name, without a rest column.
  table_mapping strict = every_type();
  strict.rest_column.clear();
  auto strict_store = open_ok(db, strict, "strict");
  const std::vector<entry> unnamed = {good, entry::put(key("a", "2"), R"({"later":1})", 1)};
  const auto u = strict_store.write(unnamed);
  ASSERT_FALSE(u);
  EXPECT_NE(u.error().message().find(R"(field "later" has no column)"), std::string::npos)
      << u.error().message();
  EXPECT_EQ(count_rows(db, "strict"), 0);
  // The store still writes.
  ASSERT_TRUE(store.write(std::span(&good, 1)));
  EXPECT_EQ(count_rows(db, "scores", "i = 1"), 1);
}

TEST(DuckdbTyped, AnExistingTableOfAnotherShapeIsRefusedNamingEveryMismatch) {
  auto db = memory_db();
  exec(db,
       "CREATE TABLE scores (tenant VARCHAR NOT NULL, id INTEGER NOT NULL, storesync_key VARCHAR NOT NULL,"
       " version BIGINT NOT NULL, storesync_hash_lo BIGINT NOT NULL, storesync_hash_hi BIGINT NOT NULL,"
       " storesync_row_hash BIGINT NOT NULL, storesync_deleted BOOLEAN NOT NULL,"
       " t VARCHAR, i VARCHAR, b BIGINT NOT NULL, d FLOAT, f BOOLEAN, \"happened at\" TIMESTAMP,"
       " doc JSON, opt INTEGER, dflt VARCHAR, extra VARCHAR)");
  const auto opened = duckdb_store::open(db, {.table = "scores", .mapping = every_type()});
  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.error(), errc::schema_mismatch);
  const std::string m = opened.error().message();
  for (const char* mismatch : {R"(column "id" has type INTEGER; storesync needs BIGINT)",
                               R"(column "i" has type VARCHAR; storesync needs INTEGER)",
                               R"(column "b" is NOT NULL; a deleted key's row holds NULL there)",
                               R"(column "d" has type FLOAT; storesync needs DOUBLE)",
                               R"(column "happened at" has type TIMESTAMP; storesync needs TIMESTAMP WITH TIME ZONE)",
                               R"(column "day" is missing)"})
    EXPECT_NE(m.find(mismatch), std::string::npos) << mismatch << " in " << m;
  EXPECT_EQ(m.find(R"(column "doc")"), std::string::npos) << "a JSON column holds a jsonb field: " << m;

  // A key column that admits NULL, and a version column of the other kind.
  exec(db, "CREATE TABLE by_name (name VARCHAR, version BIGINT NOT NULL, storesync_hash_lo BIGINT NOT NULL,"
           " storesync_hash_hi BIGINT NOT NULL, storesync_row_hash BIGINT NOT NULL,"
           " storesync_deleted BOOLEAN NOT NULL)");
  table_mapping by_name;
  by_name.key = {{"name", column_type::text}};
  by_name.version_type = version_column_type::timestamptz;
  const auto named = duckdb_store::open(db, {.table = "by_name", .mapping = by_name});
  ASSERT_FALSE(named);
  EXPECT_NE(named.error().message().find(
                R"(column "name" admits NULL; storesync needs NOT NULL; column "version" has type BIGINT;)"
                R"( storesync needs TIMESTAMP WITH TIME ZONE)"),
            std::string::npos)
      << named.error().message();
}

TEST(DuckdbTyped, ANumericIsKeptAsWrittenInVarchar) {
  auto db = memory_db();
  auto store = open_ok(db, testing::every_type());  // with its numeric field "n"
  const std::vector<entry> batch = {
      entry::put(key("a", "1"), R"({"n":123456789012345678901234567890.000000010})", 1),
      entry::put(key("a", "2"), R"({"n":-1e-400})", 1),
      entry::put(key("a", "3"), R"({"n":"12.5"})", 1),
  };
  const auto w = store.write(std::span(batch).first(2));
  ASSERT_TRUE(w) << w.error().message();
  EXPECT_NE(store.read(batch[0].key).value()->value.find(R"("n":123456789012345678901234567890.000000010,)"),
            std::string::npos);
  EXPECT_NE(store.read(batch[1].key).value()->value.find(R"("n":-1e-400,)"), std::string::npos);
  using row = std::vector<std::optional<std::string>>;
  EXPECT_EQ(query(db, "SELECT n FROM scores ORDER BY id"),
            (std::vector<row>{{"123456789012345678901234567890.000000010"}, {"-1e-400"}}));
  const auto refused = store.write(std::span(&batch[2], 1));
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message().find(R"(field "n" (column "n", numeric) "\"12.5\"" is a string)"),
            std::string::npos)
      << refused.error().message();
}

TEST(DuckdbTyped, ABadMappingIsRefusedAtOpen) {
  auto db = memory_db();
  table_mapping twice = every_type();
  twice.fields.push_back({.field = "T", .type = column_type::text});
  const auto folded = duckdb_store::open(db, {.table = "folded", .mapping = twice});
  ASSERT_FALSE(folded);
  EXPECT_EQ(folded.error(), errc::invalid_argument);
  EXPECT_NE(folded.error().message().find(R"(columns "t" and "T" are one column to DuckDB)"), std::string::npos)
      << folded.error().message();
  table_mapping bad_default = every_type();
  bad_default.fields[1].default_value = R"("one")";
  const auto refused = duckdb_store::open(db, {.table = "bad_default", .mapping = bad_default});
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error(), errc::invalid_argument);
  EXPECT_NE(refused.error().message().find(R"(field "i": default)"), std::string::npos)
      << refused.error().message();
}

TEST(DuckdbTyped, StoresyncColumnsAreAddedToAnEmptyTableOfTheUsersAndNeverToAFullOne) {
  table_mapping m;
  m.key = {{"community_id", column_type::bigint}, {"profile_id", column_type::bigint}};
  m.fields = {{.field = "score", .type = column_type::integer, .required = true}};
  for (const bool full : {false, true}) {
    auto db = memory_db();
    exec(db, "CREATE TABLE scores (community_id BIGINT, profile_id BIGINT, score INTEGER, version BIGINT NOT NULL,"
             " PRIMARY KEY (community_id, profile_id))");
    if (full) exec(db, "INSERT INTO scores VALUES (1, 2, 3, 4)");
    auto opened = duckdb_store::open(db, {.table = "scores", .mapping = m});
    if (full) {
      ASSERT_FALSE(opened);
      EXPECT_EQ(opened.error(), errc::schema_mismatch);
      EXPECT_NE(opened.error().message().find("holds rows but lacks storesync's column \"storesync_key\""),
                std::string::npos)
          << opened.error().message();
      EXPECT_EQ(count_rows(db, "scores"), 1);
      continue;
    }
    ASSERT_TRUE(opened) << opened.error().message();
    auto store = std::move(opened).value();
    const entry e = entry::put(encode_key(m, {"7", "42"}).value(), R"({"score":10})", 3);
    ASSERT_TRUE(store.write(std::span(&e, 1)));
    EXPECT_EQ(count_rows(db, "scores", "community_id = 7 AND profile_id = 42 AND score = 10"), 1);
    EXPECT_EQ(store.read(e.key).value()->value, R"({"score":10})");
    const entry missing = entry::put(encode_key(m, {"7", "43"}).value(), "{}", 3);
    EXPECT_FALSE(store.write(std::span(&missing, 1))) << "a required field was missing";
  }
}

TEST(DuckdbTyped, ATimestamptzVersionHoldsMicrosecondsSinceTheEpoch) {
  table_mapping m = every_type();
  m.version_column = "changed_at";
  m.version_type = version_column_type::timestamptz;
  auto db = memory_db();
  auto store = open_ok(db, m);
  // 2026-01-02T02:04:05.123456Z, and 9999-12-31T23:59:59.999999Z, the last
  // a timestamptz version holds; one microsecond later is refused.
  constexpr version_type last = 253'402'300'799'999'999;
  const std::vector<entry> batch = {entry::put(key("a", "1"), "{}", 1'767'319'445'123'456),
                                    entry::put(key("a", "2"), "{}", last)};
  ASSERT_TRUE(store.write(batch));
  EXPECT_EQ(count_rows(db, "scores", "changed_at = TIMESTAMPTZ '2026-01-02 02:04:05.123456+00'"), 1);
  EXPECT_EQ(count_rows(db, "scores", "changed_at = TIMESTAMPTZ '9999-12-31 23:59:59.999999+00'"), 1);
  EXPECT_EQ(store.read(batch[0].key).value()->version, batch[0].version);
  EXPECT_EQ(store.read(batch[1].key).value()->version, last);
  EXPECT_EQ(store.max_version().value(), last);
  const entry past = entry::put(key("a", "3"), "{}", last + 1);
  const auto refused = store.write(std::span(&past, 1));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error(), errc::invalid_version);
  EXPECT_NE(refused.error().message().find("is past 9999-12-31T23:59:59.999999Z"), std::string::npos)
      << refused.error().message();
  // Older is stale, newer applies, under the guard.
  const std::vector<entry> later = {entry::put(key("a", "1"), "{}", 1'767'319'445'123'455),
                                    entry::put(key("a", "1"), R"({"i":2})", 1'767'319'445'123'457)};
  const auto w = store.write(later);
  ASSERT_TRUE(w) << w.error().message();
  EXPECT_EQ(w.value(), (write_report{1, 0, 1}));
  const auto changes = store.changes_after({batch[0].version, batch[0].key}, 10);
  ASSERT_TRUE(changes) << changes.error().message();
  ASSERT_EQ(changes.value().size(), 2u);
  EXPECT_EQ(changes.value()[0].version, later[1].version);
  EXPECT_EQ(changes.value()[1].version, last);
  // A table keyed by one text column has the same timestamptz version column.
  table_mapping by_name;
  by_name.key = {{"name", column_type::text}};
  by_name.version_type = version_column_type::timestamptz;
  auto named_store = open_ok(db, by_name, "named");
  const entry ada = entry::put("ada", "{}", batch[0].version);
  ASSERT_TRUE(named_store.write(std::span(&ada, 1)));
  EXPECT_EQ(count_rows(db, "named", "version = TIMESTAMPTZ '2026-01-02 02:04:05.123456+00' AND name = 'ada'"), 1);
  EXPECT_EQ(named_store.read("ada").value()->version, batch[0].version);
}

TEST(DuckdbTyped, ChecksumsAndChangesAgreeWithAJsonTableHoldingTheSameEntries) {
  auto db = memory_db();
  auto typed = open_ok(db, every_type());
  auto json = duckdb_store::open(db, {.table = "json"});
  ASSERT_TRUE(json) << json.error().message();
  // More rows than one DuckDB chunk (2048), so scans and the change stream
  // cross chunks.
  std::vector<entry> batch;
  for (int i = 0; i < 5000; ++i) {
    const std::string id = std::to_string(i * 7919 % 10000 - 5000);
    batch.push_back(entry::put(key(i % 3 == 0 ? "a" : "b c", id),
                               R"({"i":)" + std::to_string(i) +
                                   R"(,"d":1E-7,"ts":"2026-01-01T00:00:00+01:00","later":[)" + std::to_string(i) +
                                   "]}",
                               i % 50 + 1));
  }
  batch.push_back(entry::erase(batch[5].key, 1000));
  ASSERT_TRUE(typed.write(batch));
  ASSERT_TRUE(json.value().write(batch));
  for (const key_range& r : {key_range{}, key_range{key("a", "0"), key("b c", "-100")}}) {
    const auto a = typed.checksum(r);
    const auto b = json.value().checksum(r);
    ASSERT_TRUE(a && b);
    EXPECT_EQ(a.value(), b.value());
    EXPECT_GT(a.value().count, 0u);
  }
  // The same change stream, page by page.
  watermark mark;
  std::size_t seen = 0;
  for (;;) {
    const auto x = typed.changes_after(mark, 700);
    const auto y = json.value().changes_after(mark, 700);
    ASSERT_TRUE(x && y);
    ASSERT_EQ(x.value().size(), y.value().size());
    if (x.value().empty()) break;
    for (std::size_t i = 0; i < x.value().size(); ++i) {
      EXPECT_EQ(x.value()[i].key, y.value()[i].key);
      EXPECT_EQ(x.value()[i].version, y.value()[i].version);
      EXPECT_EQ(x.value()[i].hash, y.value()[i].hash);
      EXPECT_EQ(x.value()[i].tombstone, y.value()[i].tombstone);
    }
    seen += x.value().size();
    mark = {x.value().back().version, x.value().back().key};
  }
  EXPECT_EQ(seen, batch.size() - 1) << "one row per key (the erase replaced a put)";
  // The values themselves differ in text (canonical form), not in hash.
  const auto read = typed.read(batch[0].key).value();
  EXPECT_EQ(read->value, R"({"t":null,"i":0,"b":null,"d":1e-07,"f":null,"ts":"2025-12-31T23:00:00Z",)"
                         R"("day":null,"doc":null,"opt":null,"dflt":"x","later":[0]})");
  EXPECT_EQ(read->hash, batch[0].hash);
  // Rewriting the same batch changes nothing, on either table.
  EXPECT_EQ(typed.write(batch).value(), json.value().write(batch).value());
  EXPECT_EQ(typed.checksum({}).value(), json.value().checksum({}).value());
}

}  // namespace
}  // namespace storesync
