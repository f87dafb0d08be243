// Write-back: the result of a DuckDB transformation lands in a SQLite table
// incrementally. The first run writes every row, a second run writes
// nothing, a third writes exactly the rows whose content changed, and a row
// no check lets through becomes a dead letter with its reason.
// docs/write-back.md walks through it.
#include <cstdio>
#include <string>
#include <vector>

#include "example_support.hpp"
#include "storesync/store/duckdb_instance.hpp"
#include "storesync/store/duckdb_query_source.hpp"
#include "storesync/store/sqlite_store.hpp"
#include "storesync/strategy/write_back.hpp"

using namespace storesync;
using example::fail;

namespace {

// Runs SQL in DuckDB (the analytical side: a dbt model, a notebook, ...).
bool sql(duckdb_instance& db, const char* text) {
  duckdb_connection c = nullptr;
  duckdb_result r;
  const bool ok = duckdb_connect(db.native(), &c) == DuckDBSuccess && duckdb_query(c, text, &r) == DuckDBSuccess;
  if (!ok) std::fprintf(stderr, "%s\n", duckdb_result_error(&r));
  duckdb_destroy_result(&r);
  duckdb_disconnect(&c);
  return ok;
}

void print(const write_back_report& r) {
  for (const auto& s : r.stages)
    std::printf("%s: read %zu, written %zu, unchanged %zu, dead letters %zu, watermark %s\n", s.stage.c_str(),
                s.counts.read, s.counts.applied, s.counts.unchanged + s.counts.same_content, s.counts.dead_lettered,
                encode_watermark(s.to).c_str());
}

}  // namespace

int main() {
  example::temp_dir dir("write_back");
  if (dir.path.empty()) return fail("temp dir", "cannot create one");

  // The source: customer scores computed in DuckDB.
  auto db = duckdb_instance::open({.path = (dir.path / "analytics.duckdb").string()});
  if (!db) return fail("opening DuckDB", db.error().message());
  if (!sql(*db.value(), "CREATE TABLE scores AS SELECT 'customer:' || i AS id, i % 7 AS tier, i * 1.5 AS score,"
                        " 100 + i AS rev FROM range(1000) t(i)"))
    return 1;
  // The query write-back reads: key, value (JSON) and version columns.
  auto source = duckdb_query_source::open(
      db.value(), "SELECT id AS key, to_json({'tier': tier, 'score': score}) AS value, rev AS version FROM scores");
  if (!source) return fail("opening the query", source.error().message());

  // The sink, its run log and its dead letters: SQLite tables in one file.
  const std::string file = (dir.path / "app.db").string();
  auto sink = sqlite_store::open({.path = file, .table = "scores"});
  auto runs = sqlite_store::open({.path = file, .table = "write_back_runs"});
  auto letters = sqlite_store::open({.path = file, .table = "write_back_dead_letters"});
  if (!sink || !runs || !letters) return fail("opening SQLite", "sink, run log or dead letters");

  write_back<duckdb_query_source, sqlite_store, sqlite_store> wb(runs.value(), letters.value());
  std::vector<decltype(wb)::stage> stages{
      {.name = "scores",
       .source = source.value(),
       .sink = sink.value(),
       .options = {.checks = {checks::required_fields({"tier", "score"})}}}};

  // 1. Everything lands; 2. nothing changed, nothing is written.
  for (int i = 0; i < 2; ++i) {
    auto r = wb.run(stages);
    if (!r) return fail("run", r.error().message());
    print(r.value());
  }

  // 3. Ten rows really change; ten more get a new version but the same
  // content; one loses its score.
  if (!sql(*db.value(), "UPDATE scores SET score = score + 1, rev = rev + 10000 WHERE tier = 0 AND rev < 170;"
                        "UPDATE scores SET rev = rev + 10000 WHERE tier = 1 AND rev < 170;"
                        "UPDATE scores SET score = NULL, rev = rev + 10000 WHERE id = 'customer:999'"))
    return 1;
  auto third = wb.run(stages);
  if (!third) return fail("run", third.error().message());
  print(third.value());
  const transfer_report& c = third.value().stages[0].counts;
  if (c.applied != 10 || c.same_content != 10 || c.dead_lettered != 1)
    return fail("third run", "expected 10 written, 10 unchanged and 1 dead letter");

  auto dead = wb.dead_letters(10);
  if (!dead || dead.value().size() != 1) return fail("dead letters", "expected one");
  std::printf("dead letter: %s\n", dead.value()[0].error.c_str());
  std::printf("status: %s\n", std::string(to_string(third.value().status())).c_str());
  return 0;
}
