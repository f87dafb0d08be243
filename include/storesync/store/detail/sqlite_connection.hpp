#pragma once
// Internals of sqlite_store: an owning connection with a prepared-statement
// cache, the mapping of SQLite result codes onto storesync errors, the
// wrapping 64-bit sum aggregate used by checksums, and the pool of reader
// connections. Not part of the public API.

#include <sqlite3.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "storesync/core/detail/text.hpp"
#include "storesync/core/entry.hpp"
#include "storesync/core/result.hpp"
#include "storesync/store/detail/connection_pool.hpp"
#include "storesync/store/detail/hash_blob.hpp"
#include "storesync/store/detail/sql_text.hpp"

namespace storesync::detail {

/// A file path as shown in messages: quoted, never shortened (unlike keys).
inline std::string quoted_path(std::string_view path) { return "\"" + std::string(path) + "\""; }

/// Maps a SQLite result code onto storesync's errors. `path` is the database
/// file, named in every message; `doing` says what the call was doing.
inline error sqlite_error(int rc, std::string_view message, const std::string& path,
                          std::string_view doing) {
  std::string where = "sqlite " + quoted_path(path) + ": " + std::string(doing);
  if (!message.empty()) where += ": " + std::string(message);
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return error{errc::busy, std::move(where)};
    case SQLITE_FULL:
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
    case SQLITE_READONLY:
    case SQLITE_AUTH:
    case SQLITE_PROTOCOL:
      return error{errc::storage_failure, std::move(where)};
    case SQLITE_CONSTRAINT:
    case SQLITE_MISMATCH:
    case SQLITE_TOOBIG:
    case SQLITE_RANGE:
      return error{errc::constraint_violation, std::move(where)};
    case SQLITE_NOTADB:
      return error{errc::corrupt, "file " + quoted_path(path) + " is not a SQLite database (" +
                                      std::string(doing) + ")"};
    case SQLITE_CORRUPT:
      return error{errc::corrupt, "SQLite database file " + quoted_path(path) + " is corrupt (" +
                                      std::string(doing) + "): " + std::string(message)};
    case SQLITE_NOMEM:
      return error{errc::resource_exhausted, std::move(where)};
    case SQLITE_INTERRUPT:
      return error{errc::timeout, std::move(where)};
    case SQLITE_SCHEMA:
      return error{errc::busy, std::move(where)};  // the schema changed under us: retry
    default:
      return error{errc::backend_failure, std::move(where)};
  }
}

// Wrapping unsigned 64-bit sum: SQLite's sum() raises on integer overflow, and
// the range checksum is defined modulo 2^64.
inline void sqlite_sum64_step(sqlite3_context* ctx, int, sqlite3_value** argv) {
  auto* acc = static_cast<std::uint64_t*>(sqlite3_aggregate_context(ctx, sizeof(std::uint64_t)));
  if (acc == nullptr) {
    sqlite3_result_error_nomem(ctx);
    return;
  }
  if (sqlite3_value_type(argv[0]) != SQLITE_NULL)
    *acc += static_cast<std::uint64_t>(sqlite3_value_int64(argv[0]));
}

inline void sqlite_sum64_final(sqlite3_context* ctx) {
  auto* acc = static_cast<std::uint64_t*>(sqlite3_aggregate_context(ctx, 0));
  sqlite3_result_int64(ctx, acc ? static_cast<sqlite3_int64>(*acc) : 0);
}

struct sqlite_db_closer {
  void operator()(sqlite3* db) const noexcept { sqlite3_close_v2(db); }
};
struct sqlite_stmt_finalizer {
  void operator()(sqlite3_stmt* s) const noexcept { sqlite3_finalize(s); }
};

/// Resets a cached statement when the scope ends, whatever happened.
class sqlite_reset_guard {
 public:
  explicit sqlite_reset_guard(sqlite3_stmt* s) noexcept : s_(s) {}
  sqlite_reset_guard(const sqlite_reset_guard&) = delete;
  sqlite_reset_guard& operator=(const sqlite_reset_guard&) = delete;
  ~sqlite_reset_guard() { sqlite3_reset(s_); }

 private:
  sqlite3_stmt* s_;
};

