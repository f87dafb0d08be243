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
#include <initializer_list>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "storesync/core/store.hpp"
#include "storesync/store/detail/duckdb_connection.hpp"
#include "storesync/store/duckdb_instance.hpp"
#include "storesync/store/duckdb_query_source.hpp"

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
};

class duckdb_store {
 public:
  /// Opens the database at `options.path` and the store's tables.
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
    auto st = std::make_unique<state>(std::move(db), options);
    BOOST_OUTCOME_TRY(st->open_writer());
    return duckdb_store(std::move(st));
  }

  duckdb_store(duckdb_store&&) noexcept = default;
  duckdb_store& operator=(duckdb_store&&) noexcept = default;

  /// The database this store lives in (to open a `duckdb_query_source` on it).
  const std::shared_ptr<duckdb_instance>& instance() const noexcept { return state_->db; }
  const duckdb_options& options() const noexcept { return state_->options; }

  result<std::optional<entry>> read(std::string_view key) {
    BOOST_OUTCOME_TRY(auto lease, state_->readers.acquire());
    BOOST_OUTCOME_TRY(auto p, lease->prepare(state_->sql_read));
    BOOST_OUTCOME_TRY(detail::duckdb_bind_text(p, 1, key, "key"));
    BOOST_OUTCOME_TRY(auto rows, run_entries(*lease, p, 1, "reading key " + detail::quoted(key)));
    if (rows.empty()) return std::optional<entry>{};
    return std::optional<entry>{std::move(rows.front())};
  }

  result<write_report> write(std::span<const entry> batch) { return state_->write(batch, nullptr); }

  result<write_report> write_with_checkpoint(std::span<const entry> batch, const checkpoint& cp) {
    return state_->write(batch, &cp);
  }

  result<std::optional<std::string>> load_checkpoint(std::string_view name) {
    BOOST_OUTCOME_TRY(auto lease, state_->readers.acquire());
    BOOST_OUTCOME_TRY(auto p, lease->prepare(state_->sql_load_checkpoint));
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
    if (limit == 0) return std::vector<entry>{};
    const bool strict = !after.empty() && after >= std::string_view(range.first);
    const std::string_view lower = strict ? after : std::string_view(range.first);
    BOOST_OUTCOME_TRY(auto lease, state_->readers.acquire());
    BOOST_OUTCOME_TRY(auto p,
                      lease->prepare(state_->sql_scan[(strict ? 1 : 0) + (range.last ? 2 : 0)]));
    BOOST_OUTCOME_TRY(detail::duckdb_bind_text(p, 1, lower, "scan bound"));
    duckdb_bind_int64(p, 2, clamp_limit(limit));
    if (range.last) {
      BOOST_OUTCOME_TRY(detail::duckdb_bind_text(p, 3, *range.last, "scan bound"));
    }
    return run_entries(*lease, p, limit, "scanning from key " + detail::quoted(lower));
  }

  /// Entries after `mark` in (version, key) order. Served by a streaming
  /// cursor (a `duckdb_query_source` over the table): the table is sorted once
  /// and each call that continues where the previous one stopped takes the
  /// next rows; a call from another watermark, or after the stream ran dry,
  /// re-runs the query, so rows written since are seen then.
  result<std::vector<entry>> changes_after(const watermark& mark, std::size_t limit) {
    return state_->changes->changes_after(mark, limit);
  }

  /// The largest stored version (DuckDB answers from its column statistics).
  result<version_type> max_version() {
    BOOST_OUTCOME_TRY(auto lease, state_->readers.acquire());
    BOOST_OUTCOME_TRY(auto p, lease->prepare(state_->sql_max_version));
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
    BOOST_OUTCOME_TRY(auto lease, state_->readers.acquire());
    BOOST_OUTCOME_TRY(auto p, lease->prepare(state_->sql_checksum[range.last ? 1 : 0]));
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

 private:
  struct state {
    state(std::shared_ptr<duckdb_instance> d, duckdb_options o)
        : db(std::move(d)), options(std::move(o)),
          readers(db->native(), db->where(), options.readers) {
      const std::string t = detail::sql_identifier(options.table);
      const std::string cp = detail::sql_identifier(options.checkpoint_table);
      const std::string cols = "key, version, hash, value, tombstone";
      sql_read = "SELECT " + cols + " FROM " + t + " WHERE key = $1";
      const std::string scan = "SELECT " + cols + " FROM " + t + " WHERE key ";
      sql_scan[0] = scan + ">= $1 ORDER BY key LIMIT $2";
      sql_scan[1] = scan + "> $1 ORDER BY key LIMIT $2";
      sql_scan[2] = scan + ">= $1 AND key < $3 ORDER BY key LIMIT $2";
      sql_scan[3] = scan + "> $1 AND key < $3 ORDER BY key LIMIT $2";
      sql_checksum[0] = "SELECT count(*), sum(row_hash::HUGEINT) FROM " + t + " WHERE key >= $1";
      sql_max_version = "SELECT coalesce(max(version), 0)::BIGINT FROM " + t;
      sql_checksum[1] = sql_checksum[0] + " AND key < $2";
      sql_load_checkpoint = "SELECT value FROM " + cp + " WHERE name = $1";
      sql_save_checkpoint = "INSERT INTO " + cp +
                            " (name, value, updated_at) VALUES ($1, $2, epoch_ms($3))"
                            " ON CONFLICT (name) DO UPDATE SET value = excluded.value,"
                            " updated_at = excluded.updated_at";
      const std::string stage = "temp.main.storesync_stage";
      sql_create_stage =
          "CREATE OR REPLACE TEMP TABLE storesync_stage (seq BIGINT, key VARCHAR, version BIGINT,"
          " hash BLOB, row_hash BIGINT, value VARCHAR, tombstone BOOLEAN)";
      sql_drop_stage = "DROP TABLE IF EXISTS " + stage;
      // One pass: duplicates in the batch, the report if there are none, and
      // which merge statements have work (rows to update, keys to insert,
      // keys already stored).
      sql_classify =
          "SELECT count(*) - count(DISTINCT s.key),"
          " count(*) FILTER (WHERE t.version IS NULL OR s.version > t.version),"
          " count(*) FILTER (WHERE s.version = t.version),"
          " count(*) FILTER (WHERE s.version < t.version),"
          " count(*) FILTER (WHERE s.version > t.version),"
          " count(*) FILTER (WHERE t.version IS NULL), count(t.version)"
          " FROM " + stage + " s LEFT JOIN " + t + " t ON t.key = s.key";
      // With duplicates: each entry meets the newest of the stored version and
      // the versions earlier in the batch, as the version guard applies them.
      sql_classify_ordered =
          "SELECT count(*) FILTER (WHERE version > seen), count(*) FILTER (WHERE version = seen),"
          " count(*) FILTER (WHERE version < seen) FROM (SELECT s.version,"
          " greatest(coalesce(t.version, 0), coalesce(max(s.version) OVER (PARTITION BY s.key"
          " ORDER BY s.seq ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0)) AS seen"
          " FROM " + stage + " s LEFT JOIN " + t + " t ON t.key = s.key)";
      // The merge reads the newest staged entry of each key: the staging table
      // itself, or (with duplicates) its first row per key by version, then
      // batch order.
      const std::string newest[2] = {
          stage + " s",
          "(SELECT * FROM " + stage +
              " QUALIFY row_number() OVER (PARTITION BY key ORDER BY version DESC, seq) = 1) s"};
      const std::string insert = "INSERT INTO " + t +
                                 " (key, version, hash, row_hash, value, tombstone, updated_at)"
                                 " SELECT key, version, hash, row_hash, value, tombstone,"
                                 " epoch_ms(";
      for (int dedup = 0; dedup < 2; ++dedup) {
        // The version guard: a stored row changes only for a newer version.
        merge_update[dedup] = {"UPDATE " + t + " AS t SET version = s.version, hash = s.hash,"
                               " row_hash = s.row_hash, value = s.value, tombstone = s.tombstone,"
                               " updated_at = epoch_ms(",
                               ") FROM " + newest[dedup] +
                                   " WHERE t.key = s.key AND s.version > t.version"};
        merge_insert_all[dedup] = {insert, ") FROM " + newest[dedup]};
        merge_insert_new[dedup] = {insert, ") FROM " + newest[dedup] +
                                               " WHERE NOT EXISTS (SELECT 1 FROM " + t +
                                               " t WHERE t.key = s.key)"};
      }
    }

    result<void> open_writer() {
      BOOST_OUTCOME_TRY(writer, detail::duckdb_session::connect(db->native(), db->where()));
      const std::string t = detail::sql_identifier(options.table);
      const std::string cp = detail::sql_identifier(options.checkpoint_table);
      BOOST_OUTCOME_TRY(writer->exec(
          "CREATE TABLE IF NOT EXISTS " + t +
              " (key VARCHAR NOT NULL, version BIGINT NOT NULL, hash BLOB NOT NULL,"
              " row_hash BIGINT NOT NULL, value VARCHAR, tombstone BOOLEAN NOT NULL,"
              " updated_at TIMESTAMP NOT NULL)",
          "creating table " + detail::quoted(options.table)));
      BOOST_OUTCOME_TRY(writer->exec(
          "CREATE TABLE IF NOT EXISTS " + cp +
              " (name VARCHAR PRIMARY KEY, value VARCHAR NOT NULL, updated_at TIMESTAMP NOT NULL)",
          "creating table " + detail::quoted(options.checkpoint_table)));
      BOOST_OUTCOME_TRY(check_shape(options.table, {{"key", "VARCHAR"},
                                                    {"version", "BIGINT"},
                                                    {"hash", "BLOB"},
                                                    {"row_hash", "BIGINT"},
                                                    {"value", "VARCHAR"},
                                                    {"tombstone", "BOOLEAN"},
                                                    {"updated_at", "TIMESTAMP"}}));
      BOOST_OUTCOME_TRY(check_shape(options.checkpoint_table, {{"name", "VARCHAR"},
                                                               {"value", "VARCHAR"},
                                                               {"updated_at", "TIMESTAMP"}}));
      // Saving a checkpoint is an ON CONFLICT (name) upsert: it needs the key.
      BOOST_OUTCOME_TRY(auto cp_keyed, is_primary_key(options.checkpoint_table, "name"));
      if (!cp_keyed)
        return error{errc::schema_mismatch, db->where() + ": table " +
                                                detail::quoted(options.checkpoint_table) +
                                                " column " + detail::quoted("name") +
                                                " is not the primary key"};
      // Point reads look `key` up in an ART index: the primary key of a table
      // that has one, else a plain (non-unique) index, which costs a bulk
      // write far less than a unique one (docs/benchmarks.md).
      BOOST_OUTCOME_TRY(auto keyed, is_primary_key(options.table, "key"));
      if (!keyed) {
        BOOST_OUTCOME_TRY(writer->exec("CREATE INDEX IF NOT EXISTS " +
                                           detail::sql_identifier(options.table + "_key") +
                                           " ON " + t + " (key)",
                                       "indexing table " + detail::quoted(options.table)));
      }
      BOOST_OUTCOME_TRY(auto source,
                        duckdb_query_source::open(
                            db, "SELECT key, value, version, tombstone, hash FROM " + t));
      changes = std::make_unique<duckdb_query_source>(std::move(source));
      return success();
    }

    struct expected_column {
      const char* name;
      const char* type;
    };

    result<void> check_shape(const std::string& table, std::initializer_list<expected_column> want) {
      const std::string where = db->where() + ": table " + detail::quoted(table);
      detail::duckdb_owned_result r;
      const std::string sql =
          "SELECT column_name, data_type, is_nullable FROM duckdb_columns() WHERE database_name ="
          " current_database() AND schema_name = current_schema() AND table_name = " +
          detail::duckdb_literal(table);
      if (duckdb_query(writer->get(), sql.c_str(), r.out()) == DuckDBError)
        return detail::duckdb_error(duckdb_result_error_type(r.get()),
                                    duckdb_result_error(r.get()), db->where(),
                                    "reading the shape of " + detail::quoted(table));
      struct column {
        std::string name, type;
        bool nullable;
      };
      std::vector<column> cols;
      for (;;) {
        detail::duckdb_owned_chunk chunk(duckdb_fetch_chunk(*r.get()));
        if (!chunk) break;
        const detail::duckdb_column name(chunk.get(), 0), type(chunk.get(), 1),
            nullable(chunk.get(), 2);
        for (idx_t i = 0; i < duckdb_data_chunk_get_size(chunk.get()); ++i)
          cols.push_back({std::string(name.text(i)), std::string(type.text(i)),
                          nullable.get<bool>(i)});
      }
      for (const expected_column& w : want) {
        const auto it = std::find_if(cols.begin(), cols.end(),
                                     [&](const column& c) { return c.name == w.name; });
        if (it == cols.end())
          return error{errc::schema_mismatch, where + " has no column " + detail::quoted(w.name)};
        if (it->type != w.type)
          return error{errc::schema_mismatch, where + " column " + detail::quoted(w.name) +
                                                  " has type " + it->type + ", expected " +
                                                  w.type};
        // The key column (first) never holds NULL: NOT NULL, or the primary key.
        if (&w == want.begin() && it->nullable)
          return error{errc::schema_mismatch, where + " column " + detail::quoted(w.name) +
                                                  " admits NULL, expected NOT NULL"};
      }
      return success();
    }

    // Whether `column` alone is the primary key of `table`.
    result<bool> is_primary_key(const std::string& table, const char* column) {
      const std::string sql =
          "SELECT count(*) FROM duckdb_constraints() WHERE database_name = current_database()"
          " AND schema_name = current_schema() AND table_name = " +
          detail::duckdb_literal(table) +
          " AND constraint_type = 'PRIMARY KEY' AND constraint_column_names = [" +
          detail::duckdb_literal(column) + "]";
      BOOST_OUTCOME_TRY(auto pk, query_int64s(*writer, sql, 1, "reading the primary key"));
      return pk[0] == 1;
    }

    // Every change to the store's tables happens here, under the instance's
    // writer lock: no two writes of a process overlap, so the UPDATE + INSERT
    // merge cannot store one key twice.
    result<write_report> write(std::span<const entry> batch, const checkpoint* cp) {
      BOOST_OUTCOME_TRY(validate_batch(batch, any_json));
      std::lock_guard lock(db->writer_mutex());
      detail::duckdb_session& c = *writer;
      if (!batch.empty()) {
        BOOST_OUTCOME_TRY(c.exec(sql_create_stage, "creating the staging table"));
        auto staged = stage(c, batch);
        auto r = staged ? merge(c, batch.size(), cp) : result<write_report>(staged.error());
        (void)c.exec(sql_drop_stage, "dropping the staging table");  // frees its memory now
        return r;
      }
      return merge(c, 0, cp);
    }

    // Appends the batch to the staging table a whole data chunk at a time.
    result<void> stage(detail::duckdb_session& c, std::span<const entry> batch) {
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

      const duckdb_type type_ids[] = {DUCKDB_TYPE_BIGINT, DUCKDB_TYPE_VARCHAR,
                                      DUCKDB_TYPE_BIGINT, DUCKDB_TYPE_BLOB,
                                      DUCKDB_TYPE_BIGINT, DUCKDB_TYPE_VARCHAR,
                                      DUCKDB_TYPE_BOOLEAN};
      duckdb_logical_type types[7];
      for (int i = 0; i < 7; ++i) types[i] = duckdb_create_logical_type(type_ids[i]);
      duckdb_data_chunk chunk = duckdb_create_data_chunk(types, 7);
      for (auto& t : types) duckdb_destroy_logical_type(&t);
      struct chunk_guard {
        duckdb_data_chunk& c;
        ~chunk_guard() { duckdb_destroy_data_chunk(&c); }
      } chunk_guard_{chunk};

      const std::size_t capacity = duckdb_vector_size();
      for (std::size_t at = 0; at < batch.size(); at += capacity) {
        const std::size_t n = std::min(capacity, batch.size() - at);
        duckdb_data_chunk_reset(chunk);
        duckdb_vector v[7];
        for (idx_t i = 0; i < 7; ++i) v[i] = duckdb_data_chunk_get_vector(chunk, i);
        auto* seq = static_cast<int64_t*>(duckdb_vector_get_data(v[0]));
        auto* version = static_cast<int64_t*>(duckdb_vector_get_data(v[2]));
        auto* rh = static_cast<int64_t*>(duckdb_vector_get_data(v[4]));
        auto* tomb = static_cast<bool*>(duckdb_vector_get_data(v[6]));
        duckdb_vector_ensure_validity_writable(v[5]);
        uint64_t* value_valid = duckdb_vector_get_validity(v[5]);
        for (std::size_t i = 0; i < n; ++i) {
          const entry& e = batch[at + i];
          unsigned char hash[16];
          detail::duckdb_hash_to_blob(e.hash, hash);
          seq[i] = static_cast<int64_t>(at + i);
          duckdb_vector_assign_string_element_len(v[1], i, e.key.data(), e.key.size());
          version[i] = e.version;
          duckdb_vector_assign_string_element_len(v[3], i, reinterpret_cast<const char*>(hash),
                                                  16);
          rh[i] = static_cast<int64_t>(row_hash(e));
          if (e.tombstone) duckdb_validity_set_row_invalid(value_valid, i);
          else duckdb_vector_assign_string_element_len(v[5], i, e.value.data(), e.value.size());
          tomb[i] = e.tombstone;
        }
        duckdb_data_chunk_set_size(chunk, n);
        if (duckdb_append_data_chunk(app, chunk) == DuckDBError)
          return appender_failure("staging a batch");
      }
      if (duckdb_appender_close(app) == DuckDBError) return appender_failure("staging a batch");
      return success();
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
        BOOST_OUTCOME_TRY(auto counts, query_int64s(c, sql_classify, 7, "classifying a batch"));
        const bool duplicates = counts[0] > 0;
        const bool newer = counts[4] > 0, fresh = counts[5] > 0, stored = counts[6] > 0;
        if (duplicates) {
          BOOST_OUTCOME_TRY(auto ordered,
                            query_int64s(c, sql_classify_ordered, 3, "classifying a batch"));
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
          BOOST_OUTCOME_TRY(c.exec(merge_update[dedup].with(at), "updating stored keys"));
        }
        if (fresh) {
          const merge_sql& insert = stored ? merge_insert_new[dedup] : merge_insert_all[dedup];
          BOOST_OUTCOME_TRY(c.exec(insert.with(at), "inserting new keys"));
        }
      }
      if (cp != nullptr) {
        BOOST_OUTCOME_TRY(auto p, c.prepare(sql_save_checkpoint));
        BOOST_OUTCOME_TRY(detail::duckdb_bind_text(p, 1, cp->name, "checkpoint name"));
        BOOST_OUTCOME_TRY(detail::duckdb_bind_text(p, 2, cp->value, "checkpoint value"));
        duckdb_bind_int64(p, 3, now);
        detail::duckdb_owned_result r;
        BOOST_OUTCOME_TRY(c.execute(p, r, "saving checkpoint " + detail::quoted(cp->name)));
      }
      return report;
    }

    std::shared_ptr<duckdb_instance> db;
    duckdb_options options;
    std::unique_ptr<detail::duckdb_session> writer;
    detail::duckdb_session_pool readers;
    std::unique_ptr<duckdb_query_source> changes;
    std::string sql_read, sql_load_checkpoint, sql_save_checkpoint;
    std::string sql_scan[4];
    std::string sql_checksum[2];
    std::string sql_max_version;
    std::string sql_create_stage, sql_drop_stage, sql_classify, sql_classify_ordered;
    // A merge statement, split around its `epoch_ms(` timestamp argument.
    struct merge_sql {
      std::string head, tail;
      std::string with(const std::string& now_ms) const { return head + now_ms + tail; }
    };
    merge_sql merge_update[2], merge_insert_all[2], merge_insert_new[2];
  };

  explicit duckdb_store(std::unique_ptr<state> s) noexcept : state_(std::move(s)) {}

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

  static result<std::vector<entry>> run_entries(detail::duckdb_session& c,
                                                duckdb_prepared_statement p, std::size_t limit,
                                                std::string_view doing) {
    detail::duckdb_owned_result r;
    BOOST_OUTCOME_TRY(c.execute(p, r, doing));
    std::vector<entry> out;
    out.reserve(std::min<std::size_t>(limit, 2048));
    BOOST_OUTCOME_TRY(detail::duckdb_collect_entries(r.get(), out, c.where()));
    return out;
  }

  std::unique_ptr<state> state_;
};

static_assert(store<duckdb_store>);
static_assert(scannable_store<duckdb_store>);
static_assert(change_source<duckdb_store>);
static_assert(checksum_store<duckdb_store>);
static_assert(checkpoint_store<duckdb_store>);
static_assert(versioned_store<duckdb_store>);

}  // namespace storesync
