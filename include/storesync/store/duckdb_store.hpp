#pragma once
/// \file
/// `duckdb_store`: every store tier on one DuckDB table, through the DuckDB C
/// API. The analytical side of write-back: results computed in DuckDB are
/// written here in bulk, then read back as a (version, key)-ordered change
/// stream (or read straight from a query with `duckdb_query_source`).
///
/// \code
///   auto opened = storesync::duckdb_store::open({.path = "analytics.duckdb",
///                                               .table = "scores"});
///   if (!opened) return opened.error();
///   storesync::duckdb_store& scores = opened.value();
///   auto report = scores.write(batch);                 // Appender, then UPDATE + INSERT
///   auto page = scores.changes_after({}, 10'000);      // (version, key) order
///   auto sum = scores.checksum({});                    // same digest as every store
/// \endcode
///
/// Layout: one table per collection (`options.table`, quoted as an identifier)
/// with the logical columns every storesync SQL adapter shares: key VARCHAR
/// NOT NULL, version BIGINT, hash BLOB (16 bytes: hi, lo, big-endian),
/// row_hash BIGINT (`row_hash(entry)` as a signed 64-bit integer), value
/// VARCHAR (JSON text; NULL for a tombstone), tombstone BOOLEAN, updated_at
/// TIMESTAMP; and a checkpoint table (name PRIMARY KEY, value, updated_at). An
/// existing table of another shape (a missing column, another type, a key that
/// admits NULL, a checkpoint name that is not the primary key) is refused with
/// `errc::schema_mismatch` naming the column. A value is kept as the JSON
/// text written, so any valid JSON fits (`any_json`, as in SQLite).
///
/// `key` is not the primary key: a unique ART index makes bulk writes much
/// slower (every row is checked against it, and it is checkpointed at commit;
/// see docs/benchmarks.md). Point reads use a plain, non-unique ART index on
/// `key` (`<table>_key`, created at open), which costs a bulk write far less
/// and keeps `read` an index lookup, as fast as through a primary key; without
/// any index a read would scan the table, costing more as the table grows. A
/// table whose `key` is its PRIMARY KEY opens and is written the same way (it
/// gets no second index). There is no (version, key) index: DuckDB does not
/// use ART indexes for ordered scans. The change source is a streaming cursor
/// over the table sorted by (version, key) (see `changes_after`), so paging
/// through a large table sorts it once.
///
/// Uniqueness of `key` rests on a single writer. Every write runs under the
/// instance's writer lock (`duckdb_instance::writer_mutex()`), so stores
/// sharing an instance, even on the same table, never write at once, and
/// DuckDB's file lock keeps other processes from opening the file for writing.
/// Two things can still store a key twice, and are not supported: opening one
/// file through two `duckdb_instance`s in a process (which DuckDB itself warns
/// against), and other SQL inserting into the table. Then `read` returns one of
/// the rows, an UPDATE changes all of them, and checksums count each.
///
/// Writes: the batch is validated, then appended through the Appender (whole
/// data chunks) to a TEMP staging table; then, in one transaction, one query
/// classifies every entry against the stored versions (for an exact
/// `write_report`, duplicates of a key counted in batch order) and the newest
/// entry of each key is merged:
/// `UPDATE ... WHERE s.version > t.version` for keys the table holds (the
/// version guard in SQL), then `INSERT ... SELECT` of the keys it does not
/// (without any lookup when the classification found none of the batch's keys
/// stored). A checkpoint commits in the same transaction.
///
/// Cost: a bulk write is slower than a plain Appender into a bare table
/// (docs/benchmarks.md has the figures and the command). The difference is
/// staging and the key index.
///
/// Change source: `changes_after` streams one `ORDER BY version, key` query
/// and hands out pages from it; an unfinished stream keeps its snapshot (and
/// DuckDB defers checkpoints) until it runs dry or a call starts elsewhere.
///
/// Checksums: `sum(row_hash::HUGEINT)`, keeping the low 64 bits, which is the
/// sum modulo 2^64 every adapter computes. Keys order byte-wise (DuckDB's
/// default binary collation).
///
/// Typed tables: with `options.mapping` (see table_mapping.hpp for keys,
/// conversions, read-back and delete markers) the store keeps entries in a
/// table of the user's own instead. Its columns, as DuckDB spells them:
///
/// | mapping                  | DuckDB column                                     |
/// |--------------------------|---------------------------------------------------|
/// | key columns              | VARCHAR, INTEGER or BIGINT, NOT NULL              |
/// | `metadata.key`           | VARCHAR NOT NULL, the encoded key (only when the  |
/// |                          | key is not one text column)                       |
/// | version column           | BIGINT, or TIMESTAMPTZ holding the version as     |
/// |                          | microseconds since 1970-01-01 UTC                 |
/// | `metadata.hash_lo/hi`    | BIGINT, BIGINT: the content hash as first written |
/// | `metadata.row_hash`      | BIGINT                                            |
/// | `metadata.deleted`       | BOOLEAN                                           |
/// | text, jsonb fields, rest | VARCHAR (jsonb: the JSON text; DuckDB's JSON type |
/// |                          | is accepted in an existing table)                 |
/// | integer, bigint          | INTEGER, BIGINT                                   |
/// | double_precision         | DOUBLE                                            |
/// | boolean                  | BOOLEAN                                           |
/// | timestamptz, date        | TIMESTAMPTZ (microseconds), DATE                  |
/// | numeric                  | VARCHAR holding the number as written             |
///
/// - numeric is kept as text, as in SQLite: DuckDB's DECIMAL holds at most
///   38 digits at a scale fixed by the column, so it cannot keep a number
///   as written (`1.50`, `1e-400`); `CAST(col AS DECIMAL(p, s))` reads it
///   where a query needs arithmetic. Column names must differ
///   case-insensitively, as DuckDB compares them.
/// - A missing table is created, with the plain index on the entry key
///   column (see above). An existing table that lacks storesync's metadata
///   columns gets them when it holds no rows yet (and has no index but its
///   primary key: DuckDB cannot make an added column NOT NULL on a table with
///   one); one that holds rows is refused. A table of another shape is
///   refused with `errc::schema_mismatch` naming every mismatch.
/// - A write converts every entry of the batch before anything is staged: a
///   refused entry fails the batch with `errc::invalid_value` naming the key,
///   field and column, and nothing is written. The cells are staged as text
///   and cast to the columns' types by the merge.
/// - Reads rebuild the canonical value from the columns and carry the stored
///   hash, so checksums equal a JSON table's holding the same entries. The
///   change stream is a streaming query over the table in (version, key)
///   order, as on the JSON table.
///
/// Lookups, restores and split points: `lookup` binds its keys as one list
/// and joins it to the table (a pass over the key column, as DuckDB joins);
/// `restore` is one UPDATE or DELETE guarded by `version = expected`, under
/// the writer lock like every write; `split_points` runs `ntile` over the keys
/// in order.
///
/// Errors: DuckDB error types map onto storesync's: constraint, conversion,
/// invalid input and out-of-range -> `constraint_violation` (invalid input); IO
/// and permission -> `storage_failure` (unavailable); out of memory ->
/// `resource_exhausted` (overloaded); transaction conflicts ->
/// `serialization_failure` (transient); a file that is not a DuckDB database ->
/// `corrupt` naming it; anything else -> `backend_failure` (permanent).
///
/// Thread safety: every member is safe to call from many threads. Writes are
/// serialised on one writer connection under the instance's writer lock; reads
/// lease connections from a small pool (DuckDB connections are not
/// thread-safe, the database is).

