// The write-back configuration as storesync-writeback and the reference
// server read it:
// - a full configuration (DuckDB table and query stages, a PostgreSQL sink
//   with a typed mapping, checks, batch, retry, tables) parses to exactly
//   the values written, and the defaults stand where members are absent;
// - parse_endpoint knows duckdb:, sqlite:, postgresql:// and postgres://,
//   and names its `what` when it refuses;
// - every wrong member is refused with invalid_argument naming its path;
// - hostile text (deep, huge, not UTF-8, NUL, truncated, out-of-range
//   numbers, wrong top level) is refused without a throw;
// - load_write_back_config names the path, and reads what parsing reads.
#include "reference_server/write_back_config.hpp"
#include "tests/refusal_testing.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <system_error>

#include "storesync/store/table_mapping.hpp"

namespace {

using storesync::column_type;
using storesync::errc;
using storesync::table_mapping;
using storesync::version_column_type;
using storesync::server::load_write_back_config;
using storesync::server::parse_endpoint;
using storesync::server::parse_write_back_config;
using storesync::server::write_back_config;
using storesync::server::write_back_endpoint;

static_assert(storesync::server::max_write_back_config_size == 1024u * 1024);
static_assert(storesync::server::max_write_back_config_depth == 32);

// Every member the format has, most of them away from their defaults.
constexpr std::string_view valid_config = R"json({
  "source": "duckdb:/data/analytics.duckdb",
  "sink": "postgresql://app@db.internal:5432/app?sslmode=require",
  "stages": [
    {
      "name": "memories",
      "source": {"table": "memories", "key": ["id"], "version": "updated_at",
                 "value": ["content", "created_at", "score"]},
      "sink": {"schema": "public", "table": "memories",
               "key": [{"column": "id", "type": "bigint"}],
               "version": {"column": "updated_at", "type": "timestamptz"},
               "fields": [{"field": "content", "type": "text", "required": true},
                          {"field": "created_at", "type": "timestamptz"},
                          {"field": "score", "column": "score_value", "type": "integer", "default": 0, "round": true}]},
      "lookback_ms": 600000,
      "checks": {"required": ["content"], "not_before": [["updated_at", "created_at"]]},
      "dbt_model": "stg_memories"
    },
    {
      "name": "scores",
      "source": {"query": "SELECT id::VARCHAR AS key, to_json(s) AS value, epoch_us(updated_at) AS version FROM scores s"},
      "sink": {"table": "scores_json"},
      "lookback": 5000
    }
  ],
  "batch": {"min_size": 10, "initial_size": 1000, "max_size": 10000, "target_duration_ms": 250},
  "retry": {"base_ms": 50, "cap_ms": 2000, "max_attempts": 6, "max_elapsed_ms": 60000, "seed": 42},
  "runs_table": "wb_runs",
  "dead_letters_table": "wb_dead_letters",
  "duckdb_memory_limit": "1GB"
})json";

// A SQLite source: its stages read storesync tables, not queries.
constexpr std::string_view sqlite_config = R"json({
  "source": "sqlite:/data/app.db",
  "sink": "duckdb:/data/mirror.duckdb",
  "stages": [
    {"name": "memories", "source": {"table": "memories"}, "sink": {"table": "memories"}},
    {"name": "scores", "source": {"schema": "main", "table": "scores"}, "sink": {"table": "scores"}}
  ]
})json";

using storesync::testing::with;

storesync::result<write_back_config> parsed(std::string_view text) { return storesync::testing::parsed_by(parse_write_back_config, text); }
std::string refusal(std::string_view text) { return storesync::testing::refusal_of(parsed(text)); }

void expect_same_mapping(const table_mapping& a, const table_mapping& b) {
  ASSERT_EQ(a.key.size(), b.key.size());
  for (std::size_t i = 0; i < a.key.size(); ++i) {
    EXPECT_EQ(a.key[i].column, b.key[i].column);
    EXPECT_EQ(a.key[i].type, b.key[i].type);
  }
  EXPECT_EQ(a.version_column, b.version_column);
  EXPECT_EQ(a.version_type, b.version_type);
  ASSERT_EQ(a.fields.size(), b.fields.size());
  for (std::size_t i = 0; i < a.fields.size(); ++i) {
    EXPECT_EQ(a.fields[i].field, b.fields[i].field);
    EXPECT_EQ(a.fields[i].column, b.fields[i].column);
    EXPECT_EQ(a.fields[i].type, b.fields[i].type);
    EXPECT_EQ(a.fields[i].required, b.fields[i].required);
    EXPECT_EQ(a.fields[i].default_value, b.fields[i].default_value);
    EXPECT_EQ(a.fields[i].round, b.fields[i].round);
    EXPECT_EQ(a.fields[i].from_string, b.fields[i].from_string);
  }
  EXPECT_EQ(a.rest_column, b.rest_column);
  EXPECT_EQ(a.metadata.key, b.metadata.key);
  EXPECT_EQ(a.metadata.hash_lo, b.metadata.hash_lo);
  EXPECT_EQ(a.metadata.hash_hi, b.metadata.hash_hi);
  EXPECT_EQ(a.metadata.row_hash, b.metadata.row_hash);
  EXPECT_EQ(a.metadata.deleted, b.metadata.deleted);
}

