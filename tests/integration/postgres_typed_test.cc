// postgres_store on a typed table (a table_mapping) against a real
// PostgreSQL: every column type round trips with its edge values, every
// conversion failure is refused naming the field and writes nothing, an
// existing table of the wrong shape is refused naming every mismatch, and a
// typed table's checksums equal a JSON SQLite table's holding the same
// entries. The conformance suite runs on typed tables too
// (tests/conformance/postgres_store_conformance_test.cc).
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include <pqxx/pqxx>

#include "storesync/store/postgres_store.hpp"
#include "storesync/store/sqlite_store.hpp"
#include "storesync/store/table_mapping_json.hpp"
#include "storesync/strategy/write_behind.hpp"
#include "tests/integration/pg_scratch.hpp"
#include "tests/integration/typed_tables.hpp"

namespace storesync {
namespace {

using testing::count_rows;
using testing::open_ok;
using testing::scratch_table;
using testing::every_type;
constexpr auto key = testing::typed_key;

postgres_config typed_config(const scratch_table& t, table_mapping m) {
  auto cfg = t.config();
  cfg.mapping = std::move(m);
  return cfg;
}

pqxx::row select_one(const std::string& sql) {
  pqxx::connection c(testing::test_pg_url());
  pqxx::nontransaction tx(c);
  return tx.exec(sql)[0];
}

TEST(PostgresTyped, EveryColumnTypeRoundTripsWithEdgeValues) {
  scratch_table t("typed_all");
  auto store = open_ok(typed_config(t, every_type()));
  const entry e = testing::edge_values_entry();
  ASSERT_TRUE(store.write(std::span(&e, 1)));

  const auto got = store.read(e.key).value();
  ASSERT_TRUE(got);
  EXPECT_EQ(got->version, 7);
  EXPECT_EQ(got->hash, e.hash) << "the content hash is the written value's";
  EXPECT_EQ(got->value,
            R"({"t":"Ada \"q\" \\ é","i":-2147483648,"b":9223372036854775807,)"
            R"("n":123456789012345678901234567890.000000010,"d":-0,"f":false,)"
            R"("ts":"2026-03-03T23:36:07.5Z","day":"2024-02-29","doc":{"a": [1, {"b": null}]},)"
            R"("opt":null,"dflt":"given","later":"kept"})");

