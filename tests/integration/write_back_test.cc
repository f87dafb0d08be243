// Write-back through its configuration and runner (what storesync-writeback
// runs), with a real DuckDB source and a real PostgreSQL sink: the memories
// example into a typed table, ties, late rows, bad rows, dbt gating, a bad
// configuration, and the reverse direction with the same strategy code.
#include "reference_server/write_back_runner.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <filesystem>
#include <string>
#include <vector>

#include <pqxx/pqxx>

#include "reference_server/write_back_config.hpp"
#include "storesync/store/duckdb_instance.hpp"
#include "storesync/store/duckdb_store.hpp"
#include "storesync/store/postgres_store.hpp"
#include "tests/write_back_testing.hpp"

namespace {

using namespace storesync;
using namespace storesync::server;
using namespace storesync::testing;

std::string memories_mapping(const std::string& table) {
  return R"({"table": ")" + table + R"(",
             "key": [{"column": "id", "type": "bigint"}],
             "version": {"column": "updated_at", "type": "timestamptz"},
             "fields": [{"field": "category", "type": "text"},
                        {"field": "strength", "type": "numeric"},
                        {"field": "created_at", "type": "timestamptz"},
                        {"field": "content", "type": "text", "required": true}]})";
}

std::string stage(const std::string& name, const std::string& source_table, const std::string& sink_json,
                  const std::string& extra = "") {
  return R"({"name": ")" + name + R"(", "source": {"table": ")" + source_table +
         R"(", "key": ["id"], "version": "updated_at"}, "sink": )" + sink_json + extra + "}";
}

struct setup {
  pg_tables pg;
  std::string duck_path = temp_dir() + "/" + unique_pg_name("src") + ".duckdb";

  std::string config(const std::vector<std::string>& stages, const std::string& batch = "") const {
    std::string s = R"({"source": "duckdb:)" + duck_path + R"(", "sink": ")" + test_pg_url() + R"(",)" +
                    R"("runs_table": ")" + pg.name("runs") + R"(", "dead_letters_table": ")" + pg.name("dead") + R"(",)";
    if (!batch.empty()) s += R"("batch": )" + batch + ",";
    s += R"("stages": [)";
    for (std::size_t i = 0; i < stages.size(); ++i) s += (i ? "," : "") + stages[i];
    return s + "]}";
  }
  write_back_outcome run(const std::string& config_text, write_back_request req = {}) const {
    auto cfg = parse_write_back_config(config_text);
    EXPECT_TRUE(cfg) << cfg.error().message();
    auto out = run_write_back(cfg.value(), req);
    EXPECT_TRUE(out) << out.error().message();
    return std::move(out).value();
  }
};

const write_back_stage_report& only_stage(const write_back_outcome& o) {
  EXPECT_EQ(o.report.stages.size(), 1u);
  return o.report.stages.at(0);
}