/// Every member of `a` equals `b`'s.
void expect_same(const write_back_config& a, const write_back_config& b) {
  EXPECT_EQ(a.source.type, b.source.type);
  EXPECT_EQ(a.source.location, b.source.location);
  EXPECT_EQ(a.sink.type, b.sink.type);
  EXPECT_EQ(a.sink.location, b.sink.location);
  ASSERT_EQ(a.stages.size(), b.stages.size());
  for (std::size_t i = 0; i < a.stages.size(); ++i) {
    SCOPED_TRACE(i);
    const auto& x = a.stages[i];
    const auto& y = b.stages[i];
    EXPECT_EQ(x.name, y.name);
    EXPECT_EQ(x.source.query, y.source.query);
    EXPECT_EQ(x.source.schema, y.source.schema);
    EXPECT_EQ(x.source.table, y.source.table);
    EXPECT_EQ(x.source.key, y.source.key);
    EXPECT_EQ(x.source.version, y.source.version);
    EXPECT_EQ(x.source.value, y.source.value);
    ASSERT_EQ(x.source.mapping.has_value(), y.source.mapping.has_value());
    if (x.source.mapping) expect_same_mapping(*x.source.mapping, *y.source.mapping);
    EXPECT_EQ(x.sink.schema, y.sink.schema);
    EXPECT_EQ(x.sink.table, y.sink.table);
    ASSERT_EQ(x.sink.mapping.has_value(), y.sink.mapping.has_value());
    if (x.sink.mapping) expect_same_mapping(*x.sink.mapping, *y.sink.mapping);
    EXPECT_EQ(x.lookback, y.lookback);
    EXPECT_EQ(x.required, y.required);
    EXPECT_EQ(x.not_before, y.not_before);
    EXPECT_EQ(x.dbt_model, y.dbt_model);
  }
  EXPECT_EQ(a.batch.min_size, b.batch.min_size);
  EXPECT_EQ(a.batch.max_size, b.batch.max_size);
  EXPECT_EQ(a.batch.initial_size, b.batch.initial_size);
  EXPECT_EQ(a.batch.target_duration, b.batch.target_duration);
  EXPECT_EQ(a.batch.failure_rate_threshold, b.batch.failure_rate_threshold);
  EXPECT_EQ(a.batch.additive_step, b.batch.additive_step);
  EXPECT_EQ(a.batch.multiplicative_decrease, b.batch.multiplicative_decrease);
  EXPECT_EQ(a.retry.base, b.retry.base);
  EXPECT_EQ(a.retry.cap, b.retry.cap);
  EXPECT_EQ(a.retry.max_attempts, b.retry.max_attempts);
  EXPECT_EQ(a.retry.max_elapsed, b.retry.max_elapsed);
  EXPECT_EQ(a.retry.seed, b.retry.seed);
  EXPECT_EQ(a.runs_table, b.runs_table);
  EXPECT_EQ(a.dead_letters_table, b.dead_letters_table);
  EXPECT_EQ(a.duckdb_memory_limit, b.duckdb_memory_limit);
}

// ---------------------------------------------------------------------------
// A valid configuration
// ---------------------------------------------------------------------------

TEST(WriteBackConfig, ParsesEveryMember) {
  const auto r = parsed(valid_config);
  ASSERT_TRUE(r) << r.error().message();
  const write_back_config& c = r.value();

  EXPECT_EQ(c.source.type, write_back_endpoint::kind::duckdb);
  EXPECT_EQ(c.source.location, "/data/analytics.duckdb");
  EXPECT_EQ(c.sink.type, write_back_endpoint::kind::postgresql);
  EXPECT_EQ(c.sink.location, "postgresql://app@db.internal:5432/app?sslmode=require");
  ASSERT_EQ(c.stages.size(), 2u);

  // A table stage with a typed sink.
  const auto& m = c.stages[0];
  EXPECT_EQ(m.name, "memories");
  EXPECT_EQ(m.source.query, "");
  EXPECT_EQ(m.source.schema, "");
  EXPECT_EQ(m.source.table, "memories");
  EXPECT_EQ(m.source.key, std::vector<std::string>{"id"});
  EXPECT_EQ(m.source.version, "updated_at");
  EXPECT_EQ(m.source.value, (std::vector<std::string>{"content", "created_at", "score"}));
  EXPECT_FALSE(m.source.mapping.has_value());
  EXPECT_EQ(m.sink.schema, "public");
  EXPECT_EQ(m.sink.table, "memories");
  ASSERT_TRUE(m.sink.mapping.has_value());
  const table_mapping& map = *m.sink.mapping;
  ASSERT_EQ(map.key.size(), 1u);
  EXPECT_EQ(map.key[0].column, "id");
  EXPECT_EQ(map.key[0].type, column_type::bigint);
  EXPECT_EQ(map.version_column, "updated_at");
  EXPECT_EQ(map.version_type, version_column_type::timestamptz);
  ASSERT_EQ(map.fields.size(), 3u);
  EXPECT_EQ(map.fields[0].field, "content");
  EXPECT_EQ(map.fields[0].column, "");
  EXPECT_EQ(map.fields[0].type, column_type::text);
  EXPECT_TRUE(map.fields[0].required);
  EXPECT_FALSE(map.fields[0].default_value.has_value());
  EXPECT_EQ(map.fields[1].field, "created_at");
  EXPECT_EQ(map.fields[1].type, column_type::timestamptz);
  EXPECT_FALSE(map.fields[1].required);
  EXPECT_EQ(map.fields[2].field, "score");
  EXPECT_EQ(map.fields[2].column, "score_value");
  EXPECT_EQ(map.fields[2].column_name(), "score_value");
  EXPECT_EQ(map.fields[2].type, column_type::integer);
  EXPECT_EQ(map.fields[2].default_value, std::optional<std::string>("0"));
  EXPECT_TRUE(map.fields[2].round);
  EXPECT_FALSE(map.fields[2].from_string);
  EXPECT_EQ(map.rest_column, "");
  EXPECT_EQ(m.lookback, 600'000'000);  // lookback_ms 600000, in microseconds
  EXPECT_EQ(m.required, std::vector<std::string>{"content"});
  ASSERT_EQ(m.not_before.size(), 1u);
  EXPECT_EQ(m.not_before[0].first, "updated_at");
  EXPECT_EQ(m.not_before[0].second, "created_at");
  EXPECT_EQ(m.dbt_model, "stg_memories");

  // A query stage with a JSON sink.
  const auto& s = c.stages[1];
  EXPECT_EQ(s.name, "scores");
  EXPECT_EQ(s.source.query,
            "SELECT id::VARCHAR AS key, to_json(s) AS value, epoch_us(updated_at) AS version FROM scores s");
  EXPECT_EQ(s.source.table, "");
  EXPECT_TRUE(s.source.key.empty());
  EXPECT_EQ(s.source.version, "");
  EXPECT_TRUE(s.source.value.empty());
  EXPECT_EQ(s.sink.schema, "");
  EXPECT_EQ(s.sink.table, "scores_json");
  EXPECT_FALSE(s.sink.mapping.has_value());
  EXPECT_EQ(s.lookback, 5000);  // lookback: version units as written
  EXPECT_TRUE(s.required.empty());
  EXPECT_TRUE(s.not_before.empty());
  EXPECT_EQ(s.dbt_model, "scores");  // defaults to the stage's name

  EXPECT_EQ(c.batch.min_size, 10u);
  EXPECT_EQ(c.batch.initial_size, 1000u);
  EXPECT_EQ(c.batch.max_size, 10000u);
  EXPECT_EQ(c.batch.target_duration, std::chrono::milliseconds(250));
  // Not given: write-back's own batch defaults (not aimd_batch_sizer's).
  const storesync::aimd_batch_sizer::config batch_defaults = write_back_config{}.batch;
  EXPECT_EQ(c.batch.failure_rate_threshold, batch_defaults.failure_rate_threshold);
  EXPECT_EQ(c.batch.additive_step, batch_defaults.additive_step);
  EXPECT_EQ(c.batch.multiplicative_decrease, batch_defaults.multiplicative_decrease);
  EXPECT_EQ(c.retry.base, std::chrono::milliseconds(50));
  EXPECT_EQ(c.retry.cap, std::chrono::milliseconds(2000));
  EXPECT_EQ(c.retry.max_attempts, 6u);
  EXPECT_EQ(c.retry.max_elapsed, std::chrono::milliseconds(60000));
  EXPECT_EQ(c.retry.seed, 42u);
  EXPECT_EQ(c.runs_table, "wb_runs");
  EXPECT_EQ(c.dead_letters_table, "wb_dead_letters");
  EXPECT_EQ(c.duckdb_memory_limit, "1GB");
}

