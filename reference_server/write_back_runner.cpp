#include "write_back_runner.hpp"

#include <duckdb.h>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <string_view>

#include "storesync/core/detail/json_scan.hpp"
#include "storesync/core/detail/text.hpp"
#include "storesync/store/duckdb_instance.hpp"
#include "storesync/store/duckdb_query_source.hpp"
#include "storesync/store/detail/sql_text.hpp"
#include "storesync/store/duckdb_store.hpp"
#include "storesync/store/jsonl_store.hpp"
#include "storesync/store/postgres_store.hpp"
#include "storesync/store/sqlite_store.hpp"

namespace storesync::server {
namespace {

using kind = write_back_endpoint::kind;

// DuckDB's quoting is SQL's (the adapters' shared helper).
using detail::sql_identifier;
using detail::sql_literal;

struct column {
  std::string name;
  std::string type;
};

bool is_timestamp(const std::string& type) { return type.starts_with("TIMESTAMP"); }

// The columns of a DuckDB table, in order.
result<std::vector<column>> duckdb_columns(duckdb_instance& db, const write_back_source_config& src) {
  duckdb_connection conn = nullptr;
  if (duckdb_connect(db.native(), &conn) != DuckDBSuccess)
    return error{errc::connection_failed, "connecting to " + db.where()};
  std::string sql = "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = " +
                    sql_literal(src.table);
  sql += " AND table_catalog = current_database() AND table_schema = " +
         (src.schema.empty() ? std::string("current_schema()") : sql_literal(src.schema));
  sql += " ORDER BY ordinal_position";
  duckdb_result r;
  std::vector<column> out;
  std::optional<error> failed;
  if (duckdb_query(conn, sql.c_str(), &r) != DuckDBSuccess) {
    failed = error{errc::backend_failure, "reading the columns of " + detail::quoted(src.table) + ": " +
                                              (duckdb_result_error(&r) ? duckdb_result_error(&r) : "")};
  } else {
    for (idx_t i = 0; i < duckdb_row_count(&r); ++i) {
      char* name = duckdb_value_varchar(&r, 0, i);
      char* type = duckdb_value_varchar(&r, 1, i);
      out.push_back({name ? name : "", type ? type : ""});
      duckdb_free(name);
      duckdb_free(type);
    }
  }
  duckdb_destroy_result(&r);
  duckdb_disconnect(&conn);
  if (failed) return *failed;
  if (out.empty()) return error{errc::invalid_argument, "DuckDB table " + detail::quoted(src.table) + " not found in " + db.where()};
  return out;
}

// The query that reads a DuckDB table as entries: the key (a JSON array of
// the key columns' text for several), the version (microseconds for a
// timestamp), and the value columns as a JSON object, timestamps in RFC 3339.
result<std::string> duckdb_table_query(duckdb_instance& db, const write_back_stage_config& s) {
  BOOST_OUTCOME_TRY(auto cols, duckdb_columns(db, s.source));
  const auto find = [&](const std::string& name) -> const column* {
    for (const column& c : cols)
      if (c.name == name) return &c;
    return nullptr;
  };
  const auto missing = [&](const std::string& name) {
    return error{errc::invalid_argument, "stage " + detail::quoted(s.name) + ": table " + detail::quoted(s.source.table) +
                                             " has no column " + detail::quoted(name)};
  };
  std::string key;
  if (s.source.key.size() == 1) {
    if (!find(s.source.key[0])) return missing(s.source.key[0]);
    key = "CAST(" + sql_identifier(s.source.key[0]) + " AS VARCHAR)";
  } else {
    key = "CAST(to_json([";
    for (std::size_t i = 0; i < s.source.key.size(); ++i) {
      if (!find(s.source.key[i])) return missing(s.source.key[i]);
      key += (i ? ", " : "") + std::string("CAST(") + sql_identifier(s.source.key[i]) + " AS VARCHAR)";
    }
    key += "]) AS VARCHAR)";
  }
  const column* version = find(s.source.version);
  if (!version) return missing(s.source.version);
  const std::string v = sql_identifier(version->name);
  const std::string version_expr = is_timestamp(version->type) ? "epoch_us(" + v + ")"
                                   : version->type == "DATE"   ? "epoch_us(CAST(" + v + " AS TIMESTAMP))"
                                                               : "CAST(" + v + " AS BIGINT)";
  std::vector<const column*> values;
  if (s.source.value.empty()) {
    for (const column& c : cols) {
      const bool is_key = std::find(s.source.key.begin(), s.source.key.end(), c.name) != s.source.key.end();
      if (!is_key && c.name != s.source.version) values.push_back(&c);
    }
  } else {
    for (const std::string& name : s.source.value) {
      const column* c = find(name);
      if (!c) return missing(name);
      values.push_back(c);
    }
  }
  std::string value = "CAST(json_object(";
  for (std::size_t i = 0; i < values.size(); ++i) {
    const std::string c = sql_identifier(values[i]->name);
    std::string e = c;
    if (is_timestamp(values[i]->type)) e = "strftime(make_timestamp(epoch_us(" + c + ")), '%Y-%m-%dT%H:%M:%S.%fZ')";
    else if (values[i]->type == "DATE") e = "strftime(" + c + ", '%Y-%m-%d')";
    value += (i ? ", " : "") + sql_literal(values[i]->name) + ", " + e;
  }
  value += ") AS VARCHAR)";
  std::string from = sql_identifier(s.source.table);
  if (!s.source.schema.empty()) from = sql_identifier(s.source.schema) + "." + from;
  return "SELECT " + key + " AS key, " + version_expr + " AS version, " + value + " AS value FROM " + from;
}

// A DuckDB source's key is the key columns' value (one) or a JSON array of
// them (several); a typed sink encodes it (table_mapping.hpp).
write_back_transform key_encoding(const write_back_stage_config& s) {
  if (!s.sink.mapping) return {};
  return [m = *s.sink.mapping](entry e) -> result<entry> {
    std::vector<std::string> parts;
    if (m.key.size() == 1) {
      parts.push_back(e.key);
    } else {
      const auto bad = error{errc::invalid_key, "key " + detail::quoted(e.key) + " is not a JSON array of " +
                                                    std::to_string(m.key.size()) + " key values"};
      if (detail::scan_json(e.key, {4, false, false}) || !e.key.starts_with('[')) return bad;
      detail::json_elements(e.key, [&](std::string_view part) {
        parts.push_back(part.starts_with('"') ? detail::json_unescape(part) : std::string(part));
      });
    }
    std::vector<std::string_view> views(parts.begin(), parts.end());
    BOOST_OUTCOME_TRY(auto key, encode_key(m, views));
    e.key = std::move(key);
    return e;
  };
}

write_back_stage_options stage_options(const write_back_stage_config& s, bool duckdb_source) {
  write_back_stage_options o;
  o.lookback = s.lookback;
  o.unique_keys = s.unique_keys;
  if (!s.required.empty()) o.checks.push_back(checks::required_fields(s.required));
  const std::string& version_column = s.sink.mapping ? s.sink.mapping->version_column : s.source.version;
  for (const auto& [later, earlier] : s.not_before) {
    if (later == version_column || later == s.source.version) o.checks.push_back(checks::version_not_before(later, earlier));
    else o.checks.push_back(checks::not_before(later, earlier));
  }
  if (duckdb_source) o.transform = key_encoding(s);
  return o;
}

// Opened DuckDB files, so a source and a sink in one file share an instance.
struct duckdb_files {
  std::string memory_limit;
  std::vector<std::pair<std::string, std::shared_ptr<duckdb_instance>>> open;

