// Write-behind into a table of your own: per-profile scores that a fast
// store holds as strings land as integers in a PostgreSQL `scores` table
// keyed by (community_id, profile_id), which other services query directly.
// Built and run as a test (//examples:typed_table_test) against the
// PostgreSQL that scripts/test.sh starts ($STORESYNC_TEST_PG_URL).
#include "examples/example_support.hpp"

#include <storesync/storesync.hpp>
#include <storesync/store/postgres_store.hpp>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>
#include <system_error>

#include <pqxx/pqxx>

using example::fail;

int main() {
  using namespace storesync;
  using namespace std::chrono_literals;
  const char* url = std::getenv("STORESYNC_TEST_PG_URL");
  if (url == nullptr) return fail("STORESYNC_TEST_PG_URL", "not set; run scripts/test.sh");
  const example::temp_dir dir("typed_table");
  if (dir.path.empty()) return fail("mkdtemp", "no scratch directory");
  const std::string table = "scores_" + dir.path.filename().string().substr(std::string("typed_table.").size());

  // [mapping]
  table_mapping scores;
  scores.key = {{"community_id", column_type::bigint}, {"profile_id", column_type::bigint}};
  scores.version_column = "version";
  scores.fields = {
      // The fast store holds "17"; the column holds 17. Nothing else is coerced.
      {.field = "score", .type = column_type::integer, .required = true, .from_string = true},
      {.field = "best", .type = column_type::integer},
      {.field = "updated", .column = "updated_at", .type = column_type::timestamptz},
  };
  postgres_config cfg;
  cfg.url = url;
  cfg.table = table;
  cfg.mapping = scores;  // created with its indexes and storesync's columns when missing
  // [mapping]

  auto pg = postgres_store::open(cfg);
  if (!pg) return fail("opening the scores table", pg.error().message());
  memory_store fast;
  auto wb = memory_write_behind<postgres_store>::open(fast, pg.value(), {.directory = dir.path.string()});
  if (!wb) return fail("opening write-behind", wb.error().message());

  // [write]
  // Community 7, profile 42: the key encodes both columns, in order.
  const auto key = encode_key(scores, {"7", "42"});
  if (!key) return fail("encoding the key", key.error().message());
  auto put = wb.value()->put(entry::put(key.value(), R"({"score":"17","best":21,"updated":"2026-01-02T03:04:05+01:00"})", 1));
  if (!put) return fail("put", put.error().message());
  // What the table cannot hold is refused before it is acknowledged, naming the field.
  auto refused = wb.value()->put(entry::put(key.value(), R"({"score":"seventeen"})", 2));
  if (refused || refused.error() != condition::invalid_input) return fail("refusal", "a bad score was acknowledged");
  std::cout << refused.error().message() << '\n';
  // [write]

  auto flushed = wb.value()->flush(60s);
  if (!flushed || !flushed.value().complete) return fail("flush", "not everything reached PostgreSQL");

  // The row as any SQL client sees it.
  pqxx::connection c(url);
  pqxx::nontransaction tx(c);
  const pqxx::result rows = tx.exec(
      "SELECT community_id, profile_id, score, best, updated_at = '2026-01-02 02:04:05+00' FROM " +
      tx.quote_name(table) + " WHERE NOT storesync_deleted");
  if (rows.size() != 1 || rows[0][0].as<long>() != 7 || rows[0][1].as<long>() != 42 || rows[0][2].as<int>() != 17 ||
      rows[0][3].as<int>() != 21 || !rows[0][4].as<bool>())
    return fail("the scores row", "not (7, 42, 17, 21, 2026-01-02T02:04:05Z)");

  // Read from PostgreSQL, the value comes back in canonical form.
  const auto row = pg.value().read(key.value());
  if (!row || !row.value() || row.value()->value != R"({"score":17,"best":21,"updated":"2026-01-02T02:04:05Z"})")
    return fail("reading back", row && row.value() ? row.value()->value : "nothing");
  std::cout << "scores(7, 42) = " << row.value()->value << '\n';

  wb.value().reset();
  tx.exec("DROP TABLE " + tx.quote_name(table) + ", " + tx.quote_name(table + "_checkpoints"));
  return 0;
}