TEST(WriteBackConfig, AbsentMembersKeepTheirDefaults) {
  const auto r = parsed(sqlite_config);
  ASSERT_TRUE(r) << r.error().message();
  const write_back_config& c = r.value();
  EXPECT_EQ(c.source.type, write_back_endpoint::kind::sqlite);
  EXPECT_EQ(c.source.location, "/data/app.db");
  EXPECT_EQ(c.sink.type, write_back_endpoint::kind::duckdb);
  EXPECT_EQ(c.sink.location, "/data/mirror.duckdb");
  ASSERT_EQ(c.stages.size(), 2u);
  EXPECT_EQ(c.stages[0].source.table, "memories");
  EXPECT_EQ(c.stages[1].source.schema, "main");
  EXPECT_EQ(c.stages[1].source.table, "scores");
  for (const auto& s : c.stages) {
    EXPECT_EQ(s.lookback, 0);
    EXPECT_EQ(s.dbt_model, s.name);
  }
  const write_back_config defaults;
  EXPECT_EQ(c.runs_table, "storesync_write_back_runs");
  EXPECT_EQ(c.dead_letters_table, "storesync_write_back_dead_letters");
  EXPECT_EQ(c.duckdb_memory_limit, "256MB");
  EXPECT_EQ(c.batch.min_size, defaults.batch.min_size);
  EXPECT_EQ(c.batch.initial_size, defaults.batch.initial_size);
  EXPECT_EQ(c.batch.max_size, defaults.batch.max_size);
  EXPECT_EQ(c.batch.additive_step, defaults.batch.additive_step);
  EXPECT_EQ(c.batch.target_duration, defaults.batch.target_duration);
  EXPECT_EQ(c.retry.base, defaults.retry.base);
  EXPECT_EQ(c.retry.max_attempts, defaults.retry.max_attempts);
}

TEST(WriteBackConfig, LookbackMsAtItsLimitIsExact) {
  // max_entry_version (2^62) / 1000, rounded down, is the largest lookback_ms.
  const std::string at_limit = with(valid_config, "\"lookback_ms\": 600000", "\"lookback_ms\": 4611686018427387");
  const auto r = parsed(at_limit);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r.value().stages[0].lookback, 4611686018427387000);
  EXPECT_MENTIONS(refusal(with(valid_config, "\"lookback_ms\": 600000", "\"lookback_ms\": 4611686018427388")),
                  "stages[0].lookback_ms: is too large");
  EXPECT_MENTIONS(refusal(with(valid_config, "\"lookback\": 5000", "\"lookback\": 4611686018427387905")),
                  "stages[1].lookback: is too large");
}

// ---------------------------------------------------------------------------
// Endpoints
// ---------------------------------------------------------------------------

TEST(WriteBackEndpoint, AcceptsEverySpelling) {
  struct expected {
    std::string_view text;
    write_back_endpoint::kind type;
    std::string_view location;
  };
  const expected cases[] = {
      {"duckdb:analytics.duckdb", write_back_endpoint::kind::duckdb, "analytics.duckdb"},
      {"duckdb:/var/lib/a b/x.duckdb", write_back_endpoint::kind::duckdb, "/var/lib/a b/x.duckdb"},
      {"sqlite:/data/app.db", write_back_endpoint::kind::sqlite, "/data/app.db"},
      {"jsonl:/data/export", write_back_endpoint::kind::jsonl, "/data/export"},
      {"sqlite::memory:", write_back_endpoint::kind::sqlite, ":memory:"},
      {"postgresql://app@db/app", write_back_endpoint::kind::postgresql, "postgresql://app@db/app"},
      {"postgres://u:p@h:5433/d?sslmode=disable", write_back_endpoint::kind::postgresql,
       "postgres://u:p@h:5433/d?sslmode=disable"},
  };
  for (const expected& e : cases) {
    SCOPED_TRACE(e.text);
    const auto r = parse_endpoint(e.text, "sink");
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(r.value().type, e.type);
    EXPECT_EQ(r.value().location, e.location);
  }
}

TEST(WriteBackEndpoint, RefusesOthersNamingWhat) {
  for (const std::string_view text : {"", "mysql://x", "duckdb:", "sqlite:", "DUCKDB:x.duckdb", "analytics.duckdb",
                                      "postgresql:/x", "http://db/app"}) {
    SCOPED_TRACE(text);
    const auto r = parse_endpoint(text, "the --source option");
    ASSERT_FALSE(r) << "accepted as " << r.value().location;
    EXPECT_TRUE(r.error() == errc::invalid_argument) << r.error().message();
    EXPECT_EQ(r.error().context().rfind("the --source option: ", 0), 0u) << r.error().context();
  }
  EXPECT_MENTIONS(parse_endpoint("mysql://x", "source").error().context(),
                  "source: \"mysql://x\" is not duckdb:PATH, sqlite:PATH, jsonl:DIR or a postgresql:// URL");
  EXPECT_MENTIONS(parse_endpoint("", "sink").error().context(), "sink: \"\" is not duckdb:PATH");
  EXPECT_MENTIONS(parse_endpoint("duckdb:", "sink").error().context(), "sink: the path after duckdb: is empty");
}