  result<std::shared_ptr<duckdb_instance>> get(const std::string& path) {
    for (auto& [p, db] : open)
      if (p == path) return db;
    BOOST_OUTCOME_TRY(auto db, duckdb_instance::open({.path = path, .memory_limit = memory_limit}));
    open.emplace_back(path, db);
    return db;
  }
};

// Where a sink keeps its run log and dead letters: beside it, in the same
// kind of store, except that a JSON Lines directory (not scannable) keeps
// them in a SQLite file inside it.
template <class Sink>
using log_store_for = std::conditional_t<std::is_same_v<Sink, jsonl_store>, sqlite_store, Sink>;

template <class Sink>
result<Sink> open_sink_table(const write_back_endpoint& at, duckdb_files& files, const std::string& schema,
                             const std::string& table, const std::optional<table_mapping>& mapping) {
  if constexpr (std::is_same_v<Sink, jsonl_store>) {
    return jsonl_store::open({.directory = at.location + "/" + table});
  } else if constexpr (std::is_same_v<Sink, postgres_store>) {
    postgres_config pc{.url = at.location, .table = table, .pool_size = 2, .mapping = mapping};
    if (!schema.empty()) pc.schema = schema;
    return postgres_store::open(std::move(pc));
  } else if constexpr (std::is_same_v<Sink, sqlite_store>) {
    return sqlite_store::open({.path = at.location, .table = table, .mapping = mapping});
  } else {
    BOOST_OUTCOME_TRY(auto db, files.get(at.location));
    return duckdb_store::open(db, {.table = table, .mapping = mapping});
  }
}

// The run log or dead-letter table of `c`'s sink.
template <class Sink>
result<log_store_for<Sink>> open_log(const write_back_config& c, duckdb_files& files, const std::string& table) {
  if constexpr (std::is_same_v<Sink, jsonl_store>) {
    std::error_code ec;
    std::filesystem::create_directories(c.sink.location, ec);
    if (ec) return error{ec, "creating " + c.sink.location};
    return sqlite_store::open({.path = c.sink.location + "/storesync_write_back.db", .table = table});
  } else {
    return open_sink_table<Sink>(c.sink, files, {}, table, std::nullopt);
  }
}

template <class Source>
result<Source> open_source(const write_back_config& c, duckdb_files& files, const write_back_stage_config& s) {
  const write_back_endpoint& at = c.source;
  if constexpr (std::is_same_v<Source, duckdb_query_source>) {
    BOOST_OUTCOME_TRY(auto db, files.get(at.location));
    std::string query = s.source.query;
    if (query.empty()) {
      BOOST_OUTCOME_TRY(auto built, duckdb_table_query(*db, s));
      query = std::move(built);
    }
    return duckdb_query_source::open(db, std::move(query), {.window_rows = c.duckdb_window_rows});
  } else if constexpr (std::is_same_v<Source, jsonl_source>) {
    return jsonl_source::open({.directory = at.location + "/" + s.source.table});
  } else if constexpr (std::is_same_v<Source, postgres_store>) {
    postgres_config pc{.url = at.location, .table = s.source.table, .create_if_missing = false, .pool_size = 2,
                       .mapping = s.source.mapping};
    if (!s.source.schema.empty()) pc.schema = s.source.schema;
    return postgres_store::open(std::move(pc));
  } else {
    return sqlite_store::open({.path = at.location, .table = s.source.table, .mapping = s.source.mapping});
  }
}

error opening(const error& e, std::string_view what, std::string_view name) {
  return error{e.code(), std::string(what) + " of stage " + detail::quoted(name) + ": " + e.context()};
}

template <class Source, class Sink>
result<write_back_outcome> run_with(const write_back_config& c, const write_back_request& req,
                                    const std::vector<const write_back_stage_config*>& chosen, write_back_outcome out) {
  duckdb_files files{c.duckdb_memory_limit, {}};
  std::vector<Source> sources;
  std::vector<Sink> sinks;
  sources.reserve(chosen.size());
  sinks.reserve(chosen.size());
  // Sources first: a source that cannot be opened (a misspelt table) stops
  // the run before any sink table is created.
  for (const write_back_stage_config* s : chosen) {
    auto source = open_source<Source>(c, files, *s);
    if (!source) return opening(source.error(), "source", s->name);
    sources.push_back(std::move(source).value());
  }
  for (const write_back_stage_config* s : chosen) {
    auto sink = open_sink_table<Sink>(c.sink, files, s->sink.schema, s->sink.table, s->sink.mapping);
    if (!sink) return opening(sink.error(), "sink", s->name);
    sinks.push_back(std::move(sink).value());
  }
  auto runs = open_log<Sink>(c, files, c.runs_table);
  if (!runs) return error{runs.error().code(), "run log: " + runs.error().context()};
  auto letters = open_log<Sink>(c, files, c.dead_letters_table);
  if (!letters) return error{letters.error().code(), "dead-letter table: " + letters.error().context()};

  using strategy = write_back<Source, Sink, log_store_for<Sink>, exponential_backoff, aimd_batch_sizer>;
  std::vector<typename strategy::stage> stages;
  bool timestamps = !chosen.empty();
  for (std::size_t i = 0; i < chosen.size(); ++i) {
    const write_back_stage_config& s = *chosen[i];
    stages.push_back({.name = s.name,
                      .source = sources[i],
                      .sink = sinks[i],
                      .options = stage_options(s, std::is_same_v<Source, duckdb_query_source>)});
    const auto* m = s.sink.mapping ? &*s.sink.mapping : s.source.mapping ? &*s.source.mapping : nullptr;
    timestamps = timestamps && m && m->version_type == version_column_type::timestamptz;
  }

  // What each stage has to read, where the source can count it.
  std::vector<std::optional<std::uint64_t>> totals(chosen.size());
  if constexpr (requires(Source& src, const watermark& m) { src.count_after(m); }) {
    for (std::size_t i = 0; i < chosen.size(); ++i) {
      auto saved = sinks[i].load_checkpoint(strategy::checkpoint_name(chosen[i]->name));
      if (!saved) continue;
      watermark mark;
      if (saved.value()) {
        auto decoded = decode_watermark(*saved.value());
        if (!decoded) continue;
        mark = std::move(decoded).value();
      }
      if (chosen[i]->lookback > 0) mark = {std::max<version_type>(0, mark.version - chosen[i]->lookback), {}};
      if (auto n = sources[i].count_after(mark)) totals[i] = n.value();
    }
  }

  write_back_options options{.dry_run = req.dry_run, .stop = req.stop, .timestamp_versions = timestamps};
  if (req.on_batch) {
    options.on_batch = [&](const write_back_report& r, const write_back_stage_report& s) {
      req.on_batch(r, s, totals[r.stages.size() - 1]);
    };
  }
  strategy wb(runs.value(), letters.value(), std::move(options), exponential_backoff{c.retry}, aimd_batch_sizer{c.batch});
  BOOST_OUTCOME_TRY(auto report, wb.run(stages));
  out.report = std::move(report);
  return out;
}

template <class Source>
result<write_back_outcome> run_from(const write_back_config& c, const write_back_request& req,
                                    const std::vector<const write_back_stage_config*>& chosen, write_back_outcome out) {
  switch (c.sink.type) {
    case kind::postgresql: return run_with<Source, postgres_store>(c, req, chosen, std::move(out));
    case kind::sqlite: return run_with<Source, sqlite_store>(c, req, chosen, std::move(out));
    case kind::duckdb: return run_with<Source, duckdb_store>(c, req, chosen, std::move(out));
    case kind::jsonl: return run_with<Source, jsonl_store>(c, req, chosen, std::move(out));
  }
  return error{errc::invalid_argument, "unknown sink"};
}

template <class Sink>
result<std::vector<write_back_run>> list_runs(const write_back_config& c, std::size_t limit, std::string_view before) {
  duckdb_files files{c.duckdb_memory_limit, {}};
  BOOST_OUTCOME_TRY(auto log, open_log<Sink>(c, files, c.runs_table));
  return read_write_back_runs(log, limit, before);
}

}  // namespace

nlohmann::ordered_json batch_progress_json(const write_back_report& run, const write_back_stage_report& s,
                                           std::optional<std::uint64_t> total) {
  return {{"run", run.run_id},
          {"stage", s.stage},
          {"batches", s.batches},
          {"read", s.counts.read},
          {"written", s.counts.applied},
          {"unchanged", s.counts.unchanged + s.counts.same_content},
          {"stale", s.counts.stale},
          {"dead_lettered", s.counts.dead_lettered},
          {"rows_per_s", static_cast<std::uint64_t>(s.rows_per_second())},
          {"watermark", encode_watermark(s.to)},
          {"total", total ? nlohmann::ordered_json(*total) : nlohmann::ordered_json()}};
}

result<std::vector<write_back_run>> list_write_back_runs(const write_back_config& config, std::size_t limit,
                                                         std::string_view before) {
  switch (config.sink.type) {
    case kind::postgresql: return list_runs<postgres_store>(config, limit, before);
    case kind::sqlite: return list_runs<sqlite_store>(config, limit, before);
    case kind::duckdb: return list_runs<duckdb_store>(config, limit, before);
    case kind::jsonl: return list_runs<jsonl_store>(config, limit, before);
  }
  return error{errc::invalid_argument, "unknown sink"};
}

result<write_back_outcome> run_write_back(const write_back_config& config, const write_back_request& request) {
  write_back_outcome out;
  std::vector<const write_back_stage_config*> chosen;
  for (const std::string& name : request.only) {
    const bool known = std::any_of(config.stages.begin(), config.stages.end(),
                                   [&](const write_back_stage_config& s) { return s.name == name; });
    if (!known) return error{errc::invalid_argument, "--stage " + detail::quoted(name) + ": no such stage in the config"};
  }
  for (const write_back_stage_config& s : config.stages) {
    if (!request.only.empty() && std::find(request.only.begin(), request.only.end(), s.name) == request.only.end()) {
      out.skipped.emplace_back(s.name, "not selected (--stage)");
      continue;
    }
    if (request.dbt != nullptr) {
      const dbt_node_result* node = request.dbt->model(s.dbt_model);
      if (node == nullptr) {
        out.skipped.emplace_back(s.name, "dbt model " + detail::quoted(s.dbt_model) + " is not in run_results.json");
        continue;
      }
      if (node->status != "success") {
        std::string why = "dbt model " + detail::quoted(s.dbt_model) + " has status " + detail::quoted(node->status);
        if (!node->message.empty()) why += ": " + node->message;
        out.skipped.emplace_back(s.name, std::move(why));
        continue;
      }
    }
    chosen.push_back(&s);
  }
  if (chosen.empty()) {
    out.report.dry_run = request.dry_run;
    return out;
  }
  switch (config.source.type) {
    case kind::duckdb: return run_from<duckdb_query_source>(config, request, chosen, std::move(out));
    case kind::postgresql: return run_from<postgres_store>(config, request, chosen, std::move(out));
    case kind::sqlite: return run_from<sqlite_store>(config, request, chosen, std::move(out));
    case kind::jsonl: return run_from<jsonl_source>(config, request, chosen, std::move(out));
  }
  return error{errc::invalid_argument, "unknown source"};
}

}  // namespace storesync::server