/// One SQLite connection and its prepared statements. Not thread-safe: the
/// store serialises the writer and leases readers to one thread at a time.
class sqlite_connection {
 public:
  /// Opens `path` with `flags`, sets the busy timeout and registers
  /// storesync_sum64(). Never leaves a half-open handle behind.
  static result<sqlite_connection> open(const std::string& path, int flags,
                                        std::chrono::milliseconds busy_timeout) {
    sqlite3* raw = nullptr;
    const int rc = sqlite3_open_v2(path.c_str(), &raw, flags | SQLITE_OPEN_NOMUTEX, nullptr);
    std::unique_ptr<sqlite3, sqlite_db_closer> db(raw);
    if (rc != SQLITE_OK)
      return sqlite_error(rc, raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc), path, "opening");
    sqlite3_extended_result_codes(raw, 1);
    sqlite3_busy_timeout(raw, static_cast<int>(busy_timeout.count()));
    const int frc = sqlite3_create_function_v2(raw, "storesync_sum64", 1,
                                               SQLITE_UTF8 | SQLITE_DETERMINISTIC, nullptr,
                                               nullptr, &sqlite_sum64_step, &sqlite_sum64_final,
                                               nullptr);
    if (frc != SQLITE_OK)
      return sqlite_error(frc, sqlite3_errmsg(raw), path, "registering storesync_sum64");
    return sqlite_connection(std::move(db), path);
  }

  sqlite3* get() const noexcept { return db_.get(); }
  const std::string& path() const noexcept { return path_; }

  /// The error for `rc`, with this connection's message.
  error fail(int rc, std::string_view doing) const {
    return sqlite_error(rc, sqlite3_errmsg(db_.get()), path_, doing);
  }

  /// Runs statements that return no rows we need.
  result<void> exec(const std::string& sql, std::string_view doing) {
    const int rc = sqlite3_exec(db_.get(), sql.c_str(), nullptr, nullptr, nullptr);
    if (rc != SQLITE_OK) return fail(rc, doing);
    return success();
  }

  /// A prepared statement for `sql`, compiled once per connection and reused.
  result<sqlite3_stmt*> prepare(const std::string& sql) {
    if (const auto it = cache_.find(sql); it != cache_.end()) return it->second.get();
    sqlite3_stmt* raw = nullptr;
    const int rc = sqlite3_prepare_v3(db_.get(), sql.c_str(), static_cast<int>(sql.size()),
                                      SQLITE_PREPARE_PERSISTENT, &raw, nullptr);
    if (rc != SQLITE_OK) return fail(rc, "preparing " + sql);
    cache_.emplace(sql, std::unique_ptr<sqlite3_stmt, sqlite_stmt_finalizer>(raw));
    return raw;
  }

 private:
  sqlite_connection(std::unique_ptr<sqlite3, sqlite_db_closer> db, std::string path)
      : db_(std::move(db)), path_(std::move(path)) {}

  // Declared first, destroyed last: statements are finalised before the close.
  std::unique_ptr<sqlite3, sqlite_db_closer> db_;
  std::string path_;
  std::unordered_map<std::string, std::unique_ptr<sqlite3_stmt, sqlite_stmt_finalizer>> cache_;
};

/// Binds text that outlives the statement's next step.
inline int sqlite_bind_text(sqlite3_stmt* s, int i, std::string_view text) noexcept {
  return sqlite3_bind_text64(s, i, text.data(), text.size(), SQLITE_STATIC, SQLITE_UTF8);
}

inline std::string_view sqlite_column_text(sqlite3_stmt* s, int i) noexcept {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s, i));
  return p ? std::string_view(p, static_cast<std::size_t>(sqlite3_column_bytes(s, i)))
           : std::string_view();
}

/// Decodes the row (key, version, hash, value, tombstone) at the cursor.
inline result<entry> sqlite_row_entry(sqlite3_stmt* s, const std::string& path) {
  entry e;
  e.key = std::string(sqlite_column_text(s, 0));
  e.version = sqlite3_column_int64(s, 1);
  const void* blob = sqlite3_column_blob(s, 2);
  if (sqlite3_column_bytes(s, 2) != 16 || blob == nullptr)
    return error{errc::corrupt, "SQLite database file " + quoted_path(path) + ": key " + detail::quoted(e.key) +
                                    ": hash is not 16 bytes"};
  e.hash = hash_from_blob(static_cast<const unsigned char*>(blob));
  e.tombstone = sqlite3_column_int(s, 4) != 0;
  if (!e.tombstone) e.value = std::string(sqlite_column_text(s, 3));
  return e;
}

/// The reader connections of one database file.
using sqlite_reader_pool = connection_pool<sqlite_connection>;

/// Opens read-only connections to `path` for a `sqlite_reader_pool`.
inline sqlite_reader_pool::opener sqlite_reader_opener(std::string path,
                                                       std::chrono::milliseconds busy_timeout) {
  return [path = std::move(path), busy_timeout]() -> result<std::unique_ptr<sqlite_connection>> {
    BOOST_OUTCOME_TRY(auto c, sqlite_connection::open(path, SQLITE_OPEN_READONLY, busy_timeout));
    return std::make_unique<sqlite_connection>(std::move(c));
  };
}

}  // namespace storesync::detail