TEST(WriteBackConfig, NamesTheEndpointMember) {
  EXPECT_MENTIONS(refusal(with(valid_config, "\"duckdb:/data/analytics.duckdb\"", "\"mysql://x\"")),
                  "config.source: \"mysql://x\" is not duckdb:PATH");
  EXPECT_MENTIONS(refusal(with(valid_config, "\"postgresql://app@db.internal:5432/app?sslmode=require\"", "\"duckdb:\"")),
                  "config.sink: the path after duckdb: is empty");
  EXPECT_MENTIONS(refusal(with(valid_config, "\"duckdb:/data/analytics.duckdb\"", "7")), "config.source: must be a string");
}

// ---------------------------------------------------------------------------
// Wrong members, each named
// ---------------------------------------------------------------------------

TEST(WriteBackConfig, RefusesAnUnknownTopLevelMember) {
  EXPECT_MENTIONS(refusal(with(valid_config, "\"runs_table\"", "\"run_table\": \"x\", \"runs_table\"")),
                  "config: unknown member \"run_table\"");
}

TEST(WriteBackConfig, RefusesAMissingSinkOrSource) {
  EXPECT_MENTIONS(
      refusal(with(valid_config, "\"sink\": \"postgresql://app@db.internal:5432/app?sslmode=require\",", "")),
      "config: \"sink\" is missing");
  EXPECT_MENTIONS(refusal(with(valid_config, "\"source\": \"duckdb:/data/analytics.duckdb\",", "")),
                  "config: \"source\" is missing");
}

TEST(WriteBackConfig, RefusesNoStages) {
  const std::string text = R"({"source": "duckdb:a.duckdb", "sink": "sqlite:b.db", "stages": []})";
  EXPECT_MENTIONS(refusal(text), "config.stages: must be a non-empty array");
  EXPECT_MENTIONS(refusal(R"({"source": "duckdb:a.duckdb", "sink": "sqlite:b.db"})"),
                  "config.stages: must be a non-empty array");
  EXPECT_MENTIONS(refusal(R"({"source": "duckdb:a.duckdb", "sink": "sqlite:b.db", "stages": {}})"),
                  "config.stages: must be a non-empty array");
  EXPECT_MENTIONS(refusal(R"({"source": "duckdb:a.duckdb", "sink": "sqlite:b.db", "stages": [7]})"),
                  "stages[0]: must be an object");
}

TEST(WriteBackConfig, RefusesAStageWithoutAName) {
  EXPECT_MENTIONS(refusal(with(valid_config, "\"name\": \"memories\",", "")), "stages[0]: \"name\" is missing");
  EXPECT_MENTIONS(refusal(with(valid_config, "\"name\": \"scores\"", "\"name\": \"\"")), "stages[1].name: is empty");
  EXPECT_MENTIONS(refusal(with(valid_config, "\"name\": \"scores\"", "\"name\": 2")), "stages[1].name: must be a string");
}

TEST(WriteBackConfig, RefusesDuplicateStageNames) {
  EXPECT_MENTIONS(refusal(with(valid_config, "\"name\": \"scores\"", "\"name\": \"memories\"")),
                  "stages[1].name: \"memories\" is used twice");
}

// docs/write-back.md: a stage name is "1 to 64 of A-Z a-z 0-9 _ - .", and
// the file "is checked whole before anything is opened". The strategy checks
// the name only in run(), after the runner has opened (and created) the
// sink, run-log and dead-letter tables; the parser must refuse it first.
TEST(WriteBackConfig, RefusesAStageNameOutsideItsAlphabet) {
  for (const std::string& bad : {std::string("my stage"), std::string("a/b"), std::string("caf\u00e9"),
                                std::string(65, 'x')}) {
    SCOPED_TRACE(bad);
    EXPECT_MENTIONS(refusal(with(valid_config, "\"name\": \"scores\"", "\"name\": \"" + bad + "\"")),
                    "stages[1].name: ");
  }
  const auto ok = parsed(with(valid_config, "\"name\": \"scores\"", "\"name\": \"" + std::string(64, 'x') + "\""));
  EXPECT_TRUE(ok) << ok.error().message();
  const auto dotted = parsed(with(valid_config, "\"name\": \"scores\"", "\"name\": \"dbt.scores-v2_1\""));
  EXPECT_TRUE(dotted) << dotted.error().message();
}

TEST(WriteBackConfig, RefusesADuckDbStageWithBothQueryAndTable) {
  EXPECT_MENTIONS(refusal(with(valid_config, "{\"table\": \"memories\", \"key\"",
                               "{\"query\": \"SELECT 1\", \"table\": \"memories\", \"key\"")),
                  "stages[0].source: give either \"query\" or \"table\"");
  // And with neither.
  EXPECT_MENTIONS(refusal(with(valid_config, "\"source\": {\"query\": \"SELECT id::VARCHAR AS key, to_json(s) AS value, "
                                             "epoch_us(updated_at) AS version FROM scores s\"}",
                               "\"source\": {}")),
                  "stages[1].source: give either \"query\" or \"table\"");
}

TEST(WriteBackConfig, RefusesATableStageWithoutKeyOrVersion) {
  EXPECT_MENTIONS(refusal(with(valid_config, "\"key\": [\"id\"], ", "")),
                  "stages[0].source: a table needs \"key\" (its key columns) and \"version\"");
  EXPECT_MENTIONS(refusal(with(valid_config, "\"version\": \"updated_at\",", "")),
                  "stages[0].source: a table needs \"key\"");
  EXPECT_MENTIONS(refusal(with(valid_config, "\"key\": [\"id\"], ", "\"key\": [\"id\", \"\"], ")),
                  "stages[0].source.key[1]: must be a non-empty string");
}

TEST(WriteBackConfig, RefusesAQueryStageWithKey) {
  EXPECT_MENTIONS(refusal(with(valid_config, "FROM scores s\"}", "FROM scores s\", \"key\": [\"id\"]}")),
                  "stages[1].source: \"key\", \"version\" and \"value\" go with \"table\", not with \"query\"");
  EXPECT_MENTIONS(refusal(with(valid_config, "FROM scores s\"}", "FROM scores s\", \"version\": \"v\"}")),
                  "stages[1].source: \"key\", \"version\" and \"value\" go with \"table\"");
}