#include <duckdb.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "storesync/core/lookup.hpp"
#include "storesync/core/restore.hpp"
#include "storesync/core/store.hpp"
#include "storesync/store/detail/duckdb_connection.hpp"
#include "storesync/store/detail/duckdb_sql.hpp"
#include "storesync/store/detail/hash_blob.hpp"
#include "storesync/store/detail/table_shape.hpp"
#include "storesync/store/detail/typed_value.hpp"
#include "storesync/store/duckdb_instance.hpp"
#include "storesync/store/duckdb_query_source.hpp"
#include "storesync/store/table_mapping.hpp"

namespace storesync {

/// How `duckdb_store::open` opens and lays out a store.
struct duckdb_options {
  /// The database file (empty: in memory). Ignored when opening on an instance.
  std::string path;
  /// The table of this collection.
  std::string table = "storesync_entries";
  /// The table of named checkpoints.
  std::string checkpoint_table = "storesync_checkpoints";
  /// Most reader connections open at once (at least 1).
  std::size_t readers = 4;
  /// DuckDB `memory_limit` and `threads` (see `duckdb_instance_options`).
  std::string memory_limit;
  int threads = 0;
  /// A table of the user's own with typed columns (see table_mapping.hpp and
  /// "Typed tables" above); empty: the JSON table. `table` names it.
  std::optional<table_mapping> mapping = {};
};

/// Every store tier on DuckDB (see the file comment). Non-copyable, movable;
/// made by `open`. A moved-from store fails every call that returns a
/// `result` with `errc::stopped`.
class duckdb_store {
 public:
  /// Opens the database at `options.path` and the store's tables. Fails
  /// with `schema_mismatch` (an existing table of another shape, every
  /// mismatch named), `invalid_argument` (bad names, or a mapping DuckDB
  /// cannot hold: see "Typed tables" above), or the database's error.
  static result<duckdb_store> open(const duckdb_options& options) {
    BOOST_OUTCOME_TRY(auto db, duckdb_instance::open({options.path, options.memory_limit,
                                                      options.threads}));
    return open(std::move(db), options);
  }

  /// Opens the store's tables (creating them if needed) on a shared instance.
  static result<duckdb_store> open(std::shared_ptr<duckdb_instance> db,
                                   const duckdb_options& options) {
    if (!db) return error{errc::invalid_argument, "duckdb_store::open: no instance"};
    if (options.table.empty() || options.checkpoint_table.empty() ||
        options.table == options.checkpoint_table)
      return error{errc::invalid_argument,
                   "duckdb_options: table and checkpoint_table must be two non-empty names"};
    if (options.mapping) {
      BOOST_OUTCOME_TRY(detail::check_typed_mapping(*options.mapping));
      BOOST_OUTCOME_TRY(check_duckdb_mapping(*options.mapping));
    }
    auto st = std::make_unique<state>(std::move(db), options);
    BOOST_OUTCOME_TRY(st->open_writer());
    return duckdb_store(std::move(st));
  }

  duckdb_store(duckdb_store&&) noexcept = default;
  duckdb_store& operator=(duckdb_store&&) noexcept = default;

  /// The database this store lives in (to open a `duckdb_query_source` on it).
  const std::shared_ptr<duckdb_instance>& instance() const noexcept { return state_->db; }
  const duckdb_options& options() const noexcept { return state_->options; }

  /// Whether this store could hold `e` beyond `validate(e, any_json)`: on a
  /// typed table, `check_entry(mapping, e)` (the conversion of its key and
  /// value, the error naming the key, field and column); on the JSON table,
  /// always. What `write` checks before it stages anything.
  result<void> admits(const entry& e) const {
    if (!state_) return stopped();
    if (state_->options.mapping) return check_entry(*state_->options.mapping, e);
    return success();
  }

  result<std::optional<entry>> read(std::string_view key) {
    if (!state_) return stopped();
    BOOST_OUTCOME_TRY(auto lease, state_->readers.acquire());
    BOOST_OUTCOME_TRY(auto p, lease->prepare(state_->sql.read));
    BOOST_OUTCOME_TRY(detail::duckdb_bind_text(p, 1, key, "key"));
    BOOST_OUTCOME_TRY(auto rows,
                      state_->run_entries(*lease, p, 1, "reading key " + detail::quoted(key)));
    if (rows.empty()) return std::optional<entry>{};
    return std::optional<entry>{std::move(rows.front())};
  }

  result<write_report> write(std::span<const entry> batch) {
    if (!state_) return stopped();
    return state_->write(batch, nullptr);
  }

  result<write_report> write_with_checkpoint(std::span<const entry> batch, const checkpoint& cp) {
    if (!state_) return stopped();
    return state_->write(batch, &cp);
  }

  result<std::optional<std::string>> load_checkpoint(std::string_view name) {
    if (!state_) return stopped();
    BOOST_OUTCOME_TRY(auto lease, state_->readers.acquire());
    BOOST_OUTCOME_TRY(auto p, lease->prepare(state_->sql.load_checkpoint));
    BOOST_OUTCOME_TRY(detail::duckdb_bind_text(p, 1, name, "checkpoint name"));
    detail::duckdb_owned_result r;
    BOOST_OUTCOME_TRY(lease->execute(p, r, "loading checkpoint " + detail::quoted(name)));
    std::optional<std::string> value;
    for (;;) {
      detail::duckdb_owned_chunk chunk(duckdb_fetch_chunk(*r.get()));
      if (!chunk) break;
      if (duckdb_data_chunk_get_size(chunk.get()) > 0)
        value = std::string(detail::duckdb_column(chunk.get(), 0).text(0));
    }
    return value;
  }

