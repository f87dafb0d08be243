#pragma once
/// \file
/// `sqlite_store`: every store tier on one SQLite table. The embedded durable
/// store of the reference server: no database server, one file, WAL journal.
///
/// \code
///   auto opened = storesync::sqlite_store::open({.path = "data/records.db",
///                                               .table = "users"});
///   if (!opened) return opened.error();           // e.g. "file \"x\" is not a SQLite database"
///   storesync::sqlite_store& db = opened.value();
///   auto e = storesync::entry::put("user:42", R"({"name":"Ada"})", 7);
///   auto report = db.write_with_checkpoint(std::span(&e, 1), {"import", "v=7"});
///   auto sum = db.checksum({"user:", "user;"});   // (count, digest), same as any store
/// \endcode
///
/// Layout: one table per collection (`options.table`, quoted as an identifier)
/// with the logical columns every storesync SQL adapter shares:
///
/// | column     | type                 | meaning                                         |
/// |------------|----------------------|-------------------------------------------------|
/// | key        | TEXT PRIMARY KEY     | BINARY collation: byte-wise order               |
/// | version    | INTEGER NOT NULL     | the version guard compares this                 |
/// | hash       | BLOB NOT NULL        | 16-byte content hash (hi, lo; big-endian)       |
/// | row_hash   | INTEGER NOT NULL     | `row_hash(entry)` as a signed 64-bit integer    |
/// | value      | TEXT                 | JSON text as written; NULL for a tombstone      |
/// | tombstone  | INTEGER NOT NULL     | 1 for a tombstone (whose hash is zero)          |
/// | updated_at | INTEGER NOT NULL     | Unix time of the last applied write, in ms      |
///
/// plus an index on (version, key) for the change source, and a checkpoint
/// table (name PRIMARY KEY, value, updated_at). The entry table keeps its
/// rowid: rows are appended in arrival order and only the narrow key and
/// (version, key) indexes take random inserts, which keeps large batches in
/// random key order fast (a WITHOUT ROWID table, clustered on the key, is much
/// slower for them; bench/sqlite_benchmark.cc measures such writes). An
/// existing table of another shape is refused with `errc::schema_mismatch`
/// naming the column. A value is kept as the JSON text written, so any valid
/// JSON fits (`any_json`).
///
/// **A table of your own** (`sqlite_options::mapping`, see table_mapping.hpp):
/// the key column(s), the version column, storesync's metadata columns
/// (`hash_lo`, `hash_hi`, `row_hash`, `deleted`, and the encoded key for a
/// key that is not one text column) and a column per field. SQLite keeps each
/// value in one storage class, checked when read back: integer, bigint and
/// boolean (0/1) as INTEGER; double_precision as REAL; text, timestamptz
/// (`YYYY-MM-DDTHH:MM:SS.ffffffZ`, which sorts as time does), date and jsonb
/// as TEXT; numeric as TEXT holding the number as written, since SQLite has
/// no exact decimal (a NUMERIC column would turn `1.50` into the REAL 1.5).
/// SQLite writes an integral REAL as an integer, so a double -0 reads back
/// as 0 (equal as numbers; the content hash is still the written value's).
/// The version column is INTEGER; SQLite has no timestamp type, so a
/// timestamptz version column holds the microseconds since 1970-01-01 UTC
/// themselves (`datetime(version / 1000000, 'unixepoch')` reads one), with
/// the same bound, 9999-12-31T23:59:59.999999Z. An existing table gets the
/// metadata columns when it is empty and is refused when it holds rows
/// without them; one of another shape is refused naming every mismatch.
///
/// Writes: one `BEGIN IMMEDIATE` transaction per batch; each entry is an
/// upsert whose `DO UPDATE ... WHERE excluded.version > version` is the version
/// guard in SQL. Entries it did not apply are classified (unchanged or stale)
/// by reading the stored version in the same transaction, so the
/// `write_report` is exact. A checkpoint commits in the same transaction.
///
/// Checksums: `storesync_sum64(row_hash)`, an aggregate registered on every
/// connection that adds modulo 2^64 (SQLite's own `sum()` raises on overflow).
///
/// Lookups, restores and split points: `lookup` sends its keys as one JSON
/// array (`json_each`, each probing the primary key); `restore` is one UPDATE
/// or DELETE guarded by `version = expected` on the writer, in its own
/// transaction; `split_points` runs `ntile` over the primary key.
///
/// Errors: SQLite result codes map onto storesync's errors: BUSY/LOCKED ->
/// `errc::busy` (transient), FULL/IOERR/CANTOPEN/READONLY -> `storage_failure`
/// (unavailable), CONSTRAINT/MISMATCH -> `constraint_violation` (invalid input),
/// CORRUPT/NOTADB -> `errc::corrupt` (permanent) naming the file. A file that is
/// not a SQLite database, or a directory that cannot be written, fails in
/// `open` with such an error.
///
/// Thread safety: every member is safe to call from many threads. One writer
/// connection (behind a mutex) and a bounded pool of reader connections; WAL
/// lets readers run while a batch is written. A `SQLITE_BUSY` that outlives
/// the busy timeout is retried for reads; for writes it is returned as
/// `errc::busy`. Two `sqlite_store`s on one file serialise their writes
/// through SQLite's file lock (the busy timeout waits).

#include <sqlite3.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "storesync/core/detail/json_scan.hpp"
#include "storesync/core/detail/text.hpp"
#include "storesync/core/lookup.hpp"
#include "storesync/core/restore.hpp"
#include "storesync/core/store.hpp"
#include "storesync/store/detail/sqlite_connection.hpp"
#include "storesync/store/detail/sqlite_typed.hpp"
#include "storesync/store/table_mapping.hpp"

