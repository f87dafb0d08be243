#pragma once
/// \file
/// `duckdb_query_source`: a change source over the output of any DuckDB query,
/// so a transformation's result can be written back (to PostgreSQL, say)
/// without first materialising it in a table.
///
/// \code
///   auto db = storesync::duckdb_instance::open({.path = "analytics.duckdb"});
///   auto source = storesync::duckdb_query_source::open(db.value(),
///       "SELECT customer_id AS key, to_json(t) AS value, max_rev AS version"
///       " FROM customer_scores t");
///   storesync::watermark mark;                      // or the sink's checkpoint
///   for (;;) {
///     auto page = source.value().changes_after(mark, 10'000);
///     if (!page || page.value().empty()) break;
///     // ... write the page to the sink with the new watermark ...
///     mark = {page.value().back().version, page.value().back().key};
///   }
/// \endcode
///
/// The query must produce the columns `key` (text), `value` (JSON text; NULL
/// for a tombstone) and `version` (an integer), and may produce `tombstone`
/// (boolean; without it a NULL value is a tombstone) and `hash` (the 16-byte
/// content hash, as `duckdb_store` stores it; without it the hash is computed
/// client-side from the value). (version, key) should be unique in its output.
/// A row whose key or version is NULL has no place in (version, key) order
/// and is never read; `unreadable_rows` counts them.
/// Other columns are ignored.
///
/// Reading: the output is read in *windows* of about `window_rows` rows in
/// (version, key) order. A window is the rows after the watermark up to the
/// version of the `window_rows`-th next row, all rows of that version
/// included, so a window never splits a version. Its query, wrapped as
/// `... WHERE (version, key) > mark AND version <= bound ORDER BY version,
/// key`, is a *streaming* result read one data chunk at a time; each
/// `changes_after` call takes the next `limit` rows, moving on to the next
/// window when one runs dry. A call whose watermark is not where the
/// previous call stopped (a consumer that resumed elsewhere, or a last
/// window that ran dry and may have grown) starts again from that
/// watermark. Memory is bounded by a window, not by the output: DuckDB
/// sorts one window at a time (and finds its bound by a top-N of versions
/// alone), and the client holds one chunk plus the returned page. A
/// version shared by more rows than a window is sorted whole. Each window
/// reads one snapshot: rows committed meanwhile are seen by a later window
/// or when the source is read again.
///
/// A query source models `change_source` only: a query's output cannot be
/// written to, so it has no `write` and is not a `store`. `read(key)` runs a
/// keyed query (the newest row of that key), handy for spot checks.
///
/// Errors: as `duckdb_store`; a query DuckDB cannot parse or bind, or one
/// without the required columns, fails `open` with `errc::invalid_argument` or
/// `errc::schema_mismatch` naming the column.
///
/// Thread safety: every member is safe to call from many threads (one mutex;
/// the cursor is inherently sequential).

#include <duckdb.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
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

namespace storesync {

/// How `duckdb_query_source` reads.
struct duckdb_query_source_options {
  /// Rows per window (at least 1; see the file comment).
  std::size_t window_rows = 65'536;
};

class duckdb_query_source {
 public:
  /// Checks `query`'s columns and prepares the wrapped statements.
  static result<duckdb_query_source> open(std::shared_ptr<duckdb_instance> db, std::string query,
                                          duckdb_query_source_options options = {}) {
    if (!db) return error{errc::invalid_argument, "duckdb_query_source::open: no instance"};
    if (options.window_rows == 0)
      return error{errc::invalid_argument, "duckdb_query_source::open: window_rows is 0"};
    auto st = std::make_unique<state>(std::move(db), std::move(query), options);
    BOOST_OUTCOME_TRY(st->open());
    return duckdb_query_source(std::move(st));
  }

  duckdb_query_source(duckdb_query_source&&) noexcept = default;
  duckdb_query_source& operator=(duckdb_query_source&&) noexcept = default;

  const std::string& query() const noexcept { return state_->query; }