  result<std::vector<entry>> scan(const key_range& range, std::string_view after,
                                  std::size_t limit) {
    if (!state_) return stopped();
    if (limit == 0) return std::vector<entry>{};
    const bool strict = !after.empty() && after >= std::string_view(range.first);
    const std::string_view lower = strict ? after : std::string_view(range.first);
    BOOST_OUTCOME_TRY(auto lease, state_->readers.acquire());
    BOOST_OUTCOME_TRY(auto p,
                      lease->prepare(state_->sql.scan[(strict ? 1 : 0) + (range.last ? 2 : 0)]));
    BOOST_OUTCOME_TRY(detail::duckdb_bind_text(p, 1, lower, "scan bound"));
    duckdb_bind_int64(p, 2, clamp_limit(limit));
    if (range.last) {
      BOOST_OUTCOME_TRY(detail::duckdb_bind_text(p, 3, *range.last, "scan bound"));
    }
    return state_->run_entries(*lease, p, limit, "scanning from key " + detail::quoted(lower));
  }

  /// Entries after `mark` in (version, key) order. Served by a streaming
  /// cursor (on the JSON table a `duckdb_query_source` over it): the table is
  /// sorted once and each call that continues where the previous one stopped
  /// takes the next rows; a call from another watermark, or after the stream
  /// ran dry, re-runs the query, so rows written since are seen then.
  result<std::vector<entry>> changes_after(const watermark& mark, std::size_t limit) {
    if (!state_) return stopped();
    if (state_->options.mapping) return state_->typed_changes_after(mark, limit);
    return state_->changes->changes_after(mark, limit);
  }

  /// The largest stored version (DuckDB answers from its column statistics).
  result<version_type> max_version() {
    if (!state_) return stopped();
    BOOST_OUTCOME_TRY(auto lease, state_->readers.acquire());
    BOOST_OUTCOME_TRY(auto p, lease->prepare(state_->sql.max_version));
    detail::duckdb_owned_result r;
    BOOST_OUTCOME_TRY(lease->execute(p, r, "reading the largest version"));
    version_type max = 0;
    for (;;) {
      detail::duckdb_owned_chunk chunk(duckdb_fetch_chunk(*r.get()));
      if (!chunk) break;
      if (duckdb_data_chunk_get_size(chunk.get()) > 0) max = detail::duckdb_column(chunk.get(), 0).get<int64_t>(0);
    }
    return max;
  }

  result<range_checksum> checksum(const key_range& range) {
    if (!state_) return stopped();
    BOOST_OUTCOME_TRY(auto lease, state_->readers.acquire());
    BOOST_OUTCOME_TRY(auto p, lease->prepare(state_->sql.checksum[range.last ? 1 : 0]));
    BOOST_OUTCOME_TRY(detail::duckdb_bind_text(p, 1, range.first, "checksum bound"));
    if (range.last) {
      BOOST_OUTCOME_TRY(detail::duckdb_bind_text(p, 2, *range.last, "checksum bound"));
    }
    detail::duckdb_owned_result r;
    BOOST_OUTCOME_TRY(lease->execute(p, r, "computing a checksum"));
    range_checksum sum;
    for (;;) {
      detail::duckdb_owned_chunk chunk(duckdb_fetch_chunk(*r.get()));
      if (!chunk) break;
      if (duckdb_data_chunk_get_size(chunk.get()) == 0) continue;
      const detail::duckdb_column count(chunk.get(), 0), digest(chunk.get(), 1);
      sum.count = static_cast<std::uint64_t>(count.get<int64_t>(0));
      // The low 64 bits of the 128-bit sum: the sum modulo 2^64.
      sum.digest = digest.valid(0) ? digest.get<duckdb_hugeint>(0).lower : 0;
    }
    return sum;
  }

  /// The metadata of each of `keys`, in order, from one statement: the keys
  /// travel as one bound list, joined to the table (no values are read).
  result<std::vector<std::optional<entry_meta>>> lookup(std::span<const std::string_view> keys) {
    if (!state_) return stopped();
    BOOST_OUTCOME_TRY(detail::check_lookup_keys(keys));
    using metas = std::vector<std::optional<entry_meta>>;
    // Keys no write can store are absent without asking (DuckDB refuses a
    // VARCHAR that is not UTF-8).
    std::vector<duckdb_value> values;
    struct values_guard {
      std::vector<duckdb_value>& v;
      ~values_guard() {
        for (duckdb_value& x : v) duckdb_destroy_value(&x);
      }
    } free_values{values};
    values.reserve(keys.size());
    for (const std::string_view key : keys)
      if (detail::storable_key(key))
        values.push_back(duckdb_create_varchar_length(key.data(), key.size()));
    if (values.empty()) return metas(keys.size());
    duckdb_logical_type varchar = duckdb_create_logical_type(DUCKDB_TYPE_VARCHAR);
    duckdb_value list = duckdb_create_list_value(varchar, values.data(), values.size());
    duckdb_destroy_logical_type(&varchar);
    struct list_guard {
      duckdb_value& v;
      ~list_guard() { duckdb_destroy_value(&v); }
    } free_list{list};

    BOOST_OUTCOME_TRY(auto lease, state_->readers.acquire());
    BOOST_OUTCOME_TRY(auto p, lease->prepare(state_->sql.lookup));
    if (list == nullptr || duckdb_bind_value(p, 1, list) == DuckDBError)
      return error{errc::backend_failure,
                   lease->where() + ": binding " + std::to_string(values.size()) + " keys"};
    BOOST_OUTCOME_TRY(auto rows, state_->run_entries(*lease, p, values.size(),
                                                     "looking up " + std::to_string(values.size()) +
                                                         " keys"));
    std::unordered_map<std::string_view, entry_meta> found;
    found.reserve(rows.size());
    for (const entry& e : rows) found.emplace(e.key, meta_of(e));
    return detail::answers_in_order(keys, found);
  }

  /// Puts `previous` back (or removes the key) if `key` is stored at
  /// `expected`. Atomic because every write of the process holds the
  /// instance's writer lock, as this UPDATE or DELETE does.
  result<void> restore(std::string_view key, version_type expected,
                       const std::optional<entry>& previous) {
    if (!state_) return stopped();
    return state_->restore(key, expected, previous);
  }

