#pragma once
// The write-back configuration that `storesync-writeback` and the reference
// server's `--write-back-config` read: a JSON file, checked whole before
// anything is opened, with errors that name the member that is wrong
// (`stages[1].sink: table mapping: key[0]: ...`).
//
//   {
//     "source": "duckdb:analytics.duckdb",          // or sqlite:PATH, postgresql://...
//     "sink": "postgresql://app@db/app",            // or sqlite:PATH, duckdb:PATH
//     "stages": [{
//       "name": "memories",
//       "source": {"table": "memories", "key": ["id"], "version": "updated_at"},
//       "sink": {"table": "memories", "key": [{"column": "id", "type": "bigint"}],
//                "version": {"column": "updated_at", "type": "timestamptz"},
//                "fields": [{"field": "content", "type": "text"}, ...]},
//       "lookback_ms": 600000,
//       "checks": {"required": ["content"], "not_before": [["updated_at", "created_at"]]},
//       "dbt_model": "memories"
//     }],
//     "batch": {"initial_size": 1000, "max_size": 10000},   // aimd_batch_sizer
//     "retry": {"base_ms": 50, "max_attempts": 6},          // exponential_backoff
//     "runs_table": "storesync_write_back_runs",
//     "dead_letters_table": "storesync_write_back_dead_letters",
//     "duckdb_memory_limit": "256MB"
//   }
//
// docs/write-back.md describes every member.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "storesync/core/entry.hpp"
#include "storesync/core/result.hpp"
#include "storesync/policy/aimd_batch_sizer.hpp"
#include "storesync/policy/exponential_backoff.hpp"
#include "storesync/store/table_mapping.hpp"

namespace storesync::server {

/// A database the tool reads or writes: `duckdb:PATH`, `sqlite:PATH`, a
/// PostgreSQL URL (`postgresql://` or `postgres://`), or `jsonl:DIR`, a
/// directory of JSON Lines (jsonl_store.hpp) where each stage's `table`
/// names a subdirectory.
struct write_back_endpoint {
  enum class kind { duckdb, sqlite, postgresql, jsonl };
  kind type = kind::sqlite;
  /// The file, or the URL.
  std::string location;
};

/// `text` as an endpoint; `invalid_argument` naming `what` otherwise.
result<write_back_endpoint> parse_endpoint(std::string_view text, std::string_view what);

/// Where a stage reads. A DuckDB source takes a `query` (columns `key`,
/// `value`, `version`, see duckdb_query_source.hpp) or a `table` with its
/// `key` columns, `version` column and `value` columns (default: every
/// other column). A PostgreSQL or SQLite source is a storesync table: a
/// JSON `table`, or a typed table mapping.
struct write_back_source_config {
  std::string query;
  std::string schema;
  std::string table;
  std::vector<std::string> key;
  std::string version;
  std::vector<std::string> value;
  std::optional<table_mapping> mapping;
};

/// Where a stage writes: a JSON `table`, or a typed table mapping.
struct write_back_sink_config {
  std::string schema;
  std::string table;
  std::optional<table_mapping> mapping;
};

struct write_back_stage_config {
  std::string name;
  write_back_source_config source;
  write_back_sink_config sink;
  /// Re-read this far behind the watermark (version units: microseconds
  /// when versions are timestamps; `lookback_ms` sets it in milliseconds).
  version_type lookback = 0;
  std::vector<std::string> required;
  /// (later, earlier) field pairs; a name equal to the stage's version
  /// column stands for the entry's version.
  std::vector<std::pair<std::string, std::string>> not_before;
  /// The dbt model this stage lands (default: the stage's name).
  std::string dbt_model;
  /// Dead-letter a key's second row in a run (write_back.hpp, "Unique
  /// keys"); default: on, except for a jsonl: source, a log of changes.
  bool unique_keys = true;
};

struct write_back_config {
  write_back_endpoint source;
  write_back_endpoint sink;
  std::vector<write_back_stage_config> stages;
  /// Write-back moves bulk: batches of 20,000 rows, smaller only while
  /// batches fail or run past the target time. Larger batches cost memory
  /// and gain little (docs/benchmarks.md, write-back).
  aimd_batch_sizer::config batch = {.min_size = 1,
                                    .max_size = 20'000,
                                    .initial_size = 20'000,
                                    .additive_step = 5'000};
  exponential_backoff::config retry = {};
  std::string runs_table = "storesync_write_back_runs";
  std::string dead_letters_table = "storesync_write_back_dead_letters";
  std::string duckdb_memory_limit = "256MB";
  /// Rows per window of a DuckDB source (duckdb_query_source.hpp): DuckDB
  /// sorts one window at a time.
  std::size_t duckdb_window_rows = 65'536;
};

/// Largest configuration file read, and its deepest nesting.
inline constexpr std::size_t max_write_back_config_size = 1024 * 1024;
inline constexpr std::size_t max_write_back_config_depth = 32;

/// Parses and checks a configuration; `invalid_argument` naming the member
/// that is wrong. Never throws.
result<write_back_config> parse_write_back_config(std::string_view text);

/// Reads and parses the file at `path`; errors name the path.
result<write_back_config> load_write_back_config(const std::string& path);

}  // namespace storesync::server