TEST(WriteBackConfig, RefusesAnUnknownMemberInAStage) {
  EXPECT_MENTIONS(refusal(with(valid_config, "\"lookback\": 5000", "\"lookback_seconds\": 5")),
                  "stages[1]: unknown member \"lookback_seconds\"");
  EXPECT_MENTIONS(refusal(with(valid_config, "\"version\": \"updated_at\",", "\"version\": \"updated_at\", \"where\": 1,")),
                  "stages[0].source: unknown member \"where\"");
  EXPECT_MENTIONS(refusal(with(valid_config, "{\"table\": \"scores_json\"}", "{\"table\": \"scores_json\", \"mode\": 1}")),
                  "stages[1].sink: unknown member \"mode\"");
  EXPECT_MENTIONS(refusal(with(valid_config, "\"checks\": {", "\"checks\": {\"unique\": [],")),
                  "stages[0].checks: unknown member \"unique\"");
}

TEST(WriteBackConfig, RefusesABadLookback) {
  EXPECT_MENTIONS(refusal(with(valid_config, "\"lookback_ms\": 600000", "\"lookback_ms\": -1")),
                  "stages[0].lookback_ms: must be a whole number, 0 or more");
  EXPECT_MENTIONS(refusal(with(valid_config, "\"lookback_ms\": 600000", "\"lookback_ms\": 600000.5")),
                  "stages[0].lookback_ms: must be a whole number, 0 or more");
  EXPECT_MENTIONS(refusal(with(valid_config, "\"lookback_ms\": 600000", "\"lookback_ms\": \"10m\"")),
                  "stages[0].lookback_ms: must be a whole number");
  EXPECT_MENTIONS(refusal(with(valid_config, "\"lookback\": 5000", "\"lookback\": -5000")),
                  "stages[1].lookback: must be a whole number, 0 or more");
  EXPECT_MENTIONS(refusal(with(valid_config, "\"lookback_ms\": 600000", "\"lookback_ms\": 600000, \"lookback\": 1")),
                  "stages[0]: give \"lookback\" or \"lookback_ms\", not both");
}

TEST(WriteBackConfig, RefusesChecksOfTheWrongShape) {
  EXPECT_MENTIONS(refusal(with(valid_config, "[[\"updated_at\", \"created_at\"]]", "[[\"updated_at\"]]")),
                  "stages[0].checks.not_before[0]: must be a pair of field names, [later, earlier]");
  EXPECT_MENTIONS(refusal(with(valid_config, "[[\"updated_at\", \"created_at\"]]", "[\"updated_at\", \"created_at\"]")),
                  "stages[0].checks.not_before[0]: must be a pair");
  EXPECT_MENTIONS(refusal(with(valid_config, "[[\"updated_at\", \"created_at\"]]",
                               "[[\"updated_at\", \"created_at\"], [\"a\", \"b\", \"c\"]]")),
                  "stages[0].checks.not_before[1]: must be a pair");
  EXPECT_MENTIONS(refusal(with(valid_config, "[[\"updated_at\", \"created_at\"]]", "[[\"updated_at\", 3]]")),
                  "stages[0].checks.not_before[0]: must be a pair");
  EXPECT_MENTIONS(refusal(with(valid_config, "[[\"updated_at\", \"created_at\"]]", "{}")),
                  "stages[0].checks.not_before: must be an array");
  EXPECT_MENTIONS(refusal(with(valid_config, "\"required\": [\"content\"]", "\"required\": [\"content\", 5]")),
                  "stages[0].checks.required[1]: must be a non-empty string");
  EXPECT_MENTIONS(refusal(with(valid_config, "\"required\": [\"content\"]", "\"required\": \"content\"")),
                  "stages[0].checks.required: must be an array of strings");
}

TEST(WriteBackConfig, RefusesABadTypedSinkMapping) {
  std::string m = refusal(with(valid_config, "{\"field\": \"content\", \"type\": \"text\"",
                               "{\"field\": \"content\", \"type\": \"varchar2\""));
  EXPECT_MENTIONS(m, "stages[0].sink: ");
  EXPECT_MENTIONS(m, "varchar2");
  EXPECT_MENTIONS(m, "fields[0]");
  m = refusal(with(valid_config, "{\"column\": \"id\", \"type\": \"bigint\"}", "{\"column\": \"id\", \"type\": \"uuid\"}"));
  EXPECT_MENTIONS(m, "stages[0].sink: ");
  EXPECT_MENTIONS(m, "uuid");
  EXPECT_MENTIONS(refusal(with(valid_config, "{\"column\": \"updated_at\", \"type\": \"timestamptz\"}",
                               "{\"column\": \"updated_at\", \"type\": \"date\"}")),
                  "stages[0].sink: table mapping: version: \"type\" must be bigint or timestamptz");
  EXPECT_MENTIONS(refusal(with(valid_config, "\"column\": \"score_value\"", "\"column\": \"content\"")),
                  "stages[0].sink: table mapping: column \"content\" is named twice");
}

TEST(WriteBackConfig, RefusesASinkWithoutATable) {
  EXPECT_MENTIONS(refusal(with(valid_config, "{\"table\": \"scores_json\"}", "{\"schema\": \"public\"}")),
                  "stages[1].sink: \"table\" is missing");
  EXPECT_MENTIONS(refusal(with(valid_config, "\"schema\": \"public\", \"table\": \"memories\",", "")),
                  "stages[0].sink: table mapping: mapping: \"table\" is missing");
  EXPECT_MENTIONS(refusal(with(valid_config, "\"sink\": {\"table\": \"scores_json\"},", "")),
                  "stages[1]: \"sink\" is missing");
}