  /// Split points from one statement: DuckDB sorts the range's keys for
  /// `ntile(parts)` and keeps each run's first key.
  result<std::vector<std::string>> split_points(const key_range& range, std::size_t parts) {
    if (!state_) return stopped();
    if (parts <= 1 || range.empty())
      return std::vector<std::string>{};
    BOOST_OUTCOME_TRY(auto lease, state_->readers.acquire());
    BOOST_OUTCOME_TRY(auto p, lease->prepare(state_->sql.tiers.split_points[range.last ? 1 : 0]));
    BOOST_OUTCOME_TRY(detail::duckdb_bind_text(p, 1, range.first, "split bound"));
    duckdb_bind_int64(p, 2, clamp_limit(parts));
    if (range.last) {
      BOOST_OUTCOME_TRY(detail::duckdb_bind_text(p, 3, *range.last, "split bound"));
    }
    detail::duckdb_owned_result r;
    BOOST_OUTCOME_TRY(lease->execute(p, r, "computing split points"));
    std::vector<std::string> points;
    for (;;) {
      detail::duckdb_owned_chunk chunk(duckdb_fetch_chunk(*r.get()));
      if (!chunk) break;
      const detail::duckdb_column key(chunk.get(), 0);
      for (idx_t i = 0; i < duckdb_data_chunk_get_size(chunk.get()); ++i)
        points.emplace_back(key.text(i));
    }
    if (const char* err = duckdb_result_error(r.get()); err != nullptr)
      return detail::duckdb_error(duckdb_result_error_type(r.get()), err, lease->where(),
                                  "computing split points");
    return points;
  }

 private:
  struct state {
    state(std::shared_ptr<duckdb_instance> d, duckdb_options o)
        : db(std::move(d)), options(std::move(o)),
          readers({.size = options.readers},
                  detail::duckdb_session_opener(db->native(), db->where())),
          layout(options.mapping ? std::optional<detail::duckdb_typed_layout>(*options.mapping)
                                 : std::nullopt),
          sql(layout ? detail::duckdb_statements(options.table, options.checkpoint_table, *layout)
                     : detail::duckdb_statements(options.table, options.checkpoint_table)) {}

    result<void> open_writer() {
      BOOST_OUTCOME_TRY(writer, detail::duckdb_session::connect(db->native(), db->where()));
      BOOST_OUTCOME_TRY(
          writer->exec(sql.create_table, "creating table " + detail::quoted(options.table)));
      if (options.mapping) {
        BOOST_OUTCOME_TRY(add_metadata_columns());
      }
      BOOST_OUTCOME_TRY(writer->exec(sql.create_checkpoints,
                                     "creating table " + detail::quoted(options.checkpoint_table)));
      if (options.mapping) {
        BOOST_OUTCOME_TRY(check_shape(options.table, wanted_columns()));
      } else {
        BOOST_OUTCOME_TRY(check_shape(options.table, detail::duckdb_entry_columns));
      }
      BOOST_OUTCOME_TRY(check_shape(options.checkpoint_table, detail::duckdb_checkpoint_columns));
      // Saving a checkpoint is an ON CONFLICT (name) upsert: it needs the key.
      BOOST_OUTCOME_TRY(auto cp_keyed, is_primary_key(options.checkpoint_table, "name"));
      if (!cp_keyed)
        return detail::shape_error(shown_table(options.checkpoint_table), "name",
                                   "is not the primary key");
      // Point reads look `key` up in an ART index: the primary key of a table
      // that has one, else a plain (non-unique) index, which costs a bulk
      // write far less than a unique one (docs/benchmarks.md).
      BOOST_OUTCOME_TRY(auto keyed, is_primary_key(options.table, options.mapping
                                                                      ? options.mapping->key_column_name()
                                                                      : std::string_view("key")));
      if (!keyed) {
        BOOST_OUTCOME_TRY(
            writer->exec(sql.create_key_index, "indexing table " + detail::quoted(options.table)));
      }
      if (options.mapping) {
        BOOST_OUTCOME_TRY(cursor, detail::duckdb_session::connect(db->native(), db->where()));
        BOOST_OUTCOME_TRY(cursor->prepare(sql.changes));
        return success();
      }
      BOOST_OUTCOME_TRY(auto source, duckdb_query_source::open(db, sql.changes));
      changes = std::make_unique<duckdb_query_source>(std::move(source));
      return success();
    }

    /// The columns a typed table needs, the entry key's first.
    std::vector<detail::wanted_column> wanted_columns() const {
      const table_mapping& m = *options.mapping;
      std::vector<detail::wanted_column> want;
      want.push_back({m.key_column_name(), "VARCHAR"});
      if (!m.key_is_column())
        for (const key_column& k : m.key) want.push_back({k.column, detail::duckdb_type_name(k.type)});
      want.push_back({m.version_column, detail::duckdb_type_name(m.version_type == version_column_type::bigint
                                                                     ? column_type::bigint
                                                                     : column_type::timestamptz)});
      for (const std::string* c : {&m.metadata.hash_lo, &m.metadata.hash_hi, &m.metadata.row_hash})
        want.push_back({*c, "BIGINT"});
      want.push_back({m.metadata.deleted, "BOOLEAN"});
      // A jsonb field may also be DuckDB's JSON type (its json extension).
      for (const field_column& f : m.fields)
        want.push_back({f.column_name(), detail::duckdb_type_name(f.type),
                        f.type == column_type::jsonb ? "JSON" : "", true});
      if (!m.rest_column.empty()) want.push_back({m.rest_column, "VARCHAR", "JSON", true});
      return want;
    }

    /// Adds storesync's columns to an existing typed table that lacks them.
    /// They are NOT NULL, so the table must hold no rows yet.
    result<void> add_metadata_columns() {
      const table_mapping& m = *options.mapping;
      BOOST_OUTCOME_TRY(auto found, table_columns(options.table));
      std::vector<std::pair<const std::string*, const char*>> add;
      if (!m.key_is_column()) add.emplace_back(&m.metadata.key, "VARCHAR");
      for (const std::string* c : {&m.metadata.hash_lo, &m.metadata.hash_hi, &m.metadata.row_hash})
        add.emplace_back(c, "BIGINT");
      add.emplace_back(&m.metadata.deleted, "BOOLEAN");
      const std::string t = detail::sql_identifier(options.table);
      std::optional<bool> empty;
      for (const auto& [name, type] : add) {
        // Captured by an init-capture: clang before 16 cannot capture a
        // structured binding.
        if (std::any_of(found.begin(), found.end(),
                        [&name = name](const detail::found_column& f) { return f.name == *name; }))
          continue;
        if (!empty) {
          BOOST_OUTCOME_TRY(auto rows, query_int64s(*writer, "SELECT count(*) FROM (SELECT 1 FROM " + t +
                                                                 " LIMIT 1)",
                                                    1, "counting the rows of " + detail::quoted(options.table)));
          empty = rows[0] == 0;
        }
        if (!*empty)
          return error{errc::schema_mismatch,
                       shown_table(options.table) + " holds rows but lacks storesync's column " +
                           detail::quoted(*name) +
                           "; add the metadata columns (see table_mapping.hpp) and fill them, or start"
                           " from an empty table"};
        const std::string column = detail::sql_identifier(*name);
        const std::string doing = "adding column " + detail::quoted(*name) + " to " + detail::quoted(options.table);
        BOOST_OUTCOME_TRY(writer->exec("ALTER TABLE " + t + " ADD COLUMN " + column + " " + type, doing));
        BOOST_OUTCOME_TRY(writer->exec("ALTER TABLE " + t + " ALTER COLUMN " + column + " SET NOT NULL", doing));
      }
      return success();
    }