  /// The next rows after `mark` in (version, key) order, at most `limit`.
  result<std::vector<entry>> changes_after(const watermark& mark, std::size_t limit) {
    std::lock_guard lock(state_->mutex);
    return state_->next(mark, limit);
  }

  /// The newest row the query produces for `key`, or nothing.
  result<std::optional<entry>> read(std::string_view key) {
    std::lock_guard lock(state_->mutex);
    return state_->read(key);
  }

  /// The largest version the query produces; 0 when it produces no rows.
  /// One pass over the version column.
  result<version_type> max_version() {
    std::lock_guard lock(state_->mutex);
    return state_->number(state_->sql_max_version, nullptr, "the newest version");
  }

  /// Rows with a NULL key or a NULL version: no read returns them (they
  /// have no place in (version, key) order). One pass.
  result<std::uint64_t> unreadable_rows() {
    std::lock_guard lock(state_->mutex);
    BOOST_OUTCOME_TRY(auto n, state_->number(state_->sql_unreadable, nullptr, "rows without a key or version"));
    return static_cast<std::uint64_t>(n);
  }

  /// How many rows come after `mark`: what a consumer starting there has
  /// left to read. One pass over the version and key columns.
  result<std::uint64_t> count_after(const watermark& mark) {
    std::lock_guard lock(state_->mutex);
    BOOST_OUTCOME_TRY(auto n, state_->number(state_->sql_count_after, &mark, "rows after a watermark"));
    return static_cast<std::uint64_t>(n);
  }

 private:
  struct state {
    state(std::shared_ptr<duckdb_instance> d, std::string q, duckdb_query_source_options o)
        : db(std::move(d)), query(std::move(q)), options(o) {}

    std::string shown_query() const {
      return "query " + detail::quoted(query);
    }

    result<void> open() {
      BOOST_OUTCOME_TRY(cursor, detail::duckdb_session::connect(db->native(), db->where()));
      BOOST_OUTCOME_TRY(reader, detail::duckdb_session::connect(db->native(), db->where()));
      // The query's columns, without running it.
      const std::string probe = "SELECT * FROM (" + query + ") AS storesync_q LIMIT 0";
      auto p = cursor->prepare(probe);
      if (!p) {
        if (p.error() == errc::backend_failure)
          return error{errc::invalid_argument, shown_query() + ": " + p.error().context()};
        return p.error();
      }
      std::vector<std::string> names;
      for (idx_t i = 0; i < duckdb_prepared_statement_column_count(p.value()); ++i) {
        // DuckDB allocates the name; it is the caller's to free.
        const char* name = duckdb_prepared_statement_column_name(p.value(), i);
        names.emplace_back(name ? name : "");
        duckdb_free(const_cast<char*>(name));
      }
      auto has = [&](std::string_view n) {
        return std::find(names.begin(), names.end(), n) != names.end();
      };
      for (const char* required : {"key", "value", "version"})
        if (!has(required))
          return error{errc::schema_mismatch,
                       shown_query() + " has no column " + detail::quoted(required)};
      const std::string normalised =
          "SELECT CAST(\"key\" AS VARCHAR) AS key, CAST(\"version\" AS BIGINT) AS version, " +
          std::string(has("hash") ? "CAST(\"hash\" AS BLOB)" : "NULL::BLOB") +
          " AS hash, CAST(\"value\" AS VARCHAR) AS value, " +
          std::string(has("tombstone") ? "coalesce(CAST(\"tombstone\" AS BOOLEAN), false)"
                                       : "(\"value\" IS NULL)") +
          " AS tombstone FROM (" + query + ") AS storesync_q";
      const std::string after = "key IS NOT NULL AND (version > $1 OR (version = $1 AND key > $2))";
      sql_stream = "SELECT * FROM (" + normalised + ") AS storesync_n WHERE " + after +
                   " AND version <= $3 ORDER BY version, key";
      sql_bound = "SELECT CAST(\"version\" AS BIGINT) AS version FROM (" + query +
                  ") AS storesync_q WHERE CAST(\"version\" AS BIGINT) > $1 ORDER BY 1 LIMIT 1 OFFSET $2";
      sql_max_version = "SELECT coalesce(max(CAST(\"version\" AS BIGINT)), 0) FROM (" + query + ") AS storesync_q";
      sql_count_after = "SELECT count(*) FROM (" + normalised + ") AS storesync_n WHERE " + after;
      sql_unreadable = "SELECT count(*) FROM (" + normalised + ") AS storesync_n WHERE key IS NULL OR version IS NULL";
      sql_read = "SELECT * FROM (" + normalised +
                 ") AS storesync_n WHERE key = $1 ORDER BY version DESC LIMIT 1";
      for (const std::string* sql : {&sql_stream, &sql_bound, &sql_max_version, &sql_count_after, &sql_unreadable}) {
        BOOST_OUTCOME_TRY(cursor->prepare(*sql));
      }
      BOOST_OUTCOME_TRY(reader->prepare(sql_read));
      return success();
    }