  // The columns are really typed, and hold the values themselves.
  const pqxx::row r = select_one(
      "SELECT tenant, id, i, b, n::text, d::text, f, \"happened at\" = '2026-03-03 23:36:07.5+00',"
      " day::text, doc->'a'->>0, opt IS NULL, extra->>'later', storesync_deleted FROM " + t.qualified(t.table));
  EXPECT_EQ(r[0].as<std::string>(), "acme corp");
  EXPECT_EQ(r[1].as<std::int64_t>(), -42);
  EXPECT_EQ(r[2].as<std::int64_t>(), -2147483648LL);
  EXPECT_EQ(r[3].as<std::int64_t>(), 9223372036854775807LL);
  EXPECT_EQ(r[4].as<std::string>(), "123456789012345678901234567890.000000010");
  EXPECT_EQ(r[5].as<std::string>(), "-0");
  EXPECT_FALSE(r[6].as<bool>());
  EXPECT_TRUE(r[7].as<bool>());
  EXPECT_EQ(r[8].as<std::string>(), "2024-02-29");
  EXPECT_EQ(r[9].as<std::string>(), "1");
  EXPECT_TRUE(r[10].as<bool>());
  EXPECT_EQ(r[11].as<std::string>(), "kept");
  EXPECT_FALSE(r[12].as<bool>());
}

TEST(PostgresTyped, NullAMissingFieldAndADefaultAreDistinct) {
  scratch_table t("typed_null");
  auto store = open_ok(typed_config(t, every_type()));
  // Missing "dflt" takes the default; an explicit null stays NULL; other
  // missing optional fields are NULL.
  const std::vector<entry> batch = {entry::put(key("a", "1"), R"({"t":null})", 1),
                                    entry::put(key("a", "2"), R"({"dflt":null})", 1)};
  ASSERT_TRUE(store.write(batch));
  EXPECT_EQ(store.read(batch[0].key).value()->value,
            R"({"t":null,"i":null,"b":null,"n":null,"d":null,"f":null,"ts":null,"day":null,)"
            R"("doc":null,"opt":null,"dflt":"x"})");
  EXPECT_EQ(store.read(batch[1].key).value()->value,
            R"({"t":null,"i":null,"b":null,"n":null,"d":null,"f":null,"ts":null,"day":null,)"
            R"("doc":null,"opt":null,"dflt":null})");
  EXPECT_EQ(count_rows(t.qualified(t.table), "dflt IS NULL"), 1);
}

TEST(PostgresTyped, EveryConversionFailureNamesTheFieldAndWritesNothing) {
  scratch_table t("typed_refuse");
  auto store = open_ok(typed_config(t, every_type()));
  const entry good = entry::put(key("a", "1"), R"({"i":1})", 1);
  std::vector<testing::refused_value> cases = testing::conversion_failures();
  // What PostgreSQL cannot hold is refused by the store's rules first.
  cases.push_back({R"({"t":"a\u0000b"})", "breaks a rule"});
  cases.push_back({R"({"doc":{"x":"\u0000"}})", "breaks a rule"});
  for (const testing::refused_value& c : cases) {
    const std::vector<entry> batch = {good, entry::put(key("a", "2"), c.value, 1)};
    const auto w = store.write(batch);
    ASSERT_FALSE(w) << c.value;
    EXPECT_EQ(w.error(), condition::invalid_input) << c.value;
    EXPECT_NE(w.error().message().find(c.names), std::string::npos) << w.error().message();
    EXPECT_NE(w.error().message().find(batch[1].key), std::string::npos) << w.error().message();
    const auto admitted = store.admits(batch[1]);
    ASSERT_FALSE(admitted) << c.value;
    EXPECT_EQ(admitted.error().message(), w.error().message());
  }
  // A key that is not the encoding of (text, bigint).
  const entry stray = entry::put("a 12", R"({"i":1})", 1);
  const auto w = store.write(std::span(&stray, 1));
  ASSERT_FALSE(w);
  EXPECT_NE(w.error().message().find(R"(key column "id")"), std::string::npos) << w.error().message();
  // An entry that no COPY line carries (an older version of a key the batch
  // writes again) is checked as well.
  const std::vector<entry> hidden = {entry::put(key("a", "1"), R"({"i":2})", 2),
                                     entry::put(key("a", "1"), R"({"i":"x"})", 1)};
  const auto h = store.write(hidden);
  ASSERT_FALSE(h);
  EXPECT_NE(h.error().message().find(R"(field "i")"), std::string::npos) << h.error().message();
  EXPECT_EQ(count_rows(t.qualified(t.table)), 0) << "a refused batch wrote something";
  // The connections that carried the refused batches still write.
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(store.write(std::span(&good, 1)));
  EXPECT_EQ(count_rows(t.qualified(t.table)), 1);
}

TEST(PostgresTyped, AnExistingTableOfAnotherShapeIsRefusedNamingEveryMismatch) {
  scratch_table t("typed_shape");
  {
    pqxx::connection c(testing::test_pg_url());
    pqxx::nontransaction tx(c);
    tx.exec("CREATE SCHEMA IF NOT EXISTS " + detail::pg_quote_ident(t.schema));
    tx.exec("CREATE TABLE " + t.qualified(t.table) +
            " (tenant text NOT NULL, id bigint NOT NULL, storesync_key text COLLATE \"C\" NOT NULL UNIQUE,"
            " version bigint NOT NULL, storesync_hash_lo bigint NOT NULL, storesync_hash_hi bigint NOT NULL,"
            " storesync_row_hash bigint NOT NULL, storesync_deleted boolean NOT NULL,"
            " t text, i text, b bigint NOT NULL, n numeric(10,2), d double precision, f boolean,"
            " \"happened at\" timestamp, day date, doc jsonb, opt integer, dflt text, extra jsonb,"
            " PRIMARY KEY (tenant, id))");
  }
  const auto opened = postgres_store::open(typed_config(t, every_type()));
  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.error(), errc::schema_mismatch);
  const std::string m = opened.error().message();
  EXPECT_NE(m.find(R"(column "i" has type text; storesync needs integer)"), std::string::npos) << m;
  EXPECT_NE(m.find(R"(column "b" is NOT NULL; a deleted key's row holds NULL there)"), std::string::npos) << m;
  EXPECT_NE(m.find(R"(column "n" has type numeric(10,2); storesync needs numeric)"), std::string::npos) << m;
  EXPECT_NE(m.find(R"(column "happened at" has type timestamp without time zone)"), std::string::npos) << m;
}