    std::string shown_table(const std::string& table) const {
      return db->where() + ": table " + detail::quoted(table);
    }

    result<void> check_shape(const std::string& table,
                             std::span<const detail::wanted_column> want) {
      BOOST_OUTCOME_TRY(auto found, table_columns(table));
      // The key column (first) never holds NULL: NOT NULL, or the primary key.
      return detail::check_shape(shown_table(table), found, want, {.not_null = true});
    }

    // The columns of `table` as the catalog lists them.
    result<std::vector<detail::found_column>> table_columns(const std::string& table) {
      detail::duckdb_owned_result r;
      const std::string query = detail::duckdb_columns_query(table);
      if (duckdb_query(writer->get(), query.c_str(), r.out()) == DuckDBError)
        return detail::duckdb_error(duckdb_result_error_type(r.get()),
                                    duckdb_result_error(r.get()), db->where(),
                                    "reading the shape of " + detail::quoted(table));
      std::vector<detail::found_column> found;
      for (;;) {
        detail::duckdb_owned_chunk chunk(duckdb_fetch_chunk(*r.get()));
        if (!chunk) break;
        const detail::duckdb_column name(chunk.get(), 0), type(chunk.get(), 1),
            nullable(chunk.get(), 2);
        for (idx_t i = 0; i < duckdb_data_chunk_get_size(chunk.get()); ++i)
          found.push_back({std::string(name.text(i)), std::string(type.text(i)),
                           nullable.get<bool>(i)});
      }
      return found;
    }

    // Whether `column` alone is the primary key of `table`.
    result<bool> is_primary_key(const std::string& table, std::string_view column) {
      BOOST_OUTCOME_TRY(auto pk,
                        query_int64s(*writer, detail::duckdb_primary_key_query(table, column), 1,
                                     "reading the primary key"));
      return pk[0] == 1;
    }

    // Every change to the store's tables happens here, under the instance's
    // writer lock: no two writes of a process overlap, so the UPDATE + INSERT
    // merge cannot store one key twice.
    result<write_report> write(std::span<const entry> batch, const checkpoint* cp) {
      BOOST_OUTCOME_TRY(validate_batch(batch, any_json));
      // A typed table's rows, every one converted before anything is staged:
      // a refused entry leaves nothing written.
      std::vector<detail::typed_row> rows;
      if (options.mapping) {
        rows.reserve(batch.size());
        for (const entry& e : batch) {
          BOOST_OUTCOME_TRY(auto row, detail::row_of(*options.mapping, e));
          rows.push_back(std::move(row));
        }
      }
      std::lock_guard lock(db->writer_mutex());
      detail::duckdb_session& c = *writer;
      if (!batch.empty()) {
        BOOST_OUTCOME_TRY(c.exec(sql.create_stage, "creating the staging table"));
        auto staged = options.mapping ? stage_typed(c, batch, rows) : stage(c, batch);
        auto r = staged ? merge(c, batch.size(), cp) : result<write_report>(staged.error());
        (void)c.exec(sql.drop_stage, "dropping the staging table");  // frees its memory now
        return r;
      }
      return merge(c, 0, cp);
    }

    // Appends `count` rows to the staging table, of columns `types`, a whole
    // data chunk at a time: `fill(vectors, from, n)` writes rows
    // [from, from + n) into the chunk's vectors.
    template <class Fill>
    result<void> append_staged(detail::duckdb_session& c, std::span<const duckdb_type> types,
                               std::size_t count, Fill fill) {
      duckdb_appender app = nullptr;
      struct appender_guard {
        duckdb_appender& a;
        ~appender_guard() { duckdb_appender_destroy(&a); }
      } app_guard{app};
      auto appender_failure = [&](std::string_view doing) {
        duckdb_error_data e = duckdb_appender_error_data(app);
        auto out = detail::duckdb_error(duckdb_error_data_error_type(e),
                                        duckdb_error_data_message(e), c.where(), doing);
        duckdb_destroy_error_data(&e);
        return out;
      };
      if (duckdb_appender_create_ext(c.get(), "temp", "main", "storesync_stage", &app) ==
          DuckDBError)
        return appender_failure("opening the appender");

      std::vector<duckdb_logical_type> logical(types.size());
      for (std::size_t i = 0; i < types.size(); ++i) logical[i] = duckdb_create_logical_type(types[i]);
      duckdb_data_chunk chunk = duckdb_create_data_chunk(logical.data(), logical.size());
      for (auto& t : logical) duckdb_destroy_logical_type(&t);
      struct chunk_guard {
        duckdb_data_chunk& c;
        ~chunk_guard() { duckdb_destroy_data_chunk(&c); }
      } chunk_guard_{chunk};

      std::vector<duckdb_vector> v(types.size());
      const std::size_t capacity = duckdb_vector_size();
      for (std::size_t at = 0; at < count; at += capacity) {
        const std::size_t n = std::min(capacity, count - at);
        duckdb_data_chunk_reset(chunk);
        for (idx_t i = 0; i < v.size(); ++i) v[i] = duckdb_data_chunk_get_vector(chunk, i);
        fill(v.data(), at, n);
        duckdb_data_chunk_set_size(chunk, n);
        if (duckdb_append_data_chunk(app, chunk) == DuckDBError)
          return appender_failure("staging a batch");
      }
      if (duckdb_appender_close(app) == DuckDBError) return appender_failure("staging a batch");
      return success();
    }