TEST(WriteBackConfig, RefusesABadBatch) {
  EXPECT_MENTIONS(refusal(with(valid_config, "\"max_size\": 10000,", "\"max_size\": 10000, \"maximum\": 5,")),
                  "config.batch: aimd_batch_sizer: unknown field \"maximum\"");
  EXPECT_MENTIONS(refusal(with(valid_config, "\"max_size\": 10000,", "\"max_size\": 5,")),
                  "config.batch: aimd_batch_sizer: max_size must be >= min_size");
  EXPECT_MENTIONS(refusal(with(valid_config, "\"target_duration_ms\": 250", "\"target_duration_ms\": 0")),
                  "config.batch: aimd_batch_sizer: target_duration_ms must be > 0");
  EXPECT_MENTIONS(refusal(with(valid_config, "\"batch\": {\"min_size\": 10, \"initial_size\": 1000, \"max_size\": 10000, "
                                             "\"target_duration_ms\": 250}",
                               "\"batch\": [1000]")),
                  "config.batch: aimd_batch_sizer: expected a JSON object");
}

TEST(WriteBackConfig, RefusesARetryOfTheWrongType) {
  EXPECT_MENTIONS(refusal(with(valid_config, "\"base_ms\": 50", "\"base_ms\": \"50ms\"")), "config.retry: ");
  EXPECT_MENTIONS(refusal(with(valid_config, "\"max_attempts\": 6", "\"max_attempts\": true")),
                  "config.retry: max_attempts: expected a non-negative integer");
  EXPECT_MENTIONS(refusal(with(valid_config, "\"seed\": 42", "\"seed\": 42, \"jitter\": 0.5")),
                  "config.retry: exponential_backoff: unknown field \"jitter\"");
  EXPECT_MENTIONS(refusal(with(valid_config,
                               "{\"base_ms\": 50, \"cap_ms\": 2000, \"max_attempts\": 6, \"max_elapsed_ms\": 60000, \"seed\": 42}",
                               "6")),
                  "config.retry: exponential_backoff: expected a JSON object");
}

// The batch is checked (config::validate) and the retry must be too: an
// exponential_backoff built from these would silently clamp them.
TEST(WriteBackConfig, RefusesARetryOutOfRange) {
  EXPECT_MENTIONS(refusal(with(valid_config, "\"max_attempts\": 6", "\"max_attempts\": 0")),
                  "config.retry: exponential_backoff: max_attempts must be >= 1");
  EXPECT_MENTIONS(refusal(with(valid_config, "\"base_ms\": 50", "\"base_ms\": 0")),
                  "config.retry: exponential_backoff: base_ms must be > 0");
  EXPECT_MENTIONS(refusal(with(valid_config, "\"base_ms\": 50", "\"base_ms\": -50")), "config.retry: ");
  EXPECT_MENTIONS(refusal(with(valid_config, "\"cap_ms\": 2000", "\"cap_ms\": 10")),
                  "config.retry: exponential_backoff: cap_ms must be >= base_ms");
  EXPECT_MENTIONS(refusal(with(valid_config, "\"max_elapsed_ms\": 60000", "\"max_elapsed_ms\": -1")),
                  "config.retry: ");
}

// Numbers that do not fit the member are refused, not truncated.
TEST(WriteBackConfig, RefusesRetryNumbersThatDoNotFit) {
  // max_attempts is 32 bits: 2^32 + 1 must not become 1 (never retry).
  EXPECT_MENTIONS(refusal(with(valid_config, "\"max_attempts\": 6", "\"max_attempts\": 4294967297")),
                  "config.retry: ");
  // Durations are whole milliseconds: 1.5 must not become 1.
  EXPECT_MENTIONS(refusal(with(valid_config, "\"base_ms\": 50", "\"base_ms\": 1.5")), "config.retry: ");
  EXPECT_MENTIONS(refusal(with(valid_config, "\"cap_ms\": 2000", "\"cap_ms\": 2000.5")), "config.retry: ");
}

TEST(WriteBackConfig, RefusesAQueryForAStoreSource) {
  // A SQLite or PostgreSQL source reads storesync tables: "query" is DuckDB's.
  EXPECT_MENTIONS(refusal(with(sqlite_config, "{\"schema\": \"main\", \"table\": \"scores\"}",
                               "{\"query\": \"SELECT * FROM scores\"}")),
                  "stages[1].source: unknown member \"query\"");
  EXPECT_MENTIONS(refusal(with(sqlite_config, "\"source\": {\"table\": \"memories\"}",
                               "\"source\": {\"table\": \"memories\", \"key\": [\"id\"], \"version\": \"v\"}")),
                  "stages[0].source: unknown member");
  EXPECT_MENTIONS(refusal(with(sqlite_config, "\"source\": {\"table\": \"memories\"}", "\"source\": {\"schema\": \"m\"}")),
                  "stages[0].source: \"table\" is missing");
}

TEST(WriteBackConfig, RefusesEmptyOrMistypedTableNames) {
  EXPECT_MENTIONS(refusal(with(valid_config, "\"runs_table\": \"wb_runs\"", "\"runs_table\": \"\"")),
                  "config.runs_table: is empty");
  EXPECT_MENTIONS(refusal(with(valid_config, "\"dead_letters_table\": \"wb_dead_letters\"", "\"dead_letters_table\": 1")),
                  "config.dead_letters_table: must be a string");
  EXPECT_MENTIONS(refusal(with(valid_config, "\"duckdb_memory_limit\": \"1GB\"", "\"duckdb_memory_limit\": 1")),
                  "config.duckdb_memory_limit: must be a string");
  EXPECT_MENTIONS(refusal(with(valid_config, "\"dbt_model\": \"stg_memories\"", "\"dbt_model\": [\"a\"]")),
                  "stages[0].dbt_model: must be a string");
}

// A member given twice is refused like an unknown one, as the dbt
// run_results reader does: otherwise one of two sinks is silently used.
TEST(WriteBackConfig, RefusesAMemberGivenTwice) {
  const std::string two_sinks = with(valid_config, "\"stages\": [", "\"sink\": \"sqlite:/tmp/other.db\",\n  \"stages\": [");
  std::string m = refusal(two_sinks);
  EXPECT_MENTIONS(m, "config");
  EXPECT_MENTIONS(m, "\"sink\"");
  const std::string two_lookbacks = with(valid_config, "\"lookback_ms\": 600000", "\"lookback_ms\": 600000, \"lookback_ms\": 0");
  m = refusal(two_lookbacks);
  EXPECT_MENTIONS(m, "stages[0]");
  EXPECT_MENTIONS(m, "lookback_ms");
}

// ---------------------------------------------------------------------------
// Hostile text
// ---------------------------------------------------------------------------