TEST(WriteBackDuckdbPostgres, MemoriesLandOnceThenNothingThenExactlyTheRealChanges) {
  setup t;
  duck(t.duck_path,
       "CREATE TABLE memories AS SELECT i AS id, ['work','home','travel','misc'][1 + i % 4] AS category,"
       " CAST((i % 1000) / 1000.0 AS DECIMAL(6,3)) AS strength,"
       " TIMESTAMP '2026-01-01 00:00:00' + to_seconds(i) AS created_at,"
       " TIMESTAMP '2026-01-01 01:00:00' + to_seconds(i) AS updated_at,"
       " 'memory number ' || i AS content FROM range(200000) t(i)");
  const std::string table = t.pg.name("memories");
  const std::string cfg = t.config({stage("memories", "memories", memories_mapping(table))});

  const auto first = t.run(cfg);
  EXPECT_EQ(first.report.status(), write_back_status::succeeded);
  EXPECT_EQ(only_stage(first).counts.read, 200000u);
  EXPECT_EQ(only_stage(first).counts.applied, 200000u);
  EXPECT_EQ(pg_count("SELECT count(*) FROM public." + table), 200000);
  // Typed columns, exactly as in DuckDB.
  EXPECT_EQ(pg_count("SELECT count(*) FROM public." + table +
                     " WHERE id = 4242 AND category = 'travel' AND strength = 0.242 AND content = 'memory number 4242'"
                     " AND created_at = '2026-01-01 01:10:42+00' AND updated_at = '2026-01-01 02:10:42+00'"),
            1);

  const auto second = t.run(cfg);
  EXPECT_EQ(only_stage(second).counts.read, 0u);
  EXPECT_EQ(only_stage(second).counts.applied, 0u);

  // 1 % really changed; another 1 % only had its version touched.
  duck(t.duck_path,
       "UPDATE memories SET content = content || ' (edited)', updated_at = updated_at + INTERVAL 30 DAY WHERE id % 100 = 0;"
       "UPDATE memories SET updated_at = updated_at + INTERVAL 30 DAY WHERE id % 100 = 1");
  const auto third = t.run(cfg);
  EXPECT_EQ(third.report.status(), write_back_status::succeeded);
  EXPECT_EQ(only_stage(third).counts.read, 4000u);
  EXPECT_EQ(only_stage(third).counts.applied, 2000u);
  EXPECT_EQ(only_stage(third).counts.same_content, 2000u);
  EXPECT_EQ(pg_count("SELECT count(*) FROM public." + table + " WHERE content LIKE '%(edited)'"), 2000);

  // The run log holds the three runs, the last with its counts.
  EXPECT_EQ(pg_count("SELECT count(*) FROM public." + t.pg.name("runs")), 3);
  EXPECT_EQ(pg_count("SELECT count(*) FROM public." + t.pg.name("runs") +
                     " WHERE value->>'status' = 'succeeded' AND (value->'stages'->0->>'written')::int = 2000"
                     " AND (value->'stages'->0->>'unchanged')::int = 2000"),
            1);
}

TEST(WriteBackDuckdbPostgres, RowsSharingOneVersionAreAllWrittenOnceAndLateRowsInTheLookbackArePickedUp) {
  setup t;
  duck(t.duck_path,
       "CREATE TABLE ties AS SELECT i AS id, 'tie ' || i AS content, TIMESTAMP '2026-02-01 00:00:00' AS updated_at"
       " FROM range(5000) t(i)");
  const std::string sink = R"({"table": ")" + t.pg.name("ties") + R"(",
      "key": [{"column": "id", "type": "bigint"}], "version": {"column": "updated_at", "type": "timestamptz"},
      "fields": [{"field": "content", "type": "text"}]})";
  const std::string batch = R"({"min_size": 1000, "max_size": 1000, "initial_size": 1000})";
  const std::string cfg = t.config({stage("ties", "ties", sink, R"(, "lookback_ms": 3600000)")}, batch);
  const auto first = t.run(cfg);
  EXPECT_EQ(only_stage(first).counts.read, 5000u);
  EXPECT_EQ(only_stage(first).counts.applied, 5000u);
  EXPECT_EQ(only_stage(first).batches, 5u);
  EXPECT_EQ(pg_count("SELECT count(*) FROM public." + t.pg.name("ties")), 5000);

  // Committed late: 30 minutes behind the watermark (inside the hour of
  // lookback), and 2 hours behind (outside it: documented as missed).
  duck(t.duck_path,
       "INSERT INTO ties VALUES (90001, 'late', TIMESTAMP '2026-01-31 23:30:00'),"
       " (90002, 'too late', TIMESTAMP '2026-01-31 22:00:00')");
  const auto next = t.run(cfg);
  EXPECT_EQ(only_stage(next).counts.applied, 1u);
  EXPECT_EQ(only_stage(next).counts.unchanged, 5000u);  // re-read, same version, not sent
  EXPECT_EQ(pg_count("SELECT count(*) FROM public." + t.pg.name("ties") + " WHERE id = 90001"), 1);
  EXPECT_EQ(pg_count("SELECT count(*) FROM public." + t.pg.name("ties") + " WHERE id = 90002"), 0);
}