namespace storesync {

/// SQLite's `PRAGMA synchronous` for the writer connection.
enum class sqlite_synchronous {
  /// WAL + NORMAL: a commit survives a process crash; the last commits may be
  /// lost on power failure. The default.
  normal,
  /// WAL + FULL: every commit is fsync'ed; survives power failure.
  full,
};

/// How `sqlite_store::open` opens and lays out a database.
struct sqlite_options {
  /// The database file; created when missing. Its directory must be writable
  /// (WAL keeps `-wal` and `-shm` files beside it).
  std::string path;
  /// The table of this collection.
  std::string table = "storesync_entries";
  /// The table of named checkpoints (shared by collections in one file).
  std::string checkpoint_table = "storesync_checkpoints";
  sqlite_synchronous synchronous = sqlite_synchronous::normal;
  /// How long a connection waits for a lock before reporting BUSY.
  std::chrono::milliseconds busy_timeout{5000};
  /// Most reader connections open at once (at least 1).
  std::size_t readers = 4;
  /// How often a read that still sees BUSY after the timeout is retried.
  int read_retries = 20;
  /// Page cache per connection, in KiB (`PRAGMA cache_size = -N`). Large
  /// batches in random key order need the B-trees' inner pages cached.
  std::size_t cache_kib = 64 * 1024;
  /// A table of the user's own with typed columns (see table_mapping.hpp
  /// and the file comment); nothing for storesync's JSON table.
  std::optional<table_mapping> mapping = {};
};

/// Every store tier on SQLite (see the file comment). Non-copyable, movable;
/// made by `open`. A moved-from store fails every call that returns a
/// `result` with `errc::stopped`.
class sqlite_store {
 public:
  /// Opens (creating if needed) the database and the tables, checks their
  /// shape, and switches the file to WAL.
  static result<sqlite_store> open(sqlite_options options) {
    if (options.path.empty()) return error{errc::invalid_argument, "sqlite_options.path is empty"};
    if (options.path == ":memory:" || options.path.starts_with("file:"))
      return error{errc::invalid_argument,
                   "sqlite_options.path " + detail::quoted_path(options.path) +
                       ": a file path is required (readers open their own connections)"};
    if (options.table.empty() || options.checkpoint_table.empty())
      return error{errc::invalid_argument, "sqlite_options: table names must not be empty"};
    if (options.table == options.checkpoint_table)
      return error{errc::invalid_argument,
                   "sqlite_options: table and checkpoint_table are both " +
                       detail::quoted(options.table)};
    if (options.mapping) {
      BOOST_OUTCOME_TRY(detail::check_typed_mapping(*options.mapping));
    }
    auto st = std::make_unique<state>(std::move(options));
    BOOST_OUTCOME_TRY(st->open_writer());
    return sqlite_store(std::move(st));
  }

  sqlite_store(sqlite_store&&) noexcept = default;
  sqlite_store& operator=(sqlite_store&&) noexcept = default;

  const sqlite_options& options() const noexcept { return state_->options; }

  /// Whether this store could hold `e`: on a typed table, the conversion of
  /// its key and value (see table_mapping.hpp), with the error naming the
  /// key, field and column; what `write` checks before writing anything.
  result<void> admits(const entry& e) const {
    if (!state_) return stopped();
    if (state_->options.mapping) return check_entry(*state_->options.mapping, e);
    return success();
  }

  /// The stored entry, tombstones included, or nothing.
  result<std::optional<entry>> read(std::string_view key) {
    if (!state_) return stopped();
    return state_->with_reader([&](detail::sqlite_connection& c) -> result<std::optional<entry>> {
      BOOST_OUTCOME_TRY(auto* stmt, c.prepare(state_->sql_read));
      detail::sqlite_reset_guard reset(stmt);
      detail::sqlite_bind_text(stmt, 1, key);
      const int rc = sqlite3_step(stmt);
      if (rc == SQLITE_DONE) return std::optional<entry>{};
      if (rc != SQLITE_ROW) return c.fail(rc, "reading key " + detail::quoted(key));
      BOOST_OUTCOME_TRY(auto e, state_->row_entry(stmt, c.path()));
      return std::optional<entry>{std::move(e)};
    });
  }

  /// Applies `batch` under the version guard in one transaction.
  result<write_report> write(std::span<const entry> batch) {
    if (!state_) return stopped();
    return state_->write(batch, nullptr);
  }

  /// As `write`, and sets checkpoint `cp` in the same transaction.
  result<write_report> write_with_checkpoint(std::span<const entry> batch, const checkpoint& cp) {
    if (!state_) return stopped();
    return state_->write(batch, &cp);
  }

  result<std::optional<std::string>> load_checkpoint(std::string_view name) {
    if (!state_) return stopped();
    return state_->with_reader([&](detail::sqlite_connection& c) -> result<std::optional<std::string>> {
      BOOST_OUTCOME_TRY(auto* stmt, c.prepare(state_->sql_load_checkpoint));
      detail::sqlite_reset_guard reset(stmt);
      detail::sqlite_bind_text(stmt, 1, name);
      const int rc = sqlite3_step(stmt);
      if (rc == SQLITE_DONE) return std::optional<std::string>{};
      if (rc != SQLITE_ROW) return c.fail(rc, "loading checkpoint " + detail::quoted(name));
      return std::optional<std::string>{std::string(detail::sqlite_column_text(stmt, 0))};
    });
  }