TEST(WriteBackConfig, RefusesNesting100000Deep) {
  const std::string arrays = std::string(100'000, '[') + std::string(100'000, ']');
  EXPECT_MENTIONS(refusal(arrays), "write-back config: nesting deeper than the limit at byte 32");
  std::string objects;
  for (int i = 0; i < 100'000; ++i) objects += "{\"a\":";
  objects += "1";
  objects += std::string(100'000, '}');
  EXPECT_MENTIONS(refusal(objects), "nesting deeper than the limit at byte 160");
  // Deep where the config has free-form room: a typed field's default.
  const std::string in_default =
      with(valid_config, "\"default\": 0", "\"default\": " + std::string(100'000, '[') + std::string(100'000, ']'));
  EXPECT_MENTIONS(refusal(in_default), "nesting deeper than the limit");
  // 32 open containers are fine, 33 are not: "retry" is the second level,
  // so 30 arrays in it pass the scan (and "x" is refused as a member), 31 do not.
  const std::string limit = with(valid_config, "\"max_elapsed_ms\": 60000,",
                                 "\"max_elapsed_ms\": 60000, \"x\": " + std::string(30, '[') + std::string(30, ']') + ",");
  EXPECT_MENTIONS(refusal(limit), "config.retry: exponential_backoff: unknown field \"x\"");
  const std::string over = with(valid_config, "\"max_elapsed_ms\": 60000,",
                                "\"max_elapsed_ms\": 60000, \"x\": " + std::string(31, '[') + std::string(31, ']') + ",");
  EXPECT_MENTIONS(refusal(over), "nesting deeper than the limit");
}

TEST(WriteBackConfig, RefusesMoreThan1MiB) {
  std::string text(valid_config);
  text.append(storesync::server::max_write_back_config_size - text.size(), ' ');
  const auto r = parsed(text);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r.value().stages.size(), 2u);
  text += ' ';
  EXPECT_MENTIONS(refusal(text), "write-back config: 1048577 bytes; the limit is 1048576");
  std::string two_mib(valid_config);
  two_mib.append(std::size_t{2} * 1024 * 1024 - two_mib.size(), ' ');
  EXPECT_MENTIONS(refusal(two_mib), "2097152 bytes; the limit is 1048576");
  // Most of it inside a string.
  const std::string big_query = with(valid_config, "FROM scores s\"", "FROM scores s" + std::string(2u << 20, 'x') + "\"");
  EXPECT_MENTIONS(refusal(big_query), "the limit is 1048576");
}

TEST(WriteBackConfig, RefusesInvalidUtf8) {
  EXPECT_MENTIONS(refusal(with(valid_config, "[\"content\"]", "[\"cont\xff" "ent\"]")), "write-back config: invalid UTF-8 at byte");
  EXPECT_MENTIONS(refusal(with(valid_config, "FROM scores s\"", "FROM scores \xc3\x28s\"")), "invalid UTF-8");
  EXPECT_MENTIONS(refusal(with(valid_config, "\"wb_runs\"", "\"wb_\xed\xa0\x80runs\"")), "invalid UTF-8");
  EXPECT_MENTIONS(refusal(with(valid_config, "\"wb_runs\"", "\"wb_\\udc00runs\"")), "unpaired UTF-16 surrogate");
  EXPECT_MENTIONS(refusal("\xef\xbb\xbf" + std::string(valid_config)), "byte-order mark");
}

TEST(WriteBackConfig, RefusesARawNulByte) {
  EXPECT_MENTIONS(refusal(with(valid_config, "FROM scores s\"", std::string_view("FROM scores s\0\"", 15))),
                  "control character in a string (escape it)");
  EXPECT_MENTIONS(refusal(std::string(valid_config) + std::string(1, '\0')), "unexpected text after the value");
}

// An escaped NUL is refused like a raw one: a query, name or path that
// reached a C API (c_str()) would be cut at it.
TEST(WriteBackConfig, RefusesAnEscapedNul) {
  for (const auto& [from, to] : {std::pair{"FROM scores s\"", "FROM scores s\\u0000; DROP TABLE scores\""},
                                 std::pair{"\"duckdb:/data/analytics.duckdb\"", "\"duckdb:/data/a\\u0000.duckdb\""},
                                 std::pair{"\"name\": \"scores\"", "\"name\": \"a\\u0000b\""}}) {
    SCOPED_TRACE(to);
    EXPECT_MENTIONS(refusal(with(valid_config, from, to)), "u0000");
  }
}

TEST(WriteBackConfig, RefusesEveryTruncation) {
  const std::string_view file = valid_config;
  ASSERT_EQ(file.back(), '}');
  std::size_t refused = 0;
  for (std::size_t n = 0; n < file.size(); n += 13) {
    SCOPED_TRACE(n);
    const auto r = parsed(file.substr(0, n));
    ASSERT_FALSE(r) << "accepted " << n << " of " << file.size() << " bytes";
    EXPECT_TRUE(r.error() == errc::invalid_argument) << r.error().message();
    EXPECT_EQ(r.error().context().rfind("write-back config: ", 0), 0u) << r.error().context();
    if (n == 0) EXPECT_MENTIONS(r.error().context(), "empty: no value");
    ++refused;
  }
  EXPECT_GT(refused, 100u);
  EXPECT_FALSE(parsed(file.substr(0, file.size() - 1)));
}

TEST(WriteBackConfig, RefusesNumbersThatDoNotFit) {
  // lookback_ms: nlohmann refuses 1e400 while parsing, before any member is
  // read, so only the number can be named.
  std::string m = refusal(with(valid_config, "\"lookback_ms\": 600000", "\"lookback_ms\": 1e400"));
  EXPECT_MENTIONS(m, "1e400");
  EXPECT_MENTIONS(m, "overflow");
  EXPECT_MENTIONS(refusal(with(valid_config, "\"lookback_ms\": 600000", "\"lookback_ms\": -1")),
                  "stages[0].lookback_ms: must be a whole number, 0 or more");
  EXPECT_MENTIONS(refusal(with(valid_config, "\"lookback_ms\": 600000", "\"lookback_ms\": 1.5")),
                  "stages[0].lookback_ms: must be a whole number, 0 or more");
  EXPECT_MENTIONS(refusal(with(valid_config, "\"lookback_ms\": 600000", "\"lookback_ms\": 18446744073709551616")),
                  "stages[0].lookback_ms: must be a whole number, 0 or more");
  EXPECT_MENTIONS(refusal(with(valid_config, "\"lookback_ms\": 600000", "\"lookback_ms\": 18446744073709551615")),
                  "stages[0].lookback_ms: is too large");
  EXPECT_MENTIONS(refusal(with(valid_config, "\"lookback_ms\": 600000", "\"lookback_ms\": 1e3")),
                  "stages[0].lookback_ms: must be a whole number");

  // Batch sizes.
  for (const char* member : {"\"min_size\": 10", "\"initial_size\": 1000", "\"max_size\": 10000"}) {
    const std::string_view name = std::string_view(member).substr(1, std::string_view(member).find('"', 1) - 1);
    SCOPED_TRACE(name);
    const std::string key = "\"" + std::string(name) + "\": ";
    m = refusal(with(valid_config, member, key + "1e400"));
    EXPECT_MENTIONS(m, "1e400");
    for (const char* bad : {"-1", "1.5", "18446744073709551616"}) {
      SCOPED_TRACE(bad);
      m = refusal(with(valid_config, member, key + bad));
      EXPECT_MENTIONS(m, "config.batch: " + std::string(name) + ": expected a non-negative integer");
    }
  }
}

TEST(WriteBackConfig, RefusesAnEmptyTextAndOtherTopLevels) {
  EXPECT_MENTIONS(refusal(""), "write-back config: empty: no value at byte 0");
  EXPECT_MENTIONS(refusal(" \n\t"), "empty: no value");
  EXPECT_MENTIONS(refusal("[]"), "write-back config: config: must be an object");
  EXPECT_MENTIONS(refusal("[" + std::string(valid_config) + "]"), "config: must be an object");
  EXPECT_MENTIONS(refusal("\"duckdb:a.duckdb\""), "config: must be an object");
  EXPECT_MENTIONS(refusal("null"), "config: must be an object");
  EXPECT_MENTIONS(refusal("42"), "config: must be an object");
  EXPECT_MENTIONS(refusal("{}"), "config: \"source\" is missing");
  EXPECT_MENTIONS(refusal(std::string(valid_config) + std::string(valid_config)), "unexpected text after the value");
}

// ---------------------------------------------------------------------------
// load_write_back_config
// ---------------------------------------------------------------------------

class LoadWriteBackConfig : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tmp = std::getenv("TEST_TMPDIR");
    dir_ = std::filesystem::path(tmp ? tmp : std::filesystem::temp_directory_path().string()) / "write_back_config";
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    // Short relative paths for the cases about content; the sandbox's
    // absolute paths are long (see NamesALongPathWhole).
    cwd_ = std::filesystem::current_path();
    std::filesystem::current_path(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::current_path(cwd_, ec);
    std::filesystem::remove_all(dir_, ec);
  }
  /// Writes `text` to `name` under the test's directory; returns the relative path.
  std::string write(const std::string& name, std::string_view text) {
    std::ofstream(dir_ / name, std::ios::binary) << text;
    return name;
  }
  std::filesystem::path dir_;
  std::filesystem::path cwd_;
};

TEST_F(LoadWriteBackConfig, AMissingFileNamesThePath) {
  const std::string path = "conf/write-back.json";
  const auto r = load_write_back_config(path);
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error() == errc::invalid_argument) << r.error().message();
  EXPECT_MENTIONS(r.error().context(), path);
  EXPECT_MENTIONS(r.error().context(), "cannot be read");
}