    // Stages the batch for the JSON table.
    result<void> stage(detail::duckdb_session& c, std::span<const entry> batch) {
      static constexpr duckdb_type types[] = {DUCKDB_TYPE_BIGINT, DUCKDB_TYPE_VARCHAR,
                                              DUCKDB_TYPE_BIGINT, DUCKDB_TYPE_BLOB,
                                              DUCKDB_TYPE_BIGINT, DUCKDB_TYPE_VARCHAR,
                                              DUCKDB_TYPE_BOOLEAN};
      return append_staged(c, types, batch.size(), [&](duckdb_vector* v, std::size_t at, std::size_t n) {
        auto* seq = static_cast<int64_t*>(duckdb_vector_get_data(v[0]));
        auto* version = static_cast<int64_t*>(duckdb_vector_get_data(v[2]));
        auto* rh = static_cast<int64_t*>(duckdb_vector_get_data(v[4]));
        auto* tomb = static_cast<bool*>(duckdb_vector_get_data(v[6]));
        duckdb_vector_ensure_validity_writable(v[5]);
        uint64_t* value_valid = duckdb_vector_get_validity(v[5]);
        for (std::size_t i = 0; i < n; ++i) {
          const entry& e = batch[at + i];
          const auto hash = detail::hash_to_blob(e.hash);
          seq[i] = static_cast<int64_t>(at + i);
          duckdb_vector_assign_string_element_len(v[1], i, e.key.data(), e.key.size());
          version[i] = e.version;
          duckdb_vector_assign_string_element_len(
              v[3], i, reinterpret_cast<const char*>(hash.data()), hash.size());
          rh[i] = static_cast<int64_t>(row_hash(e));
          if (e.tombstone) duckdb_validity_set_row_invalid(value_valid, i);
          else duckdb_vector_assign_string_element_len(v[5], i, e.value.data(), e.value.size());
          tomb[i] = e.tombstone;
        }
      });
    }

    // Stages the batch for a typed table: the metadata, then the key
    // columns' and the value columns' cells as text (the merge casts them).
    result<void> stage_typed(detail::duckdb_session& c, std::span<const entry> batch,
                             const std::vector<detail::typed_row>& rows) {
      const std::size_t parts = layout->key_parts.size(), values = layout->values.size();
      std::vector<duckdb_type> types = {DUCKDB_TYPE_BIGINT, DUCKDB_TYPE_VARCHAR, DUCKDB_TYPE_BIGINT,
                                        DUCKDB_TYPE_BIGINT, DUCKDB_TYPE_BIGINT,  DUCKDB_TYPE_BIGINT,
                                        DUCKDB_TYPE_BOOLEAN};
      types.resize(types.size() + parts + values, DUCKDB_TYPE_VARCHAR);
      return append_staged(c, types, batch.size(), [&](duckdb_vector* v, std::size_t at, std::size_t n) {
        auto* seq = static_cast<int64_t*>(duckdb_vector_get_data(v[0]));
        auto* version = static_cast<int64_t*>(duckdb_vector_get_data(v[2]));
        auto* lo = static_cast<int64_t*>(duckdb_vector_get_data(v[3]));
        auto* hi = static_cast<int64_t*>(duckdb_vector_get_data(v[4]));
        auto* rh = static_cast<int64_t*>(duckdb_vector_get_data(v[5]));
        auto* tomb = static_cast<bool*>(duckdb_vector_get_data(v[6]));
        duckdb_vector* cells = v + 7 + parts;
        for (std::size_t j = 0; j < values; ++j) duckdb_vector_ensure_validity_writable(cells[j]);
        for (std::size_t i = 0; i < n; ++i) {
          const entry& e = batch[at + i];
          const detail::typed_row& row = rows[at + i];
          seq[i] = static_cast<int64_t>(at + i);
          duckdb_vector_assign_string_element_len(v[1], i, e.key.data(), e.key.size());
          version[i] = e.version;
          lo[i] = static_cast<int64_t>(e.hash.lo);
          hi[i] = static_cast<int64_t>(e.hash.hi);
          rh[i] = static_cast<int64_t>(row_hash(e));
          tomb[i] = e.tombstone;
          for (std::size_t j = 0; j < parts; ++j)
            duckdb_vector_assign_string_element_len(v[7 + j], i, row.key[j].data(), row.key[j].size());
          for (std::size_t j = 0; j < values; ++j) {
            const detail::cell& cell = row.values[j];
            if (cell) duckdb_vector_assign_string_element_len(cells[j], i, cell->data(), cell->size());
            else duckdb_validity_set_row_invalid(duckdb_vector_get_validity(cells[j]), i);
          }
        }
      });
    }

    result<write_report> merge(detail::duckdb_session& c, std::size_t staged,
                               const checkpoint* cp) {
      BOOST_OUTCOME_TRY(c.exec("BEGIN TRANSACTION", "starting a write transaction"));
      auto r = merge_in_transaction(c, staged, cp);
      if (!r) {
        (void)c.exec("ROLLBACK", "rolling back");
        return r;
      }
      if (auto committed = c.exec("COMMIT", "committing a batch"); !committed) {
        (void)c.exec("ROLLBACK", "rolling back");
        return committed.error();
      }
      return r;
    }

    result<write_report> merge_in_transaction(detail::duckdb_session& c, std::size_t staged,
                                              const checkpoint* cp) {
      const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count();
      write_report report;
      if (staged > 0) {
        BOOST_OUTCOME_TRY(auto counts, query_int64s(c, sql.classify, 7, "classifying a batch"));
        const bool duplicates = counts[0] > 0;
        const bool newer = counts[4] > 0, fresh = counts[5] > 0, stored = counts[6] > 0;
        if (duplicates) {
          BOOST_OUTCOME_TRY(auto ordered,
                            query_int64s(c, sql.classify_ordered, 3, "classifying a batch"));
          report = {static_cast<std::size_t>(ordered[0]), static_cast<std::size_t>(ordered[1]),
                    static_cast<std::size_t>(ordered[2])};
        } else {
          report = {static_cast<std::size_t>(counts[1]), static_cast<std::size_t>(counts[2]),
                    static_cast<std::size_t>(counts[3])};
        }
        const std::string at = std::to_string(now);
        const int dedup = duplicates ? 1 : 0;
        // Stored keys first: the insert then skips every key the table holds,
        // and checks nothing when none of the batch's keys was stored.
        if (newer) {
          BOOST_OUTCOME_TRY(c.exec(sql.merge_update[dedup].with(at), "updating stored keys"));
        }
        if (fresh) {
          const auto& insert = stored ? sql.merge_insert_new[dedup] : sql.merge_insert_all[dedup];
          BOOST_OUTCOME_TRY(c.exec(insert.with(at), "inserting new keys"));
        }
      }
      if (cp != nullptr) {
        BOOST_OUTCOME_TRY(auto p, c.prepare(sql.save_checkpoint));
        BOOST_OUTCOME_TRY(detail::duckdb_bind_text(p, 1, cp->name, "checkpoint name"));
        BOOST_OUTCOME_TRY(detail::duckdb_bind_text(p, 2, cp->value, "checkpoint value"));
        duckdb_bind_int64(p, 3, now);
        detail::duckdb_owned_result r;
        BOOST_OUTCOME_TRY(c.execute(p, r, "saving checkpoint " + detail::quoted(cp->name)));
      }
      return report;
    }