    // One number from `sql`, with `mark` bound as $1, $2 when given.
    result<std::int64_t> number(const std::string& sql, const watermark* mark, std::string_view what) {
      BOOST_OUTCOME_TRY(auto p, reader->prepare(sql));
      if (mark != nullptr) {
        duckdb_bind_int64(p, 1, mark->version);
        BOOST_OUTCOME_TRY(detail::duckdb_bind_text(p, 2, mark->key, "watermark key"));
      }
      detail::duckdb_owned_result r;
      BOOST_OUTCOME_TRY(reader->execute(p, r, "reading " + std::string(what) + " of " + shown_query()));
      return duckdb_value_int64(r.get(), 0, 0);
    }

    // Opens the window that starts after `mark`.
    result<void> restart(const watermark& mark) {
      chunk.reset();
      stream.reset();
      // The window ends at the version of the window_rows-th row after mark's
      // version; none: the rest is one window.
      bound = std::numeric_limits<std::int64_t>::max();
      {
        BOOST_OUTCOME_TRY(auto p, cursor->prepare(sql_bound));
        duckdb_bind_int64(p, 1, mark.version);
        duckdb_bind_uint64(p, 2, options.window_rows - 1);
        detail::duckdb_owned_result r;
        BOOST_OUTCOME_TRY(cursor->execute(p, r, "bounding a window of " + shown_query()));
        if (duckdb_row_count(r.get()) > 0) bound = duckdb_value_int64(r.get(), 0, 0);
      }
      BOOST_OUTCOME_TRY(auto p, cursor->prepare(sql_stream));
      duckdb_bind_int64(p, 1, mark.version);
      BOOST_OUTCOME_TRY(detail::duckdb_bind_text(p, 2, mark.key, "watermark key"));
      duckdb_bind_int64(p, 3, bound);
      BOOST_OUTCOME_TRY(cursor->execute(p, stream, "running " + shown_query(), true));
      position = mark;
      return success();
    }

    result<std::vector<entry>> next(const watermark& mark, std::size_t limit) {
      std::vector<entry> out;
      if (limit == 0) return out;
      if (!stream.live() || position != mark) {
        BOOST_OUTCOME_TRY(restart(mark));
      }
      out.reserve(std::min<std::size_t>(limit, 4096));
      while (out.size() < limit) {
        if (!chunk || row == rows) {
          chunk = detail::duckdb_owned_chunk(duckdb_fetch_chunk(*stream.get()));
          row = 0;
          rows = chunk ? duckdb_data_chunk_get_size(chunk.get()) : 0;
          if (!chunk) {
            const char* err = duckdb_result_error(stream.get());
            auto failure = err ? std::optional<error>(detail::duckdb_error(
                                     duckdb_result_error_type(stream.get()), err, db->where(),
                                     "reading " + shown_query()))
                               : std::nullopt;
            stream.reset();  // ran dry (or failed)
            if (failure) return *failure;
            if (bound == std::numeric_limits<std::int64_t>::max()) break;  // the last window
            // On to the next window, from the last row read.
            BOOST_OUTCOME_TRY(restart(out.empty() ? position : watermark{out.back().version, out.back().key}));
            continue;
          }
          continue;
        }
        const std::size_t take = std::min<std::size_t>(limit - out.size(), rows - row);
        BOOST_OUTCOME_TRY(append_rows(chunk.get(), row, row + take, out));
        row += take;
      }
      if (!out.empty()) position = watermark{out.back().version, out.back().key};
      return out;
    }