  /// Keys in `range` after `after`, ascending, at most `limit` (keyset paging).
  result<std::vector<entry>> scan(const key_range& range, std::string_view after,
                                  std::size_t limit) {
    if (!state_) return stopped();
    if (limit == 0) return std::vector<entry>{};
    // Seek from whichever lower bound is tighter, so the B-tree does the work.
    const bool strict = !after.empty() && after >= std::string_view(range.first);
    const std::string_view lower = strict ? after : std::string_view(range.first);
    const std::string& sql = state_->sql_scan[(strict ? 1 : 0) + (range.last ? 2 : 0)];
    return state_->with_reader([&](detail::sqlite_connection& c) -> result<std::vector<entry>> {
      BOOST_OUTCOME_TRY(auto* stmt, c.prepare(sql));
      detail::sqlite_reset_guard reset(stmt);
      detail::sqlite_bind_text(stmt, 1, lower);
      sqlite3_bind_int64(stmt, 2, clamp_limit(limit));
      if (range.last) detail::sqlite_bind_text(stmt, 3, *range.last);
      return state_->collect(c, stmt, limit, "scanning from key " + detail::quoted(lower));
    });
  }

  /// Entries with (version, key) after `mark`, ascending by (version, key).
  result<std::vector<entry>> changes_after(const watermark& mark, std::size_t limit) {
    if (!state_) return stopped();
    if (limit == 0) return std::vector<entry>{};
    return state_->with_reader([&](detail::sqlite_connection& c) -> result<std::vector<entry>> {
      BOOST_OUTCOME_TRY(auto* stmt, c.prepare(state_->sql_changes));
      detail::sqlite_reset_guard reset(stmt);
      sqlite3_bind_int64(stmt, 1, mark.version);
      detail::sqlite_bind_text(stmt, 2, mark.key);
      sqlite3_bind_int64(stmt, 3, clamp_limit(limit));
      return state_->collect(c, stmt, limit, "reading changes after version " + std::to_string(mark.version));
    });
  }

  /// The largest stored version: the end of the (version, key) index.
  result<version_type> max_version() {
    if (!state_) return stopped();
    return state_->with_reader([&](detail::sqlite_connection& c) -> result<version_type> {
      BOOST_OUTCOME_TRY(auto* stmt, c.prepare(state_->sql_max_version));
      detail::sqlite_reset_guard reset(stmt);
      const int rc = sqlite3_step(stmt);
      if (rc != SQLITE_ROW) return c.fail(rc, "reading the largest version");
      return version_type{sqlite3_column_int64(stmt, 0)};
    });
  }

  /// (count, sum of row hashes mod 2^64) over `range`, computed by SQLite.
  /// The whole key space is one table scan: through the key index it would
  /// fetch every row by rowid, in key order, which is far slower once rows
  /// were not written in key order.
  result<range_checksum> checksum(const key_range& range) {
    if (!state_) return stopped();
    const bool whole = range.first.empty() && !range.last;
    const std::string& sql = state_->sql_checksum[whole ? 2 : range.last ? 1 : 0];
    return state_->with_reader([&](detail::sqlite_connection& c) -> result<range_checksum> {
      BOOST_OUTCOME_TRY(auto* stmt, c.prepare(sql));
      detail::sqlite_reset_guard reset(stmt);
      if (!whole) detail::sqlite_bind_text(stmt, 1, range.first);
      if (range.last) detail::sqlite_bind_text(stmt, 2, *range.last);
      const int rc = sqlite3_step(stmt);
      if (rc != SQLITE_ROW) return c.fail(rc, "computing a checksum");
      return range_checksum{static_cast<std::uint64_t>(sqlite3_column_int64(stmt, 0)),
                            static_cast<std::uint64_t>(sqlite3_column_int64(stmt, 1))};
    });
  }