    result<void> restore(std::string_view key, version_type expected,
                         const std::optional<entry>& previous) {
      BOOST_OUTCOME_TRY(validate_restore(key, expected, previous, any_json));
      std::optional<detail::typed_row> row;
      if (options.mapping && previous) {
        BOOST_OUTCOME_TRY(row, detail::row_of(*options.mapping, *previous));
      }
      const std::string doing = "restoring key " + detail::quoted(key);
      std::lock_guard lock(db->writer_mutex());
      detail::duckdb_session& c = *writer;
      BOOST_OUTCOME_TRY(auto p, c.prepare(previous ? sql.tiers.restore : sql.tiers.remove));
      BOOST_OUTCOME_TRY(detail::duckdb_bind_text(p, 1, key, "key"));
      duckdb_bind_int64(p, 2, expected);
      if (row) {
        // $3.. version, hash_lo, hash_hi, row_hash, deleted, the value cells.
        const entry& e = *previous;
        duckdb_bind_int64(p, 3, e.version);
        duckdb_bind_int64(p, 4, static_cast<int64_t>(e.hash.lo));
        duckdb_bind_int64(p, 5, static_cast<int64_t>(e.hash.hi));
        duckdb_bind_int64(p, 6, static_cast<int64_t>(row_hash(e)));
        duckdb_bind_boolean(p, 7, e.tombstone);
        for (std::size_t i = 0; i < row->values.size(); ++i) {
          const idx_t at = 8 + i;
          if (!row->values[i]) {
            duckdb_bind_null(p, at);
          } else {
            BOOST_OUTCOME_TRY(detail::duckdb_bind_text(p, at, *row->values[i], "value"));
          }
        }
      } else if (previous) {
        const entry& e = *previous;
        const auto hash = detail::hash_to_blob(e.hash);
        duckdb_bind_int64(p, 3, e.version);
        duckdb_bind_blob(p, 4, hash.data(), hash.size());
        duckdb_bind_int64(p, 5, static_cast<int64_t>(row_hash(e)));
        if (e.tombstone) {
          duckdb_bind_null(p, 6);
        } else {
          BOOST_OUTCOME_TRY(detail::duckdb_bind_text(p, 6, e.value, "value"));
        }
        duckdb_bind_boolean(p, 7, e.tombstone);
        duckdb_bind_int64(p, 8,
                          std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count());
      }
      detail::duckdb_owned_result r;
      BOOST_OUTCOME_TRY(c.execute(p, r, doing));
      if (duckdb_rows_changed(r.get()) > 0) return success();
      // Not stored at `expected`: say what is (no write can come in between,
      // under the writer lock).
      BOOST_OUTCOME_TRY(auto read, c.prepare(sql.read));
      BOOST_OUTCOME_TRY(detail::duckdb_bind_text(read, 1, key, "key"));
      BOOST_OUTCOME_TRY(auto rows, run_entries(c, read, 1, doing));
      return detail::restore_conflict(
          key, expected, rows.empty() ? std::nullopt : std::optional{rows.front().version});
    }

    // The entries of the rows `p` selects (columns as `sql.read`'s, or as
    // `sql.lookup`'s without values).
    result<std::vector<entry>> run_entries(detail::duckdb_session& c, duckdb_prepared_statement p,
                                           std::size_t limit, std::string_view doing) const {
      detail::duckdb_owned_result r;
      BOOST_OUTCOME_TRY(c.execute(p, r, doing));
      std::vector<entry> out;
      out.reserve(std::min<std::size_t>(limit, 2048));
      if (!options.mapping) {
        BOOST_OUTCOME_TRY(detail::duckdb_collect_entries(r.get(), out, c.where()));
        return out;
      }
      for (;;) {
        detail::duckdb_owned_chunk chunk(duckdb_fetch_chunk(*r.get()));
        if (!chunk) break;
        append_typed_rows(chunk.get(), out);
      }
      if (const char* err = duckdb_result_error(r.get()); err != nullptr)
        return detail::duckdb_error(duckdb_result_error_type(r.get()), err, c.where(), doing);
      return out;
    }

    // Appends the rows of a typed table's chunk: the entry key, version,
    // hash_lo, hash_hi, deleted, then (unless a lookup's) the value columns,
    // read by type into the cells `json_of_cells` rebuilds the value from.
    void append_typed_rows(duckdb_data_chunk chunk, std::vector<entry>& out) const {
      const idx_t n = duckdb_data_chunk_get_size(chunk);
      const detail::duckdb_column key(chunk, 0), version(chunk, 1), lo(chunk, 2), hi(chunk, 3),
          deleted(chunk, 4);
      std::vector<detail::duckdb_column> values;
      for (idx_t c = 5; c < duckdb_data_chunk_get_column_count(chunk); ++c) values.emplace_back(chunk, c);
      std::vector<std::string> text(values.size());
      std::vector<std::optional<std::string_view>> cells(values.size());
      for (idx_t i = 0; i < n; ++i) {
        entry e;
        e.key = std::string(key.text(i));
        e.version = version.get<int64_t>(i);
        e.hash = {static_cast<std::uint64_t>(lo.get<int64_t>(i)), static_cast<std::uint64_t>(hi.get<int64_t>(i))};
        e.tombstone = deleted.get<bool>(i);
        if (!e.tombstone && !values.empty()) {
          for (std::size_t c = 0; c < values.size(); ++c)
            cells[c] = values[c].valid(i) ? std::optional{read_form(layout->values[c].type, values[c], i, text[c])}
                                          : std::nullopt;
          e.value = detail::json_of_cells(*options.mapping, cells);
        }
        out.push_back(std::move(e));
      }
    }

