#pragma once
/// \file
/// `duckdb_instance`: one open DuckDB database, shared by the `duckdb_store`s
/// and `duckdb_query_source`s that work on it. DuckDB lets one process open a
/// database file once, so adapters on the same file share an instance.
///
/// \code
///   auto db = storesync::duckdb_instance::open({.path = "analytics.duckdb",
///                                              .memory_limit = "2GB"});
///   if (!db) return db.error();     // e.g. "... is not a valid DuckDB database file"
///   auto results = storesync::duckdb_store::open(db.value(), {.table = "scores"});
///   auto source = storesync::duckdb_query_source::open(
///       db.value(), "SELECT id AS key, to_json(s) AS value, rev AS version FROM scores_v s");
/// \endcode
///
/// Thread safety: the instance is immutable once open; every adapter on it
/// opens its own connections. `writer_mutex()` is the one lock every
/// `duckdb_store` on the instance writes under, so two stores on the same
/// table never write at the same time.

#include <duckdb.h>

#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "storesync/core/result.hpp"
#include "storesync/store/detail/duckdb_connection.hpp"

namespace storesync {

/// How a DuckDB database is opened.
struct duckdb_instance_options {
  /// The database file; empty for an in-memory database.
  std::string path;
  /// DuckDB's `memory_limit` (e.g. "1GB"); empty: DuckDB's default (80% of RAM).
  std::string memory_limit;
  /// DuckDB's worker `threads`; 0: DuckDB's default (one per core).
  int threads = 0;
};

class duckdb_instance {
 public:
  /// Opens (creating if needed) the database. A file that is not a DuckDB
  /// database fails with `errc::corrupt` naming it; an unwritable location
  /// with `errc::storage_failure`.
  static result<std::shared_ptr<duckdb_instance>> open(const duckdb_instance_options& options) {
    const std::string where =
        "duckdb \"" + (options.path.empty() ? std::string(":memory:") : options.path) + "\"";
    duckdb_config config = nullptr;
    if (duckdb_create_config(&config) == DuckDBError)
      return error{errc::resource_exhausted, where + ": cannot create a configuration"};
    struct config_guard {
      duckdb_config& c;
      ~config_guard() { duckdb_destroy_config(&c); }
    } guard{config};
    auto set = [&](const char* name, const std::string& value) -> result<void> {
      if (duckdb_set_config(config, name, value.c_str()) == DuckDBError)
        return error{errc::invalid_argument,
                     where + ": invalid " + name + " " + detail::quoted(value)};
      return success();
    };
    if (!options.memory_limit.empty()) {
      BOOST_OUTCOME_TRY(set("memory_limit", options.memory_limit));
    }
    if (options.threads > 0) {
      BOOST_OUTCOME_TRY(set("threads", std::to_string(options.threads)));
    }
    duckdb_database db = nullptr;
    char* message = nullptr;
    const char* path = options.path.empty() ? nullptr : options.path.c_str();
    if (duckdb_open_ext(path, &db, config, &message) == DuckDBError) {
      const std::string m = message ? message : "unknown error";
      if (message) duckdb_free(message);
      auto e = detail::duckdb_error(detail::duckdb_type_of_message(m), m, where, "opening");
      // An open that fails for another reason than the file's content is a
      // storage problem (missing directory, permissions, a lock).
      if (!(e == errc::corrupt) && !(e == errc::invalid_argument))
        return error{errc::storage_failure, e.context()};
      return e;
    }
    return std::shared_ptr<duckdb_instance>(new duckdb_instance(db, options.path, where));
  }

  duckdb_instance(const duckdb_instance&) = delete;
  duckdb_instance& operator=(const duckdb_instance&) = delete;
  ~duckdb_instance() { duckdb_close(&db_); }

  /// The C API handle, for code that talks to DuckDB directly.
  duckdb_database native() const noexcept { return db_; }
  /// The database file; empty for an in-memory database.
  const std::string& path() const noexcept { return path_; }
  /// How messages name this database: `duckdb "<path>"`.
  const std::string& where() const noexcept { return where_; }
  /// Held by every `duckdb_store` on this instance while it writes.
  std::mutex& writer_mutex() const noexcept { return writer_mutex_; }

 private:
  duckdb_instance(duckdb_database db, std::string path, std::string where)
      : db_(db), path_(std::move(path)), where_(std::move(where)) {}

  duckdb_database db_;
  std::string path_;
  std::string where_;
  mutable std::mutex writer_mutex_;
};

}  // namespace storesync