    result<std::optional<entry>> read(std::string_view key) {
      BOOST_OUTCOME_TRY(auto p, reader->prepare(sql_read));
      BOOST_OUTCOME_TRY(detail::duckdb_bind_text(p, 1, key, "key"));
      detail::duckdb_owned_result r;
      BOOST_OUTCOME_TRY(reader->execute(p, r, "reading key " + detail::quoted(key)));
      std::vector<entry> out;
      for (;;) {
        detail::duckdb_owned_chunk c(duckdb_fetch_chunk(*r.get()));
        if (!c) break;
        BOOST_OUTCOME_TRY(append_rows(c.get(), 0, duckdb_data_chunk_get_size(c.get()), out));
      }
      if (const char* err = duckdb_result_error(r.get()); err != nullptr)
        return detail::duckdb_error(duckdb_result_error_type(r.get()), err, db->where(),
                                    "reading key " + detail::quoted(key));
      if (out.empty()) return std::optional<entry>{};
      return std::optional<entry>{std::move(out.front())};
    }

    // Rows [from, to) of a normalised chunk (key, version, hash, value, tombstone).
    result<void> append_rows(duckdb_data_chunk c, idx_t from, idx_t to, std::vector<entry>& out) {
      const detail::duckdb_column key(c, 0), version(c, 1), hash(c, 2), value(c, 3),
          tombstone(c, 4);
      for (idx_t i = from; i < to; ++i) {
        if (!key.valid(i))
          return error{errc::constraint_violation, shown_query() + " produced a NULL key"};
        entry e;
        e.key = std::string(key.text(i));
        if (!version.valid(i))
          return error{errc::constraint_violation, shown_query() + ": key " +
                                                       detail::quoted(e.key) + " has a NULL version"};
        e.version = version.get<int64_t>(i);
        e.tombstone = tombstone.valid(i) && tombstone.get<bool>(i);
        if (!e.tombstone && value.valid(i)) e.value = std::string(value.text(i));
        if (hash.valid(i)) {
          const std::string_view h = hash.text(i);
          if (h.size() != 16)
            return error{errc::constraint_violation, shown_query() + ": key " +
                                                         detail::quoted(e.key) +
                                                         ": hash is not 16 bytes"};
          e.hash = detail::hash_from_blob(reinterpret_cast<const unsigned char*>(h.data()));
        } else if (!e.tombstone) {
          e.hash = hash_content(e.value);
        }
        out.push_back(std::move(e));
      }
      return success();
    }

    std::shared_ptr<duckdb_instance> db;
    std::string query;
    std::mutex mutex;
    std::unique_ptr<detail::duckdb_session> cursor;
    std::unique_ptr<detail::duckdb_session> reader;
    duckdb_query_source_options options;
    std::string sql_stream, sql_read, sql_bound, sql_max_version, sql_count_after, sql_unreadable;
    // The open window's last version.
    std::int64_t bound = 0;
    // The open cursor: its result, current chunk and the next row in it.
    detail::duckdb_owned_result stream;
    detail::duckdb_owned_chunk chunk;
    idx_t row = 0;
    idx_t rows = 0;
    watermark position;
  };

  explicit duckdb_query_source(std::unique_ptr<state> s) noexcept : state_(std::move(s)) {}

  std::unique_ptr<state> state_;
};

static_assert(change_source<duckdb_query_source>);

}  // namespace storesync