TEST(WriteBackDuckdbPostgres, BadRowsAreDeadLetteredWithTheirReasonAndTheRestIsWritten) {
  setup t;
  duck(t.duck_path,
       "CREATE TABLE m (id BIGINT, score DOUBLE, created_at TIMESTAMP, updated_at TIMESTAMP, content VARCHAR);"
       "INSERT INTO m SELECT i, i / 10, TIMESTAMP '2026-03-01', TIMESTAMP '2026-03-02' + to_seconds(i), 'ok ' || i"
       " FROM range(100) t(i);"
       "INSERT INTO m VALUES (500, 'NaN'::DOUBLE, TIMESTAMP '2026-03-01', TIMESTAMP '2026-03-03', 'nan'),"
       " (501, 'Infinity'::DOUBLE, TIMESTAMP '2026-03-01', TIMESTAMP '2026-03-03', 'inf'),"
       " (502, 1, TIMESTAMP '2026-03-05', TIMESTAMP '2026-03-03', 'updated before created'),"
       " (503, 1, TIMESTAMP '2026-03-01', TIMESTAMP '2026-03-03', ''),"
       " (7, 1, TIMESTAMP '2026-03-01', TIMESTAMP '2026-03-04', 'id 7 again')");
  const std::string sink = R"({"table": ")" + t.pg.name("m") + R"(",
      "key": [{"column": "id", "type": "bigint"}], "version": {"column": "updated_at", "type": "timestamptz"},
      "fields": [{"field": "score", "type": "double_precision"}, {"field": "created_at", "type": "timestamptz"},
                 {"field": "content", "type": "text"}]})";
  const std::string checks = R"(, "checks": {"required": ["content"], "not_before": [["updated_at", "created_at"]]})";
  const auto out = t.run(t.config({stage("m", "m", sink, checks)}));
  const auto& s = only_stage(out);
  EXPECT_EQ(out.report.status(), write_back_status::partial);
  EXPECT_EQ(s.counts.read, 105u);
  EXPECT_EQ(s.counts.applied, 100u);
  EXPECT_EQ(s.counts.dead_lettered, 5u);
  EXPECT_EQ(pg_count("SELECT count(*) FROM public." + t.pg.name("m")), 100);
  EXPECT_EQ(pg_count("SELECT count(*) FROM public." + t.pg.name("m") + " WHERE id = 7 AND content = 'ok 7'"), 1);

  pqxx::connection c(test_pg_url());
  pqxx::nontransaction tx(c);
  std::map<std::string, std::string> why;
  for (const auto& row : tx.exec("SELECT value->>'key', value->>'error' FROM public." + t.pg.name("dead")))
    why[row[0].c_str()] = row[1].c_str();
  ASSERT_EQ(why.size(), 5u);
  for (const auto& [key, reason] : why) EXPECT_NE(reason.find(key), std::string::npos) << key << ": " << reason;
  EXPECT_NE(why["502"].find("earlier than"), std::string::npos) << why["502"];
  EXPECT_NE(why["503"].find("is empty"), std::string::npos) << why["503"];
  EXPECT_NE(why["7"].find("duplicate key"), std::string::npos) << why["7"];
  EXPECT_FALSE(why["500"].empty());
  EXPECT_FALSE(why["501"].empty());
}