TEST(PostgresTyped, StoresyncColumnsAreAddedToAnEmptyTableOfTheUsersAndNeverToAFullOne) {
  table_mapping m;
  m.key = {{"community_id", column_type::bigint}, {"profile_id", column_type::bigint}};
  m.fields = {{.field = "score", .type = column_type::integer, .required = true}};
  for (const bool full : {false, true}) {
    scratch_table t(full ? "typed_full" : "typed_empty");
    {
      pqxx::connection c(testing::test_pg_url());
      pqxx::nontransaction tx(c);
      tx.exec("CREATE SCHEMA IF NOT EXISTS " + detail::pg_quote_ident(t.schema));
      tx.exec("CREATE TABLE " + t.qualified(t.table) +
              " (community_id bigint, profile_id bigint, score integer, version bigint NOT NULL,"
              " PRIMARY KEY (community_id, profile_id))");
      if (full) tx.exec("INSERT INTO " + t.qualified(t.table) + " VALUES (1, 2, 3, 4)");
    }
    auto opened = postgres_store::open(typed_config(t, m));
    if (full) {
      ASSERT_FALSE(opened);
      EXPECT_EQ(opened.error(), errc::schema_mismatch);
      EXPECT_NE(opened.error().message().find("holds rows but lacks storesync's column"), std::string::npos)
          << opened.error().message();
      EXPECT_EQ(count_rows(t.qualified(t.table)), 1);
      continue;
    }
    ASSERT_TRUE(opened) << opened.error().message();
    auto store = std::move(opened).value();
    const entry e = entry::put(encode_key(m, {"7", "42"}).value(), R"({"score":10})", 3);
    ASSERT_TRUE(store.write(std::span(&e, 1)));
    EXPECT_EQ(count_rows(t.qualified(t.table), "community_id = 7 AND profile_id = 42 AND score = 10"), 1);
  }
}

// Each index costs every write: a table storesync creates has the key
// columns' primary key, one unique index on the entry key and the version
// index, and no twin of any.
TEST(PostgresTyped, ACreatedTableHasOneIndexPerPurpose) {
  scratch_table t("typed_indexes");
  table_mapping m;
  m.key = {{"id", column_type::bigint}};
  m.fields = {{.field = "score", .type = column_type::integer}};
  auto store = open_ok(typed_config(t, m));
  pqxx::connection c(testing::test_pg_url());
  pqxx::nontransaction tx(c);
  const pqxx::result r = tx.exec_params(
      "SELECT indexdef FROM pg_indexes WHERE schemaname = $1 AND tablename = $2 ORDER BY indexdef", t.schema,
      t.table);
  std::vector<std::string> found;
  for (const auto& row : r) {
    const std::string def = row[0].as<std::string>();
    found.push_back(def.substr(def.find(" USING ")));
  }
  std::sort(found.begin(), found.end());
  EXPECT_EQ(found, (std::vector<std::string>{" USING btree (id)", " USING btree (storesync_key)",
                                             " USING btree (version, storesync_key)"}));
}