    // Row `i` of a value column of type `t` in the read form of
    // typed_value.hpp (`buffer` holds it when it is not in the chunk).
    static std::string_view read_form(column_type t, const detail::duckdb_column& column, idx_t i,
                                      std::string& buffer) {
      switch (t) {
        case column_type::integer: buffer = std::to_string(column.get<int32_t>(i)); break;
        case column_type::bigint: buffer = std::to_string(column.get<int64_t>(i)); break;
        case column_type::double_precision: buffer = detail::json_double(column.get<double>(i)); break;
        case column_type::boolean: return column.get<bool>(i) ? "true" : "false";
        // DuckDB keeps a TIMESTAMPTZ as microseconds and a DATE as days
        // since 1970-01-01.
        case column_type::timestamptz: buffer = std::to_string(column.get<duckdb_timestamp>(i).micros); break;
        case column_type::date: buffer = std::to_string(column.get<duckdb_date>(i).days); break;
        default: return column.text(i);  // VARCHAR (or JSON) text
      }
      return buffer;
    }

    // A typed table's change stream (see `changes_after`): a streaming query
    // over the table in (version, key) order on its own connection, and the
    // decoded rows of its current chunk not handed out yet.
    result<std::vector<entry>> typed_changes_after(const watermark& mark, std::size_t limit) {
      std::lock_guard lock(changes_mutex);
      std::vector<entry> out;
      if (limit == 0) return out;
      if (!stream.live() || position != mark) {
        stream.reset();
        pending.clear();
        next_pending = 0;
        BOOST_OUTCOME_TRY(auto p, cursor->prepare(sql.changes));
        duckdb_bind_int64(p, 1, mark.version);
        BOOST_OUTCOME_TRY(detail::duckdb_bind_text(p, 2, mark.key, "watermark key"));
        BOOST_OUTCOME_TRY(cursor->execute(p, stream, "reading changes", true));
        position = mark;
      }
      out.reserve(std::min<std::size_t>(limit, 4096));
      while (out.size() < limit) {
        if (next_pending == pending.size()) {
          pending.clear();
          next_pending = 0;
          detail::duckdb_owned_chunk chunk(duckdb_fetch_chunk(*stream.get()));
          if (!chunk) {
            const char* err = duckdb_result_error(stream.get());
            auto failure = err ? std::optional<error>(detail::duckdb_error(
                                     duckdb_result_error_type(stream.get()), err, db->where(), "reading changes"))
                               : std::nullopt;
            stream.reset();  // ran dry (or failed): the next call re-runs the query
            if (failure) return *failure;
            break;
          }
          append_typed_rows(chunk.get(), pending);
          continue;
        }
        out.push_back(std::move(pending[next_pending++]));
      }
      if (!out.empty()) position = watermark{out.back().version, out.back().key};
      return out;
    }

    std::shared_ptr<duckdb_instance> db;
    duckdb_options options;
    std::unique_ptr<detail::duckdb_session> writer;
    detail::duckdb_session_pool readers;
    const std::optional<detail::duckdb_typed_layout> layout;
    const detail::duckdb_statements sql;
    // The JSON table's change source.
    std::unique_ptr<duckdb_query_source> changes;
    // A typed table's change stream (see `typed_changes_after`).
    std::mutex changes_mutex;
    std::unique_ptr<detail::duckdb_session> cursor;
    detail::duckdb_owned_result stream;
    std::vector<entry> pending;
    std::size_t next_pending = 0;
    watermark position;
  };

  explicit duckdb_store(std::unique_ptr<state> s) noexcept : state_(std::move(s)) {}

  static error stopped() { return error{errc::stopped, "duckdb_store was moved from"}; }

  static int64_t clamp_limit(std::size_t limit) noexcept {
    return static_cast<int64_t>(std::min<std::size_t>(limit, std::numeric_limits<int64_t>::max()));
  }

  static result<std::vector<int64_t>> query_int64s(detail::duckdb_session& c,
                                                   const std::string& sql, std::size_t n,
                                                   std::string_view doing) {
    detail::duckdb_owned_result r;
    if (duckdb_query(c.get(), sql.c_str(), r.out()) == DuckDBError)
      return detail::duckdb_error(duckdb_result_error_type(r.get()), duckdb_result_error(r.get()),
                                  c.where(), doing);
    std::vector<int64_t> out(n, 0);
    for (;;) {
      detail::duckdb_owned_chunk chunk(duckdb_fetch_chunk(*r.get()));
      if (!chunk) break;
      if (duckdb_data_chunk_get_size(chunk.get()) == 0) continue;
      for (std::size_t i = 0; i < n; ++i) {
        const detail::duckdb_column col(chunk.get(), i);
        out[i] = col.valid(0) ? col.get<int64_t>(0) : 0;
      }
    }
    return out;
  }

  // What DuckDB cannot hold of a mapping, refused at open: column names it
  // would take for the same (it compares them case-insensitively) or cannot
  // pass (a NUL byte).
  static result<void> check_duckdb_mapping(const table_mapping& m) {
    auto bad = [](std::string what) { return error{errc::invalid_argument, "table mapping: " + what}; };
    std::vector<std::string> names{m.version_column, m.metadata.hash_lo, m.metadata.hash_hi,
                                   m.metadata.row_hash, m.metadata.deleted};
    if (!m.key_is_column()) names.push_back(m.metadata.key);
    if (!m.rest_column.empty()) names.push_back(m.rest_column);
    for (const key_column& k : m.key) names.push_back(k.column);
    for (const field_column& f : m.fields) names.push_back(f.column_name());
    std::vector<std::string> folded;
    for (const std::string& n : names) {
      if (n.find('\0') != std::string::npos) return bad("column " + detail::quoted(n) + " has a NUL byte");
      std::string lower = n;
      for (char& ch : lower)
        if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch - 'A' + 'a');
      for (std::size_t i = 0; i < folded.size(); ++i)
        if (folded[i] == lower)
          return bad("columns " + detail::quoted(names[i]) + " and " + detail::quoted(n) +
                     " are one column to DuckDB, which compares names case-insensitively");
      folded.push_back(std::move(lower));
    }
    return success();
  }

  std::unique_ptr<state> state_;
};

static_assert(store<duckdb_store>);
static_assert(scannable_store<duckdb_store>);
static_assert(change_source<duckdb_store>);
static_assert(checksum_store<duckdb_store>);
static_assert(checkpoint_store<duckdb_store>);
static_assert(versioned_store<duckdb_store>);
static_assert(metadata_store<duckdb_store>);
static_assert(restorable_store<duckdb_store>);
static_assert(partitionable_store<duckdb_store>);

}  // namespace storesync