TEST(WriteBackDuckdbPostgres, DbtGatesStagesAndABadConfigNamesTheFieldAndTouchesNothing) {
  setup t;
  duck(t.duck_path,
       "CREATE TABLE a AS SELECT i AS id, 'a' || i AS content, TIMESTAMP '2026-04-01' + to_seconds(i) AS updated_at"
       " FROM range(10) t(i);"
       "CREATE TABLE b AS SELECT * FROM a");
  const auto sink = [&](const std::string& n) {
    return R"({"table": ")" + t.pg.name(n) + R"(", "key": [{"column": "id", "type": "bigint"}],
               "version": {"column": "updated_at", "type": "timestamptz"}, "fields": [{"field": "content", "type": "text"}]})";
  };
  const std::string cfg = t.config({stage("a", "a", sink("a")), stage("b", "b", sink("b"), R"(, "dbt_model": "model_b")")});
  auto dbt = parse_dbt_run_results(R"({"metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/run-results/v5.json"},
      "results": [{"unique_id": "model.proj.a", "status": "error", "message": "Database Error in model a"},
                  {"unique_id": "model.proj.model_b", "status": "success", "message": null}], "elapsed_time": 1.5})");
  ASSERT_TRUE(dbt) << dbt.error().message();
  const auto out = t.run(cfg, {.dbt = &dbt.value()});
  ASSERT_EQ(out.report.stages.size(), 1u);
  EXPECT_EQ(out.report.stages[0].stage, "b");
  EXPECT_EQ(out.report.stages[0].counts.applied, 10u);
  ASSERT_EQ(out.skipped.size(), 1u);
  EXPECT_EQ(out.skipped[0].first, "a");
  EXPECT_NE(out.skipped[0].second.find("error"), std::string::npos) << out.skipped[0].second;
  EXPECT_EQ(pg_count("SELECT count(*) FROM pg_tables WHERE tablename = '" + t.pg.name("a") + "'"), 0);

  // A wrong member: refused before anything is opened.
  std::string bad = cfg;
  bad.replace(bad.find(R"("type": "text")"), 14, R"("type": "txt")");
  auto refused = parse_write_back_config(bad);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message().find("stages[0].sink"), std::string::npos) << refused.error().message();
  EXPECT_NE(refused.error().message().find("txt"), std::string::npos) << refused.error().message();
}

// PostgreSQL -> DuckDB (for analytics) with the same strategy: a typed
// PostgreSQL table read as a change source lands in a typed DuckDB table,
// and both hold the same rows (checksums equal).
TEST(WriteBackDuckdbPostgres, TheReverseDirectionUsesTheSameStrategy) {
  pg_tables pg;
  const std::string table = pg.name("src");
  table_mapping m;
  m.key = {{"id", column_type::bigint}};
  m.version_column = "updated_at";
  m.version_type = version_column_type::timestamptz;
  m.fields = {{.field = "content", .type = column_type::text}, {.field = "n", .type = column_type::integer}};
  auto source = postgres_store::open({.url = test_pg_url(), .table = table, .mapping = m});
  ASSERT_TRUE(source) << source.error().message();
  std::vector<entry> rows;
  for (int i = 0; i < 3000; ++i)
    rows.push_back(entry::put(encode_key(m, {std::to_string(i)}).value(),
                              R"({"content":"row )" + std::to_string(i) + R"(","n":)" + std::to_string(i) + "}",
                              1'767'225'600'000'000 + i * 1000));
  ASSERT_TRUE(source.value().write(rows));

  auto db = duckdb_instance::open({.path = temp_dir() + "/" + unique_pg_name("rev") + ".duckdb"});
  ASSERT_TRUE(db);
  auto sink = duckdb_store::open(db.value(), {.table = "analytics", .mapping = m});
  ASSERT_TRUE(sink) << sink.error().message();
  auto runs = duckdb_store::open(db.value(), {.table = "runs"});
  auto letters = duckdb_store::open(db.value(), {.table = "dead"});
  ASSERT_TRUE(runs && letters);
  write_back<postgres_store, duckdb_store, duckdb_store> wb(runs.value(), letters.value());
  std::vector<decltype(wb)::stage> stages{{.name = "to_analytics", .source = source.value(), .sink = sink.value()}};
  auto report = wb.run(stages);
  ASSERT_TRUE(report) << report.error().message();
  EXPECT_EQ(report.value().status(), write_back_status::succeeded);
  EXPECT_EQ(report.value().stages[0].counts.applied, 3000u);
  EXPECT_EQ(source.value().checksum({}).value(), sink.value().checksum({}).value());
  auto again = wb.run(stages);
  ASSERT_TRUE(again);
  EXPECT_EQ(again.value().stages[0].counts.read, 0u);
}

}  // namespace