TEST_F(LoadWriteBackConfig, ReadsWhatParsingReads) {
  const auto loaded = load_write_back_config(write("write-back.json", valid_config));
  ASSERT_TRUE(loaded) << loaded.error().message();
  const auto direct = parsed(valid_config);
  ASSERT_TRUE(direct) << direct.error().message();
  expect_same(loaded.value(), direct.value());
  EXPECT_EQ(loaded.value().stages.at(0).lookback, 600'000'000);
  EXPECT_EQ(loaded.value().sink.location, "postgresql://app@db.internal:5432/app?sslmode=require");
}

TEST_F(LoadWriteBackConfig, AMalformedFileIsNamedByItsPath) {
  const std::string path = write("bad.json", with(valid_config, "\"name\": \"scores\"", "\"name\": \"memories\""));
  const auto r = load_write_back_config(path);
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error() == errc::invalid_argument) << r.error().message();
  EXPECT_MENTIONS(r.error().context(), path);
  EXPECT_MENTIONS(r.error().context(), "stages[1].name: \"memories\" is used twice");
}

// The header promises "errors name the path", the CLI prints only this
// context, and CI paths often pass 80 bytes: the path must not be cut
// (detail::quoted shortens anything past 80 bytes).
TEST_F(LoadWriteBackConfig, NamesALongPathWhole) {
  const std::filesystem::path deep = dir_ / std::string(60, 'd') / "environments" / "production";
  std::filesystem::create_directories(deep);
  const std::string missing = (deep / "write-back.json").string();
  ASSERT_GT(missing.size(), 100u);
  const auto r = load_write_back_config(missing);
  ASSERT_FALSE(r);
  EXPECT_MENTIONS(r.error().context(), missing);
  const std::string bad = (deep / "bad.json").string();
  std::ofstream(bad, std::ios::binary) << with(valid_config, "\"name\": \"scores\"", "\"name\": \"memories\"");
  const auto b = load_write_back_config(bad);
  ASSERT_FALSE(b);
  EXPECT_MENTIONS(b.error().context(), bad);
  EXPECT_MENTIONS(b.error().context(), "stages[1].name: \"memories\" is used twice");
}

TEST_F(LoadWriteBackConfig, RefusesAFileLargerThan1MiB) {
  std::string text(valid_config);
  text.append(std::size_t{3} * 1024 * 1024, ' ');
  const auto r = load_write_back_config(write("huge.json", text));
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error() == errc::invalid_argument) << r.error().message();
  EXPECT_MENTIONS(r.error().context(), "the limit is 1048576");
}

TEST_F(LoadWriteBackConfig, RefusesAnEndlessFileAfterReadingOnlyTheLimit) {
  const auto r = load_write_back_config("/dev/zero");
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error() == errc::invalid_argument) << r.error().message();
  EXPECT_MENTIONS(r.error().context(), "\"/dev/zero\": more than 1048576 bytes");
}

}  // namespace