  /// The checksums of the parts `points` cut `range` into, in one pass over
  /// the range's (key, row hash) pairs, each dealt to its part here (the
  /// whole key space as one table scan, as `checksum` does).
  result<std::vector<range_checksum>> checksums(const key_range& range, std::span<const std::string> points) {
    if (!state_) return stopped();
    for (std::size_t i = 0; i < points.size(); ++i)
      if (!(points[i] > (i == 0 ? range.first : points[i - 1])) || (range.last && !(points[i] < *range.last)))
        return error{errc::invalid_argument,
                     "checksums: point " + detail::quoted(points[i]) + " is not strictly ascending inside the range"};
    const bool whole = range.first.empty() && !range.last;
    const std::string& sql = state_->sql_hashes[whole ? 2 : range.last ? 1 : 0];
    return state_->with_reader([&](detail::sqlite_connection& c) -> result<std::vector<range_checksum>> {
      BOOST_OUTCOME_TRY(auto* stmt, c.prepare(sql));
      detail::sqlite_reset_guard reset(stmt);
      if (!whole) detail::sqlite_bind_text(stmt, 1, range.first);
      if (range.last) detail::sqlite_bind_text(stmt, 2, *range.last);
      std::vector<range_checksum> sums(points.size() + 1);
      std::size_t part = 0;  // of the row before: rows stored in key order stay in it
      int rc;
      while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        const std::string_view key(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0)),
                                   static_cast<std::size_t>(sqlite3_column_bytes(stmt, 0)));
        const bool inside = (part == 0 || points[part - 1] <= key) && (part == points.size() || key < points[part]);
        if (!inside)
          part = static_cast<std::size_t>(
              std::upper_bound(points.begin(), points.end(), key,
                               [](std::string_view k, const std::string& p) { return k < p; }) -
              points.begin());
        sums[part].add(static_cast<std::uint64_t>(sqlite3_column_int64(stmt, 1)));
      }
      if (rc != SQLITE_DONE) return c.fail(rc, "computing part checksums");
      return sums;
    });
  }

  /// The metadata of each of `keys`, in order, from one statement: the keys
  /// travel as one JSON array (`json_each`), and each probes the primary key.
  result<std::vector<std::optional<entry_meta>>> lookup(std::span<const std::string_view> keys) {
    if (!state_) return stopped();
    BOOST_OUTCOME_TRY(detail::check_lookup_keys(keys));
    // Keys no write can store are absent without asking; `asked[j]` is the
    // request position of array element j.
    std::string array = "[";
    std::vector<std::size_t> asked;
    asked.reserve(keys.size());
    for (std::size_t i = 0; i < keys.size(); ++i) {
      if (!detail::storable_key(keys[i])) continue;
      if (!asked.empty()) array += ',';
      detail::append_json_string(array, keys[i]);
      asked.push_back(i);
    }
    array += ']';
    using metas = std::vector<std::optional<entry_meta>>;
    if (asked.empty()) return metas(keys.size());
    return state_->with_reader([&](detail::sqlite_connection& c) -> result<metas> {
      BOOST_OUTCOME_TRY(auto* stmt, c.prepare(state_->sql_lookup));
      detail::sqlite_reset_guard reset(stmt);
      detail::sqlite_bind_text(stmt, 1, array);
      metas out(keys.size());
      int rc;
      while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        const auto j = static_cast<std::size_t>(sqlite3_column_int64(stmt, 0));
        if (j >= asked.size()) return c.fail(SQLITE_INTERNAL, "looking up keys: bad array index");
        if (state_->typed) {
          out[asked[j]] = entry_meta{sqlite3_column_int64(stmt, 1),
                                     {static_cast<std::uint64_t>(sqlite3_column_int64(stmt, 2)),
                                      static_cast<std::uint64_t>(sqlite3_column_int64(stmt, 3))},
                                     sqlite3_column_int(stmt, 4) != 0};
          continue;
        }
        const void* blob = sqlite3_column_blob(stmt, 2);
        if (sqlite3_column_bytes(stmt, 2) != 16 || blob == nullptr)
          return error{errc::corrupt, "SQLite database file " + detail::quoted_path(c.path()) +
                                          ": key " + detail::quoted(keys[asked[j]]) +
                                          ": hash is not 16 bytes"};
        out[asked[j]] = entry_meta{sqlite3_column_int64(stmt, 1),
                                   detail::hash_from_blob(static_cast<const unsigned char*>(blob)),
                                   sqlite3_column_int(stmt, 3) != 0};
      }
      if (rc != SQLITE_DONE)
        return c.fail(rc, "looking up " + std::to_string(asked.size()) + " keys");
      return out;
    });
  }

  /// Puts `previous` back (or removes the key) if `key` is stored at
  /// `expected`: an UPDATE or DELETE whose `WHERE version = expected` is the
  /// compare, in its own `BEGIN IMMEDIATE` transaction on the writer.
  result<void> restore(std::string_view key, version_type expected,
                       const std::optional<entry>& previous) {
    if (!state_) return stopped();
    return state_->restore(key, expected, previous);
  }

  /// Split points from one statement: `ntile(parts)` over the primary key
  /// (a covering index scan of the range), keeping each run's first key.
  result<std::vector<std::string>> split_points(const key_range& range, std::size_t parts) {
    if (!state_) return stopped();
    if (parts <= 1 || range.empty())
      return std::vector<std::string>{};
    const std::string& sql = state_->tiers.split_points[range.last ? 1 : 0];
    return state_->with_reader([&](detail::sqlite_connection& c) -> result<std::vector<std::string>> {
      BOOST_OUTCOME_TRY(auto* stmt, c.prepare(sql));
      detail::sqlite_reset_guard reset(stmt);
      detail::sqlite_bind_text(stmt, 1, range.first);
      sqlite3_bind_int64(stmt, 2, clamp_limit(parts));
      if (range.last) detail::sqlite_bind_text(stmt, 3, *range.last);
      std::vector<std::string> points;
      int rc;
      while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
        points.emplace_back(detail::sqlite_column_text(stmt, 0));
      if (rc != SQLITE_DONE) return c.fail(rc, "computing split points");
      return points;
    });
  }

 private:
  struct state {
    explicit state(sqlite_options o)
        : options(std::move(o)),
          readers({.size = options.readers},
                  detail::sqlite_reader_opener(options.path, options.busy_timeout)) {
      const std::string t = detail::sql_identifier(options.table);
      const std::string cp = detail::sql_identifier(options.checkpoint_table);
      const std::string cols = "key, version, hash, value, tombstone";
      sql_read = "SELECT " + cols + " FROM " + t + " WHERE key = ?1";
      sql_version = "SELECT version FROM " + t + " WHERE key = ?1";
      sql_max_version = "SELECT coalesce(max(version), 0) FROM " + t;
      sql_upsert = "INSERT INTO " + t +
                   " (key, version, hash, row_hash, value, tombstone, updated_at)"
                   " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
                   " ON CONFLICT (key) DO UPDATE SET version = excluded.version,"
                   " hash = excluded.hash, row_hash = excluded.row_hash, value = excluded.value,"
                   " tombstone = excluded.tombstone, updated_at = excluded.updated_at"
                   " WHERE excluded.version > " + t + ".version";
      const std::string scan = "SELECT " + cols + " FROM " + t + " WHERE key ";
      sql_scan[0] = scan + ">= ?1 ORDER BY key LIMIT ?2";
      sql_scan[1] = scan + "> ?1 ORDER BY key LIMIT ?2";
      sql_scan[2] = scan + ">= ?1 AND key < ?3 ORDER BY key LIMIT ?2";
      sql_scan[3] = scan + "> ?1 AND key < ?3 ORDER BY key LIMIT ?2";
      sql_changes = "SELECT " + cols + " FROM " + t +
                    " WHERE (version, key) > (?1, ?2) ORDER BY version, key LIMIT ?3";
      sql_checksum[0] =
          "SELECT count(*), storesync_sum64(row_hash) FROM " + t + " WHERE key >= ?1";
      sql_checksum[1] = sql_checksum[0] + " AND key < ?2";
      sql_checksum[2] = "SELECT count(*), storesync_sum64(row_hash) FROM " + t;
      sql_hashes[2] = "SELECT key, row_hash FROM " + t;
      sql_hashes[0] = sql_hashes[2] + " WHERE key >= ?1";
      sql_hashes[1] = sql_hashes[0] + " AND key < ?2";
      sql_save_checkpoint = "INSERT INTO " + cp +
                            " (name, value, updated_at) VALUES (?1, ?2, ?3)"
                            " ON CONFLICT (name) DO UPDATE SET value = excluded.value,"
                            " updated_at = excluded.updated_at";
      sql_load_checkpoint = "SELECT value FROM " + cp + " WHERE name = ?1";
      tiers = detail::sql_restore_split_for(t, '?', "?8");
      // `j.key` is the array position of the key asked.
      sql_lookup = "SELECT j.key, t.version, t.hash, t.tombstone FROM json_each(?1) AS j JOIN " +
                   t + " AS t ON t.key = j.value";
      if (options.mapping) use_typed(t);
    }

    /// A typed table's statements in place of the JSON table's.
    void use_typed(const std::string& t) {
      const detail::sqlite_typed_sql& ty = typed.emplace(t, *options.mapping);
      sql_read = ty.read;
      sql_version = ty.version_of_key;
      sql_max_version = ty.max_version;
      sql_upsert = ty.upsert;
      std::copy(std::begin(ty.scan), std::end(ty.scan), std::begin(sql_scan));
      sql_changes = ty.changes;
      std::copy(std::begin(ty.checksum), std::end(ty.checksum), std::begin(sql_checksum));
      std::copy(std::begin(ty.hashes), std::end(ty.hashes), std::begin(sql_hashes));
      sql_lookup = ty.lookup;
      tiers.restore = ty.restore;
      tiers.remove = ty.remove;
      std::copy(std::begin(ty.split_points), std::end(ty.split_points), std::begin(tiers.split_points));
    }

    /// The entry of the row at the cursor (a `sql_read` row).
    result<entry> row_entry(sqlite3_stmt* stmt, const std::string& path) const {
      return typed ? typed->entry_at(stmt, path) : detail::sqlite_row_entry(stmt, path);
    }

    result<std::vector<entry>> collect(detail::sqlite_connection& c, sqlite3_stmt* stmt, std::size_t limit,
                                       std::string_view doing) const {
      std::vector<entry> out;
      out.reserve(std::min<std::size_t>(limit, 1024));
      int rc;
      while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        BOOST_OUTCOME_TRY(auto e, row_entry(stmt, c.path()));
        out.push_back(std::move(e));
      }
      if (rc != SQLITE_DONE) return c.fail(rc, doing);
      return out;
    }

    result<void> open_writer() {
      const std::string& path = options.path;
      BOOST_OUTCOME_TRY(auto c, detail::sqlite_connection::open(
                                    path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                                    options.busy_timeout));
      // The first statement reads the header: a file that is not SQLite fails here.
      {
        BOOST_OUTCOME_TRY(auto* stmt, c.prepare("PRAGMA journal_mode = WAL"));
        detail::sqlite_reset_guard reset(stmt);
        const int rc = sqlite3_step(stmt);
        if (rc != SQLITE_ROW) return c.fail(rc, "switching to WAL journal mode");
        if (detail::sqlite_column_text(stmt, 0) != "wal")
          return error{errc::storage_failure, "sqlite " + detail::quoted_path(path) +
                                                  ": WAL journal mode unavailable (got " +
                                                  std::string(detail::sqlite_column_text(stmt, 0)) +
                                                  ")"};
      }
      BOOST_OUTCOME_TRY(c.exec("PRAGMA cache_size = -" + std::to_string(options.cache_kib),
                               "setting cache_size"));
      BOOST_OUTCOME_TRY(c.exec(options.synchronous == sqlite_synchronous::full
                                   ? "PRAGMA synchronous = FULL"
                                   : "PRAGMA synchronous = NORMAL",
                               "setting synchronous"));
      const std::string t = detail::sql_identifier(options.table);
      const std::string cp = detail::sql_identifier(options.checkpoint_table);
      if (typed) {
        BOOST_OUTCOME_TRY(open_typed_table(c));
      } else {
        BOOST_OUTCOME_TRY(open_json_table(c, t));
      }
      BOOST_OUTCOME_TRY(c.exec(
          "CREATE TABLE IF NOT EXISTS " + cp +
              " (name TEXT NOT NULL PRIMARY KEY, value TEXT NOT NULL,"
              " updated_at INTEGER NOT NULL) WITHOUT ROWID",
          "creating table " + detail::quoted(options.checkpoint_table)));
      BOOST_OUTCOME_TRY(check_shape(c, options.checkpoint_table,
                                    {{"name", 'T'}, {"value", 'T'}, {"updated_at", 'I'}}));
      writer = std::make_unique<detail::sqlite_connection>(std::move(c));
      return success();
    }

    result<void> open_json_table(detail::sqlite_connection& c, const std::string& t) {
      BOOST_OUTCOME_TRY(c.exec(
          "CREATE TABLE IF NOT EXISTS " + t +
              " (key TEXT NOT NULL PRIMARY KEY, version INTEGER NOT NULL, hash BLOB NOT NULL,"
              " row_hash INTEGER NOT NULL, value TEXT, tombstone INTEGER NOT NULL,"
              " updated_at INTEGER NOT NULL)",
          "creating table " + detail::quoted(options.table)));
      BOOST_OUTCOME_TRY(check_shape(c, options.table,
                                    {{"key", 'T'}, {"version", 'I'}, {"hash", 'B'},
                                     {"row_hash", 'I'}, {"value", 'T'}, {"tombstone", 'I'},
                                     {"updated_at", 'I'}}));
      return c.exec("CREATE INDEX IF NOT EXISTS " + detail::sql_identifier(options.table + "_by_version") +
                        " ON " + t + " (version, key)",
                    "creating the (version, key) index");
    }

    /// Creates the typed table, or adds storesync's columns to an empty one
    /// of the user's that lacks them; then checks every column's affinity
    /// and nullability, naming every mismatch, and creates the (version,
    /// key) index. The upsert is prepared here, so a key column that is not
    /// unique fails at `open`.
    result<void> open_typed_table(detail::sqlite_connection& c) {
      const detail::sqlite_typed_sql& ty = *typed;
      BOOST_OUTCOME_TRY(auto found, table_columns(c, options.table));
      if (found.empty()) {
        BOOST_OUTCOME_TRY(c.exec(ty.create_table, "creating table " + detail::quoted(options.table)));
        BOOST_OUTCOME_TRY(found, table_columns(c, options.table));
      } else {
        BOOST_OUTCOME_TRY(add_metadata_columns(c, found));
        BOOST_OUTCOME_TRY(found, table_columns(c, options.table));
      }
      const std::vector<detail::wanted_column> want = ty.wanted();
      BOOST_OUTCOME_TRY(detail::check_shape("sqlite " + detail::quoted_path(options.path) + ": table " +
                                                detail::quoted(options.table),
                                            found, want, {.not_null = true}));
      BOOST_OUTCOME_TRY(c.exec(ty.create_index, "creating the (version, key) index"));
      BOOST_OUTCOME_TRY(c.prepare(ty.upsert));
      return success();
    }

    /// The columns of `table` as `check_shape` takes them (types as their
    /// affinity); none when there is no such table.
    result<std::vector<detail::found_column>> table_columns(detail::sqlite_connection& c,
                                                            const std::string& table) {
      BOOST_OUTCOME_TRY(auto* stmt, c.prepare("SELECT name, type, \"notnull\", pk FROM pragma_table_info(?1)"));
      detail::sqlite_reset_guard reset(stmt);
      detail::sqlite_bind_text(stmt, 1, table);
      std::vector<detail::found_column> cols;
      int rc;
      while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
        cols.push_back({std::string(detail::sqlite_column_text(stmt, 0)),
                        detail::sqlite_affinity_name(std::string(detail::sqlite_column_text(stmt, 1))),
                        sqlite3_column_int(stmt, 2) == 0 && sqlite3_column_int(stmt, 3) == 0});
      if (rc != SQLITE_DONE) return c.fail(rc, "reading the shape of " + detail::quoted(table));
      return cols;
    }

    /// Adds the metadata columns an existing typed table lacks, with a
    /// unique index on the encoded key; only while the table holds no rows,
    /// since they are NOT NULL.
    result<void> add_metadata_columns(detail::sqlite_connection& c,
                                      const std::vector<detail::found_column>& found) {
      const table_mapping& m = *options.mapping;
      std::vector<std::string> missing;
      if (!m.key_is_column()) missing.push_back(m.metadata.key);
      for (const std::string* col : {&m.metadata.hash_lo, &m.metadata.hash_hi, &m.metadata.row_hash,
                                     &m.metadata.deleted})
        missing.push_back(*col);
      std::erase_if(missing, [&](const std::string& name) {
        return std::any_of(found.begin(), found.end(),
                           [&](const detail::found_column& f) { return f.name == name; });
      });
      if (missing.empty()) return success();
      const std::string t = detail::sql_identifier(options.table);
      BOOST_OUTCOME_TRY(auto* any, c.prepare("SELECT EXISTS (SELECT 1 FROM " + t + ")"));
      {
        detail::sqlite_reset_guard reset(any);
        const int rc = sqlite3_step(any);
        if (rc != SQLITE_ROW) return c.fail(rc, "counting the rows of " + detail::quoted(options.table));
        if (sqlite3_column_int(any, 0) != 0) {
          std::string names;
          for (const std::string& n : missing) names += (names.empty() ? "" : ", ") + detail::quoted(n);
          return error{errc::schema_mismatch,
                       "sqlite " + detail::quoted_path(options.path) + ": table " + detail::quoted(options.table) +
                           " holds rows but lacks storesync's columns " + names +
                           "; add them (NOT NULL) with values, or start from an empty table"};
        }
      }
      for (const std::string& n : missing) {
        const bool is_key = n == m.metadata.key && !m.key_is_column();
        BOOST_OUTCOME_TRY(c.exec("ALTER TABLE " + t + " ADD COLUMN " + detail::sql_identifier(n) +
                                     (is_key ? " TEXT NOT NULL DEFAULT ''" : " INTEGER NOT NULL DEFAULT 0"),
                                 "adding column " + detail::quoted(n)));
        if (is_key) {
          BOOST_OUTCOME_TRY(c.exec("CREATE UNIQUE INDEX " + detail::sql_identifier(options.table + "_" + n) +
                                       " ON " + t + " (" + detail::sql_identifier(n) + ")",
                                   "indexing column " + detail::quoted(n)));
        }
      }
      return success();
    }

    struct expected_column {
      const char* name;
      char affinity;  // 'T' text, 'I' integer, 'B' blob
    };

    // SQLite's affinity of a declared type, by its initial: T, I, B, R, N.
    static char affinity_of(std::string type) { return detail::sqlite_affinity_name(std::move(type))[0]; }

    result<void> check_shape(detail::sqlite_connection& c, const std::string& table,
                             std::initializer_list<expected_column> want) {
      BOOST_OUTCOME_TRY(auto* stmt, c.prepare("SELECT name, type, pk FROM pragma_table_info(?1)"));
      detail::sqlite_reset_guard reset(stmt);
      detail::sqlite_bind_text(stmt, 1, table);
      struct found {
        std::string name, type;
        int pk;
      };
      std::vector<found> cols;
      int rc;
      while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
        cols.push_back({std::string(detail::sqlite_column_text(stmt, 0)),
                        std::string(detail::sqlite_column_text(stmt, 1)),
                        sqlite3_column_int(stmt, 2)});
      if (rc != SQLITE_DONE) return c.fail(rc, "reading the shape of " + detail::quoted(table));
      const std::string where = "sqlite " + detail::quoted_path(options.path) + ": table " +
                                detail::quoted(table);
      bool first = true;
      for (const expected_column& w : want) {
        const auto it = std::find_if(cols.begin(), cols.end(),
                                     [&](const found& f) { return f.name == w.name; });
        if (it == cols.end())
          return error{errc::schema_mismatch, where + " has no column " + detail::quoted(w.name)};
        const char got = affinity_of(it->type);
        const bool ok = got == w.affinity || (w.affinity == 'I' && got == 'N');
        if (!ok)
          return error{errc::schema_mismatch, where + " column " + detail::quoted(w.name) +
                                                  " has type " + detail::quoted(it->type) +
                                                  ", expected " +
                                                  (w.affinity == 'T'   ? "TEXT"
                                                   : w.affinity == 'I' ? "INTEGER"
                                                                       : "BLOB")};
        if (first && it->pk != 1)
          return error{errc::schema_mismatch,
                       where + " column " + detail::quoted(w.name) + " is not the primary key"};
        if (!first && it->pk != 0)
          return error{errc::schema_mismatch, where + " column " + detail::quoted(w.name) +
                                                  " is part of the primary key"};
        first = false;
      }
      return success();
    }

    template <class F>
    auto with_reader(F&& f) -> decltype(f(std::declval<detail::sqlite_connection&>())) {
      for (int attempt = 0;; ++attempt) {
        BOOST_OUTCOME_TRY(auto lease, readers.acquire());
        auto r = f(*lease);
        if (r || !(r.error() == errc::busy) || attempt >= options.read_retries) return r;
        // BUSY survived the busy timeout (WAL recovery, a snapshot conflict):
        // the statement was reset, so a fresh attempt sees a fresh snapshot.
        std::this_thread::sleep_for(std::chrono::milliseconds(std::min(1 << std::min(attempt, 6), 50)));
      }
    }

    result<write_report> write(std::span<const entry> batch, const checkpoint* cp) {
      BOOST_OUTCOME_TRY(validate_batch(batch, any_json));
      // A typed table's rows, every one converted before anything is written.
      std::vector<detail::typed_row> rows;
      if (typed) {
        rows.reserve(batch.size());
        for (const entry& e : batch) {
          BOOST_OUTCOME_TRY(auto row, detail::row_of(*options.mapping, e));
          rows.push_back(std::move(row));
        }
      }
      std::lock_guard lock(writer_mutex);
      detail::sqlite_connection& c = *writer;
      BOOST_OUTCOME_TRY(c.exec("BEGIN IMMEDIATE", "starting a write transaction"));
      auto applied = apply(c, batch, rows, cp);
      if (!applied) {
        (void)c.exec("ROLLBACK", "rolling back");
        return applied.error();
      }
      if (auto committed = c.exec("COMMIT", "committing a batch"); !committed) {
        (void)c.exec("ROLLBACK", "rolling back");
        return committed.error();
      }
      return applied;
    }

    result<write_report> apply(detail::sqlite_connection& c, std::span<const entry> batch,
                               const std::vector<detail::typed_row>& rows, const checkpoint* cp) {
      const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count();
      write_report report;
      sqlite3* db = c.get();
      if (!batch.empty()) {
        BOOST_OUTCOME_TRY(auto* up, c.prepare(sql_upsert));
        BOOST_OUTCOME_TRY(auto* ver, c.prepare(sql_version));
        for (std::size_t i = 0; i < batch.size(); ++i) {
          const entry& e = batch[i];
          const auto blob = detail::hash_to_blob(e.hash);
          detail::sqlite_bind_text(up, 1, e.key);
          if (typed) typed->bind_row(up, 2, e, rows[i], true);
          else bind_row(up, 2, e, blob, now);
          const auto before = sqlite3_total_changes64(db);
          const int rc = sqlite3_step(up);
          sqlite3_reset(up);
          if (rc != SQLITE_DONE) return c.fail(rc, "writing key " + detail::quoted(e.key));
          if (sqlite3_total_changes64(db) != before) {
            ++report.applied;
            continue;
          }
          // Not applied: same or older version. Which one decides the report.
          detail::sqlite_reset_guard reset(ver);
          detail::sqlite_bind_text(ver, 1, e.key);
          const int vrc = sqlite3_step(ver);
          if (vrc != SQLITE_ROW && vrc != SQLITE_DONE)
            return c.fail(vrc, "reading the version of key " + detail::quoted(e.key));
          report.count(version_guard(e.version, vrc == SQLITE_ROW
                                                    ? std::optional{sqlite3_column_int64(ver, 0)}
                                                    : std::nullopt));
        }
      }
      if (cp != nullptr) {
        BOOST_OUTCOME_TRY(auto* save, c.prepare(sql_save_checkpoint));
        detail::sqlite_reset_guard reset(save);
        detail::sqlite_bind_text(save, 1, cp->name);
        detail::sqlite_bind_text(save, 2, cp->value);
        sqlite3_bind_int64(save, 3, now);
        const int rc = sqlite3_step(save);
        if (rc != SQLITE_DONE) return c.fail(rc, "saving checkpoint " + detail::quoted(cp->name));
      }
      return report;
    }

    result<void> restore(std::string_view key, version_type expected,
                         const std::optional<entry>& previous) {
      BOOST_OUTCOME_TRY(validate_restore(key, expected, previous, any_json));
      std::optional<detail::typed_row> row;
      if (typed && previous) {
        BOOST_OUTCOME_TRY(row, detail::row_of(*options.mapping, *previous));
      }
      std::lock_guard lock(writer_mutex);
      detail::sqlite_connection& c = *writer;
      BOOST_OUTCOME_TRY(c.exec("BEGIN IMMEDIATE", "starting a restore"));
      auto restored = restore_in_transaction(c, key, expected, previous, row);
      if (!restored) {
        (void)c.exec("ROLLBACK", "rolling back");
        return restored;
      }
      if (auto committed = c.exec("COMMIT", "committing a restore"); !committed) {
        (void)c.exec("ROLLBACK", "rolling back");
        return committed;
      }
      return success();
    }

    result<void> restore_in_transaction(detail::sqlite_connection& c, std::string_view key,
                                        version_type expected, const std::optional<entry>& previous,
                                        const std::optional<detail::typed_row>& row) {
      const std::string doing = "restoring key " + detail::quoted(key);
      BOOST_OUTCOME_TRY(auto* stmt, c.prepare(previous ? tiers.restore : tiers.remove));
      detail::sqlite_reset_guard reset(stmt);
      detail::sqlite_bind_text(stmt, 1, key);
      sqlite3_bind_int64(stmt, 2, expected);
      std::array<unsigned char, 16> blob{};
      if (previous && typed) {
        typed->bind_row(stmt, 3, *previous, *row, false);
      } else if (previous) {
        blob = detail::hash_to_blob(previous->hash);
        bind_row(stmt, 3, *previous, blob,
                 std::chrono::duration_cast<std::chrono::milliseconds>(
                     std::chrono::system_clock::now().time_since_epoch())
                     .count());
      }
      const int rc = sqlite3_step(stmt);
      if (rc != SQLITE_DONE) return c.fail(rc, doing);
      if (sqlite3_changes64(c.get()) == 1) return success();
      // Not stored at `expected`: say what is.
      BOOST_OUTCOME_TRY(auto* ver, c.prepare(sql_version));
      detail::sqlite_reset_guard reset_ver(ver);
      detail::sqlite_bind_text(ver, 1, key);
      const int vrc = sqlite3_step(ver);
      if (vrc != SQLITE_ROW && vrc != SQLITE_DONE) return c.fail(vrc, doing);
      return detail::restore_conflict(
          key, expected, vrc == SQLITE_ROW ? std::optional{sqlite3_column_int64(ver, 0)} : std::nullopt);
    }

    // Binds e's version, hash (`blob`, which must outlive the step), row
    // hash, value, tombstone flag and the time `now` to parameters `first`
    // on, in that order, as the upsert and the restore both take them.
    static void bind_row(sqlite3_stmt* stmt, int first, const entry& e,
                         const std::array<unsigned char, 16>& blob, std::int64_t now) {
      sqlite3_bind_int64(stmt, first, e.version);
      sqlite3_bind_blob(stmt, first + 1, blob.data(), static_cast<int>(blob.size()), SQLITE_STATIC);
      sqlite3_bind_int64(stmt, first + 2, static_cast<sqlite3_int64>(row_hash(e)));
      if (e.tombstone) sqlite3_bind_null(stmt, first + 3);
      else detail::sqlite_bind_text(stmt, first + 3, e.value);
      sqlite3_bind_int(stmt, first + 4, e.tombstone ? 1 : 0);
      sqlite3_bind_int64(stmt, first + 5, now);
    }

    sqlite_options options;
    std::mutex writer_mutex;
    std::unique_ptr<detail::sqlite_connection> writer;
    detail::sqlite_reader_pool readers;
    std::string sql_read, sql_version, sql_max_version, sql_upsert, sql_changes, sql_save_checkpoint,
        sql_load_checkpoint;
    std::string sql_scan[4];
    /// From a key, from a key to a key, and of the whole table.
    std::string sql_checksum[3];
    std::string sql_hashes[3];
    std::string sql_lookup;
    /// `restore` and `split_points`, written as DuckDB's.
    detail::sql_restore_split tiers;
    /// A typed table's columns and statements (`options.mapping`).
    std::optional<detail::sqlite_typed_sql> typed;
  };

  explicit sqlite_store(std::unique_ptr<state> s) noexcept : state_(std::move(s)) {}

  static error stopped() { return error{errc::stopped, "sqlite_store was moved from"}; }

  static sqlite3_int64 clamp_limit(std::size_t limit) noexcept {
    return static_cast<sqlite3_int64>(
        std::min<std::size_t>(limit, std::numeric_limits<sqlite3_int64>::max()));
  }

  // Readers (the pool) are destroyed before the writer: the writer's close
  // then checkpoints the WAL and removes it.
  std::unique_ptr<state> state_;
};

static_assert(store<sqlite_store>);
static_assert(scannable_store<sqlite_store>);
static_assert(change_source<sqlite_store>);
static_assert(checksum_store<sqlite_store>);
static_assert(checkpoint_store<sqlite_store>);
static_assert(versioned_store<sqlite_store>);
static_assert(metadata_store<sqlite_store>);
static_assert(restorable_store<sqlite_store>);
static_assert(partitionable_store<sqlite_store>);
static_assert(part_checksum_store<sqlite_store>);

}  // namespace storesync