TEST(PostgresTyped, ATimestamptzVersionHoldsMicrosecondsSinceTheEpoch) {
  table_mapping m = every_type();
  m.version_column = "changed_at";
  m.version_type = version_column_type::timestamptz;
  scratch_table t("typed_time");
  auto store = open_ok(typed_config(t, m));
  // 2026-01-02T02:04:05.123456Z, and 9999-12-31T23:59:59.999999Z, the last
  // a timestamptz version holds; one microsecond later is refused.
  constexpr version_type last = 253'402'300'799'999'999;
  const std::vector<entry> batch = {entry::put(key("a", "1"), "{}", 1'767'319'445'123'456),
                                    entry::put(key("a", "2"), "{}", last)};
  ASSERT_TRUE(store.write(batch));
  EXPECT_EQ(count_rows(t.qualified(t.table), "changed_at = '2026-01-02 02:04:05.123456+00'"), 1);
  EXPECT_EQ(count_rows(t.qualified(t.table), "changed_at = '9999-12-31 23:59:59.999999+00'"), 1);
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
  // A table keyed by one text column has the same timestamptz version column.
  table_mapping by_name;
  by_name.key = {{"name", column_type::text}};
  by_name.version_type = version_column_type::timestamptz;
  scratch_table named("typed_time_text_key");
  auto named_store = open_ok(typed_config(named, by_name));
  const entry ada = entry::put("ada", "{}", batch[0].version);
  ASSERT_TRUE(named_store.write(std::span(&ada, 1)));
  EXPECT_EQ(count_rows(named.qualified(named.table), "version = '2026-01-02 02:04:05.123456+00'"), 1);
  EXPECT_EQ(named_store.read("ada").value()->version, batch[0].version);
}

TEST(PostgresTyped, ChecksumsAgreeWithAJsonSqliteTableHoldingTheSameEntries) {
  scratch_table t("typed_sum");
  auto typed = open_ok(typed_config(t, every_type()));
  const auto dir = std::filesystem::temp_directory_path() / testing::unique_pg_name("typed_sum");
  std::filesystem::create_directories(dir);
  auto json = sqlite_store::open({.path = (dir / "db.sqlite").string()});
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
  // The values themselves differ in text (canonical form), not in hash.
  const auto read = typed.read(batch[0].key).value();
  EXPECT_NE(read->value, batch[0].value);
  EXPECT_EQ(read->hash, batch[0].hash);
  std::filesystem::remove_all(dir);
}

TEST(PostgresTyped, AMappingFromJsonOpensTheSameTable) {
  scratch_table t("typed_json");
  const auto parsed = parse_typed_table(nlohmann::json::parse(R"({
      "table": "ignored here", "key": [{"column": "community_id", "type": "bigint"},
                                        {"column": "profile_id", "type": "bigint"}],
      "fields": [{"field": "score", "type": "integer", "required": true, "from_string": true}]})"));
  ASSERT_TRUE(parsed) << parsed.error().message();
  auto store = open_ok(typed_config(t, parsed.value().mapping));
  const entry e = entry::put(encode_key(parsed.value().mapping, {"1", "2"}).value(), R"({"score":"17"})", 1);
  ASSERT_TRUE(store.write(std::span(&e, 1)));
  EXPECT_EQ(store.read(e.key).value()->value, R"({"score":17})");
  EXPECT_EQ(count_rows(t.qualified(t.table), "score = 17"), 1);
}

TEST(PostgresTyped, WriteBehindRefusesAtTheDoorWhatTheTypedTableCannotHold) {
  table_mapping m;
  m.key = {{"community_id", column_type::bigint}, {"profile_id", column_type::bigint}};
  m.fields = {{.field = "score", .type = column_type::integer, .required = true}};
  scratch_table t("typed_door");
  auto slow = open_ok(typed_config(t, m));
  memory_store fast;
  const auto dir = std::filesystem::temp_directory_path() / testing::unique_pg_name("typed_door");
  auto wb = memory_write_behind<postgres_store>::open(fast, slow, {.directory = dir.string()});
  ASSERT_TRUE(wb) << wb.error().message();
  const std::string k = encode_key(m, {"1", "2"}).value();
  const auto refused = wb.value()->put(entry::put(k, R"({"score":"high"})", 1));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error(), condition::invalid_input);
  EXPECT_NE(refused.error().message().find(R"(field "score")"), std::string::npos) << refused.error().message();
  EXPECT_FALSE(fast.read(k).value()) << "a refused put reached the fast store";
  ASSERT_TRUE(wb.value()->put(entry::put(k, R"({"score":3})", 2)));
  ASSERT_TRUE(wb.value()->flush(std::chrono::minutes(5)).value().complete);
  EXPECT_EQ(count_rows(t.qualified(t.table), "community_id = 1 AND profile_id = 2 AND score = 3"), 1);
  wb.value().reset();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace storesync
