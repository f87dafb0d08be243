#pragma once
/// \file
/// `postgres_store`: every store tier on one PostgreSQL table per logical
/// collection, through libpqxx 6. The system of record of write-back and the
/// slow store of write-behind.
///
/// \code
///   storesync::postgres_config cfg;
///   cfg.url = "postgresql://app@db.internal/app";   // or empty: $STORESYNC_PG_URL, then PG* vars
///   cfg.schema = "sync";
///   cfg.table = "user profiles";                    // any name; always quoted
///   auto opened = storesync::postgres_store::open(cfg);
///   if (!opened) return opened.error();             // e.g. schema_mismatch naming the column
///   storesync::postgres_store& pg = opened.value();
///   std::vector<storesync::entry> batch = {storesync::entry::put("user:42", R"({"n":1})", 7)};
///   BOOST_OUTCOME_TRY(auto report, pg.write(batch));   // {applied, unchanged, stale}
/// \endcode
///
/// Table layout (created with its indexes when missing; an existing table of
/// another shape is refused with `errc::schema_mismatch` naming the column):
///
/// | column     | type                      | meaning                                   |
/// |------------|---------------------------|-------------------------------------------|
/// | key        | text COLLATE "C", PK      | byte-wise order, as every adapter         |
/// | version    | bigint                    | the version guard compares it             |
/// | hash_lo/hi | bigint, bigint            | the content hash as written (carried)     |
/// | row_hash   | bigint                    | `row_hash(entry)`, summed by `checksum`   |
/// | tombstone  | boolean                   | deleted as of `version`; value is NULL    |
/// | value      | json                      | the JSON text exactly as written          |
/// | updated_at | timestamptz               | when the row was last applied             |
///
/// plus an index on (version, key) for `changes_after`, and a checkpoint
/// table (`<table>_checkpoints` by default: name, value, updated_at).
///
/// Values: a `json` column keeps the text exactly as written. A table whose
/// value column is `jsonb` (made by hand or by another tool) is written
/// the same way, but jsonb keeps the value, not the text: key order, spacing,
/// escapes and number spelling (`1E-7` reads back as `0.0000001`) are its
/// own, and of duplicate keys the last wins. Either way `rules()` states what
/// jsonb can hold (no U+0000 in a string, numbers that fit `numeric`), so a
/// value moves between the two, and a batch breaking them is refused by
/// validation, naming the key, before anything is sent.
///
/// **A table of your own** (`postgres_config::mapping`, see
/// table_mapping.hpp): the key column(s), the version column (bigint, or
/// timestamptz holding microseconds), storesync's metadata columns (the
/// encoded key for a key that is not one text column, `hash_lo`, `hash_hi`,
/// `row_hash`, `deleted`) and a column per field in its native type (text,
/// integer, bigint, numeric, double precision, boolean, timestamptz, date,
/// jsonb). An existing table gets the metadata columns when it is empty and
/// is refused when it holds rows without them; one of another shape is
/// refused naming every mismatch. Each entry is converted as its COPY line
/// is built; the entries no line carries are converted before the commit,
/// so a refused entry leaves nothing written.
///
/// Writes (one READ COMMITTED transaction per batch and its checkpoint; a
/// failed batch leaves nothing): the batch is validated, then one indexed
/// lookup fetches the stored versions of its keys and the version guard is
/// counted client-side. Nothing newer: nothing is written (replays are cheap).
/// Only new keys: the per-key winners are COPYed straight into the table.
/// The first batch, and each after a lookup that found none of its keys (a
/// bulk load), first asks for the table's greatest key (one probe of the
/// key's index): when every key of the batch sorts above it, none can be
/// stored and the lookup is skipped. (The store does not guess: a COPY that
/// met a stored key would fail with unique_violation, an ERROR line in the
/// server's log. Only a key another writer inserts meanwhile can still do
/// that, and the batch is then redone as below.)
/// Rows to update: the batch is COPYed (`pqxx::stream_to`) into a
/// per-connection temporary staging table and applied by one INSERT/UPDATE
/// statement that re-checks `incoming version > stored version` in SQL.
/// If another writer inserts one of the keys first (unique_violation), or
/// the UPDATE applies fewer rows than the lookup promised (a row changed, or
/// was removed by a concurrent `restore`, under it), the batch is redone
/// through staging and `INSERT ... ON CONFLICT (key) DO UPDATE ... WHERE
/// excluded.version > stored.version`. Every path reports exactly what
/// memory_store would (applied, unchanged, stale; total == batch size).
///
/// Lookups, restores and split points: `lookup` is the write path's indexed
/// `key = ANY($1)` lookup returning the metadata too; `restore` is one
/// UPDATE or DELETE guarded by `version = expected`, which READ COMMITTED
/// re-checks on the latest row; `split_points` runs `ntile` over the primary
/// key. One round trip each.
///
/// Errors: SQLSTATE class 08 and 57P01 -> `unavailable`; 40001 / 40P01 ->
/// `transient`; 57014 (statement timeout) -> `transient` (`errc::timeout`);
/// 53xxx -> `overloaded`; 22xxx / 23xxx -> `invalid_input` naming the key;
/// anything else -> `permanent` (`errc::backend_failure`) with the SQLSTATE.
/// No libpqxx exception escapes, and no message carries the password.
///
/// Thread safety: every member may be called from many threads; calls share
/// a pool of `pool_size` connections. Broken connections are discarded and
/// replaced on the next checkout.

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <limits>
#include <memory>
#include <numeric>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

#include <pqxx/pqxx>

#include "storesync/core/lookup.hpp"
#include "storesync/core/restore.hpp"
#include "storesync/core/store.hpp"
#include "storesync/store/detail/postgres_errors.hpp"
#include "storesync/store/detail/postgres_pool.hpp"
#include "storesync/store/detail/postgres_sql.hpp"
#include "storesync/store/detail/table_shape.hpp"
#include "storesync/store/detail/typed_value.hpp"
#include "storesync/store/table_mapping.hpp"

namespace storesync {

namespace detail {
// `result<T>` for a callable returning T, and T itself when it already is one.
template <class T>
struct pg_flat_result {
  using type = result<T>;
};
template <class T>
struct pg_flat_result<result<T>> {
  using type = result<T>;
};
template <class T>
using pg_flat_result_t = typename pg_flat_result<T>::type;
}  // namespace detail

/// Where and how a `postgres_store` connects, and which table it owns.
struct postgres_config {
  /// A libpq connection URL (`postgresql://user@host:port/db`) or key=value
  /// string. Empty: the variable named by `url_env`, and when that is unset
  /// too, libpq's own PG* variables (PGHOST, PGPORT, PGUSER, PGPASSWORD, ...).
  std::string url;
  /// The environment variable consulted when `url` is empty.
  std::string url_env = "STORESYNC_PG_URL";
  /// Schema of the table; created if missing (with `create_if_missing`).
  std::string schema = "public";
  /// The collection's table. Any name up to 63 bytes: it is always quoted.
  std::string table = "storesync_entries";
  /// The checkpoint table; empty means `<table>_checkpoints`.
  std::string checkpoint_table;
  /// Create the schema, tables and indexes when they are missing.
  bool create_if_missing = true;
  /// Connections in the pool (at least 1).
  std::size_t pool_size = 4;
  /// Server-side limit per statement (0: none). Exceeding it is `errc::timeout`.
  std::chrono::milliseconds statement_timeout{60'000};
  /// How long a call waits for a free pooled connection.
  std::chrono::milliseconds checkout_timeout{30'000};
  /// Shown in pg_stat_activity; lets operators (and tests) find the pool.
  std::string application_name = "storesync";
  /// Session memory for staging and the upsert (temp_buffers, work_mem), in MiB.
  std::size_t session_memory_mib = 64;
  /// A table of the user's own with typed columns (see table_mapping.hpp);
  /// empty: the JSON table above. `table` names it.
  std::optional<table_mapping> mapping = {};
};

/// Every store tier on PostgreSQL (see the file comment). Non-copyable,
/// movable; made by `open`. A moved-from store fails every call with
/// `errc::stopped`.
class postgres_store {
 public:
  /// Connects, creates or checks the table, and returns the store. Fails with
  /// `connection_failed` (unreachable), `schema_mismatch` (a column of the
  /// wrong type, collation or a missing column, named in the message) or
  /// `invalid_argument` (a bad name or size in `config`).
  static result<postgres_store> open(postgres_config config) {
    BOOST_OUTCOME_TRY(detail::pg_check_identifier("schema", config.schema));
    BOOST_OUTCOME_TRY(detail::pg_check_identifier("table", config.table));
    if (config.checkpoint_table.empty())
      config.checkpoint_table = detail::pg_derived_name(config.table, "_checkpoints");
    BOOST_OUTCOME_TRY(detail::pg_check_identifier("checkpoint table", config.checkpoint_table));
    if (config.pool_size == 0)
      return error{errc::invalid_argument, "pool_size must be at least 1"};
    if (config.application_name.find('\0') != std::string::npos)
      return error{errc::invalid_argument, "application_name has a NUL byte"};
    if (config.mapping) {
      BOOST_OUTCOME_TRY(detail::check_typed_mapping(*config.mapping));
      BOOST_OUTCOME_TRY(check_mapped_names(*config.mapping));
    }

    std::string conninfo = config.url;
    if (conninfo.empty() && !config.url_env.empty()) {
      if (const char* env = std::getenv(config.url_env.c_str())) conninfo = env;
    }

    auto st = std::make_unique<state>(std::move(config), std::move(conninfo));
    BOOST_OUTCOME_TRY(st->prepare_schema());
    return postgres_store(std::move(st));
  }

  postgres_store(postgres_store&&) noexcept = default;
  postgres_store& operator=(postgres_store&&) noexcept = default;
  postgres_store(const postgres_store&) = delete;
  postgres_store& operator=(const postgres_store&) = delete;
  ~postgres_store() = default;

  /// The stored entry (tombstones included), or nothing if never written.
  /// What jsonb can hold (see Values above): no U+0000 in a string, and
  /// numbers that fit `numeric`.
  static constexpr storesync::value_rules rules() noexcept {
    return {.max_depth = max_supported_depth, .nul_in_strings = false, .numbers_fit_numeric = true};
  }

  /// Whether this store could hold `e`: `validate(e, rules())`, and on a
  /// typed table the conversion of its key and value (see table_mapping.hpp),
  /// with the error naming the key, field and column. What `write` checks
  /// before sending anything; a write path checks it at its door.
  result<void> admits(const entry& e) const {
    if (!state_) return stopped();
    BOOST_OUTCOME_TRY(validate(e, rules()));
    if (state_->config.mapping) {
      BOOST_OUTCOME_TRY(detail::row_of(*state_->config.mapping, e));
    }
    return success();
  }

  result<std::optional<entry>> read(std::string_view key) const {
    if (!state_) return stopped();
    // Keys that no write can store are simply absent.
    if (!validate_key(key)) return std::optional<entry>{};
    return state_->run("read from " + state_->display, [&](pqxx::connection& c) {
      pqxx::nontransaction tx(c);
      const pqxx::result r = tx.exec_prepared("storesync_read", std::string(key));
      if (r.empty()) return std::optional<entry>{};
      return std::optional<entry>{state_->to_entry(r[0])};
    });
  }

  /// Applies `batch` under the version guard, atomically. The report counts
  /// every entry (report.total() == batch.size()).
  result<write_report> write(std::span<const entry> batch) {
    if (!state_) return stopped();
    return state_->write(batch, nullptr);
  }

  /// As `write`, and sets checkpoint `cp.name` to `cp.value` in the same
  /// transaction.
  result<write_report> write_with_checkpoint(std::span<const entry> batch, const checkpoint& cp) {
    if (!state_) return stopped();
    if (!detail::pg_text_ok(cp.name) || !detail::pg_text_ok(cp.value) || cp.name.empty())
      return error{errc::invalid_argument, "checkpoint " + detail::quoted(cp.name) +
                                               ": name or value is empty, has a NUL byte or "
                                               "invalid UTF-8"};
    return state_->write(batch, &cp);
  }

  /// The last committed value of checkpoint `name`, or nothing.
  result<std::optional<std::string>> load_checkpoint(std::string_view name) const {
    if (!state_) return stopped();
    if (!detail::pg_text_ok(name)) return std::optional<std::string>{};
    return state_->run("load checkpoint from " + state_->display_checkpoints, [&](pqxx::connection& c) {
      pqxx::nontransaction tx(c);
      const pqxx::result r = tx.exec_prepared("storesync_load_checkpoint", std::string(name));
      if (r.empty()) return std::optional<std::string>{};
      return std::optional<std::string>{r[0][0].as<std::string>()};
    });
  }

  /// Up to `limit` entries of `range` with key > `after`, ascending by key
  /// (keyset pagination over the primary key).
  result<std::vector<entry>> scan(const key_range& range, std::string_view after,
                                  std::size_t limit) const {
    if (!state_) return stopped();
    BOOST_OUTCOME_TRY(check_bounds(range, after));
    if (limit == 0) return std::vector<entry>{};
    return state_->run("scan " + state_->display, [&](pqxx::connection& c) {
      pqxx::nontransaction tx(c);
      const pqxx::result r =
          range.last ? tx.exec_prepared("storesync_scan_to", range.first, std::string(after),
                                        *range.last, to_limit(limit))
                     : tx.exec_prepared("storesync_scan", range.first, std::string(after),
                                        to_limit(limit));
      return state_->to_entries(r);
    });
  }

  /// Up to `limit` entries with (version, key) > (mark.version, mark.key),
  /// ascending by (version, key), served by the (version, key) index.
  result<std::vector<entry>> changes_after(const watermark& mark, std::size_t limit) const {
    if (!state_) return stopped();
    if (!detail::pg_text_ok(mark.key))
      return error{errc::invalid_argument,
                   "watermark key " + detail::quoted(mark.key) + " has a NUL byte or invalid UTF-8"};
    if (limit == 0) return std::vector<entry>{};
    return state_->run("read changes from " + state_->display, [&](pqxx::connection& c) {
      pqxx::nontransaction tx(c);
      return state_->to_entries(
          tx.exec_prepared("storesync_changes", mark.version, mark.key, to_limit(limit)));
    });
  }

  /// The largest stored version: the end of the (version, key) index.
  result<version_type> max_version() const {
    if (!state_) return stopped();
    return state_->run("read the largest version of " + state_->display, [&](pqxx::connection& c) {
      pqxx::nontransaction tx(c);
      return tx.exec(state_->sql.max_version)[0][0].as<version_type>();
    });
  }

  /// (count, sum of stored row hashes mod 2^64) over `range`, computed in SQL.
  result<range_checksum> checksum(const key_range& range) const {
    if (!state_) return stopped();
    BOOST_OUTCOME_TRY(check_bounds(range, {}));
    auto r = state_->run("checksum " + state_->display, [&](pqxx::connection& c) {
      pqxx::nontransaction tx(c);
      const pqxx::result r = range.last
                                 ? tx.exec_prepared("storesync_checksum_to", range.first, *range.last)
                                 : tx.exec_prepared("storesync_checksum", range.first);
      return std::make_pair(r[0][0].as<std::int64_t>(), r[0][1].as<std::string>());
    });
    if (!r) return std::move(r).error();
    return checksum_from(r.value().first, r.value().second);
  }

  /// The metadata of each of `keys`, in order: one indexed lookup of all of
  /// them (`key = ANY($1)`, the lookup the write path makes for its version
  /// guard), returning no values.
  result<std::vector<std::optional<entry_meta>>> lookup(
      std::span<const std::string_view> keys) const {
    if (!state_) return stopped();
    BOOST_OUTCOME_TRY(detail::check_lookup_keys(keys));
    using metas = std::vector<std::optional<entry_meta>>;
    // Keys no write can store (a NUL byte or invalid UTF-8 among them, which
    // libpq could not even send) are absent without asking.
    std::string array = "{";
    for (const std::string_view key : keys)
      if (detail::storable_key(key)) append_array_element(array, key);
    array += '}';
    if (array.size() == 2) return metas(keys.size());
    return state_->run("look up keys in " + state_->display, [&](pqxx::connection& c) {
      pqxx::nontransaction tx(c);
      const pqxx::result r = tx.exec_prepared("storesync_lookup", array);
      std::unordered_map<std::string_view, entry_meta> found;
      found.reserve(r.size());
      for (const auto& row : r)
        found.emplace(std::string_view(row[0].c_str(), row[0].size()),
                      entry_meta{row[1].as<std::int64_t>(),
                                 {static_cast<std::uint64_t>(row[2].as<std::int64_t>()),
                                  static_cast<std::uint64_t>(row[3].as<std::int64_t>())},
                                 row[4].as<bool>()});
      return detail::answers_in_order(keys, found);
    });
  }

  /// Puts `previous` back (or removes the key) if `key` is stored at
  /// `expected`: one guarded UPDATE or DELETE, one round trip.
  result<void> restore(std::string_view key, version_type expected,
                       const std::optional<entry>& previous) {
    if (!state_) return stopped();
    BOOST_OUTCOME_TRY(validate_restore(key, expected, previous, rules()));
    if (previous) {
      BOOST_OUTCOME_TRY(admits(*previous));
    }
    // The restored row's parameters ($3..): version, hashes, tombstone, values.
    std::vector<std::optional<std::string>> row;
    if (previous) {
      BOOST_OUTCOME_TRY(auto cells, state_->value_cells(*previous));
      row = {std::to_string(previous->version),
             std::to_string(static_cast<std::int64_t>(previous->hash.lo)),
             std::to_string(static_cast<std::int64_t>(previous->hash.hi)),
             std::to_string(static_cast<std::int64_t>(row_hash(*previous))),
             previous->tombstone ? "true" : "false"};
      row.insert(row.end(), std::make_move_iterator(cells.begin()), std::make_move_iterator(cells.end()));
    }
    using outcome = std::pair<std::int64_t, std::optional<version_type>>;
    BOOST_OUTCOME_TRY(
        auto done,
        state_->run("restore key " + detail::quoted(key) + " in " + state_->display,
                    [&](pqxx::connection& c) {
                      pqxx::nontransaction tx(c);
                      const std::string k(key);
                      std::vector<const char*> params;
                      for (const auto& cell : row) params.push_back(cell ? cell->c_str() : nullptr);
                      const pqxx::result r =
                          previous ? tx.exec_prepared("storesync_restore", k, expected,
                                                      pqxx::prepare::make_dynamic_params(params))
                                   : tx.exec_prepared("storesync_remove", k, expected);
                      return outcome{r[0][0].as<std::int64_t>(),
                                     r[0][1].is_null()
                                         ? std::nullopt
                                         : std::optional{r[0][1].as<version_type>()}};
                    }));
    if (done.first == 1) return success();
    return detail::restore_conflict(key, expected, done.second);
  }

  /// The keys that deal the rows of `range` into `parts` runs: `ntile` over
  /// the primary key, in one statement.
  result<std::vector<std::string>> split_points(const key_range& range, std::size_t parts) const {
    if (!state_) return stopped();
    BOOST_OUTCOME_TRY(check_bounds(range, {}));
    if (parts <= 1 || range.empty())
      return std::vector<std::string>{};
    // ntile takes an integer; more runs than 2^31 - 1 is never asked for.
    const auto runs = static_cast<int>(
        std::min<std::size_t>(parts, static_cast<std::size_t>(std::numeric_limits<int>::max())));
    return state_->run("split " + state_->display, [&](pqxx::connection& c) {
      pqxx::nontransaction tx(c);
      const pqxx::result r =
          range.last ? tx.exec_prepared("storesync_split_points_to", range.first, runs, *range.last)
                     : tx.exec_prepared("storesync_split_points", range.first, runs);
      std::vector<std::string> points;
      points.reserve(r.size());
      for (const auto& row : r) points.emplace_back(row[0].c_str(), row[0].size());
      return points;
    });
  }

  /// Points at the quantiles of a `TABLESAMPLE SYSTEM` sample of the keys
  /// of `range`: 0.1 % of the table's pages, then, when that holds too few
  /// keys of a range that looks large, a share sized to yield about 8 keys
  /// per part, if that is at most 2 % of the pages. None otherwise (a range
  /// with fewer than 100 sampled keys, or a small share of the table): its
  /// exact `split_points` costs that range only.
  result<std::vector<std::string>> sample_points(const key_range& range, std::size_t parts) const {
    if (!state_) return stopped();
    BOOST_OUTCOME_TRY(check_bounds(range, {}));
    if (parts <= 1 || range.empty()) return std::vector<std::string>{};
    const std::size_t wanted = parts * 4;
    return state_->run("sample " + state_->display, [&](pqxx::connection& c) {
      pqxx::nontransaction tx(c);
      auto sample = [&](double percent) {
        const pqxx::result r =
            range.last ? tx.exec_prepared("storesync_sample_to", range.first, percent, *range.last)
                       : tx.exec_prepared("storesync_sample", range.first, percent);
        std::vector<std::string> keys;
        keys.reserve(r.size());
        for (const auto& row : r) keys.emplace_back(row[0].c_str(), row[0].size());
        return keys;
      };
      constexpr double first_percent = 0.1, max_percent = 2.0;
      std::vector<std::string> keys = sample(first_percent);
      if (keys.size() < wanted) {
        // A second sample only where it stays small: a range that is a small
        // share of the table is cut exactly, at the cost of that range.
        const double percent =
            first_percent * 2.0 * static_cast<double>(wanted) / static_cast<double>(std::max<std::size_t>(keys.size(), 1));
        if (keys.size() < 100 || percent > max_percent) return std::vector<std::string>{};
        keys = sample(percent);
        if (keys.size() < wanted) return std::vector<std::string>{};
      }
      std::vector<std::string> points;
      points.reserve(parts - 1);
      for (std::size_t i = 1; i < parts; ++i) {
        std::string& k = keys[i * keys.size() / parts];
        if (points.empty() || k > points.back()) points.push_back(std::move(k));
      }
      return points;
    });
  }

  /// The checksums of the parts `points` cut `range` into, in one statement
  /// (one index range per part), plus one for an open-ended last part.
  result<std::vector<range_checksum>> checksums(const key_range& range, std::span<const std::string> points) const {
    if (!state_) return stopped();
    BOOST_OUTCOME_TRY(check_bounds(range, {}));
    for (std::size_t i = 0; i < points.size(); ++i)
      if (!(points[i] > (i == 0 ? range.first : points[i - 1])) || (range.last && !(points[i] < *range.last)))
        return error{errc::invalid_argument, "checksums of " + state_->display + ": point " +
                                                 detail::quoted(points[i]) +
                                                 " is not strictly ascending inside the range"};
    // Parts with both ends known go into the arrays; an open last part is
    // the plain range checksum.
    const bool open_end = !range.last;
    std::string lows = "{", highs = "{";
    for (std::size_t i = 0; i < (open_end ? points.size() : points.size() + 1); ++i) {
      append_array_element(lows, i == 0 ? std::string_view(range.first) : std::string_view(points[i - 1]));
      append_array_element(highs, i < points.size() ? std::string_view(points[i]) : std::string_view(*range.last));
    }
    lows += '}';
    highs += '}';
    auto r = state_->run("checksum parts of " + state_->display, [&](pqxx::connection& c) {
      pqxx::nontransaction tx(c);
      std::vector<std::pair<std::int64_t, std::string>> rows;
      rows.reserve(points.size() + 1);
      if (lows.size() > 2)
        for (const auto& row : tx.exec_prepared("storesync_part_checksums", lows, highs))
          rows.emplace_back(row[0].as<std::int64_t>(), row[1].as<std::string>());
      if (open_end) {
        const pqxx::result last = tx.exec_prepared("storesync_checksum", points.empty() ? range.first : points.back());
        rows.emplace_back(last[0][0].as<std::int64_t>(), last[0][1].as<std::string>());
      }
      return rows;
    });
    if (!r) return std::move(r).error();
    std::vector<range_checksum> out;
    out.reserve(r.value().size());
    for (const auto& [count, digest] : r.value()) {
      BOOST_OUTCOME_TRY(auto sum, checksum_from(count, digest));
      out.push_back(sum);
    }
    return out;
  }

  /// The configuration in use (`checkpoint_table` filled in).
  const postgres_config& config() const noexcept { return state_->config; }
  /// The quoted, schema-qualified table name, as used in SQL.
  const std::string& qualified_table() const noexcept { return state_->table; }
  /// The connection string with any password replaced by `***`.
  std::string redacted_url() const { return state_->pool.redacted(); }
  /// Connections currently open in the pool.
  std::size_t open_connections() const { return state_ ? state_->pool.live() : 0; }

 private:
  /// A checksum row as SQL returns it: the count, and the digest as decimal text.
  result<range_checksum> checksum_from(std::int64_t count, const std::string& digest) const {
    range_checksum sum;
    sum.count = static_cast<std::uint64_t>(count);
    const auto [ptr, ec] = std::from_chars(digest.data(), digest.data() + digest.size(), sum.digest);
    if (ec != std::errc{} || ptr != digest.data() + digest.size())
      return error{errc::corrupt, "checksum of " + state_->display + ": digest " + digest};
    return sum;
  }

  struct state {
    state(postgres_config cfg, std::string conninfo)
        : config(std::move(cfg)),
          table(detail::pg_quote_ident(config.schema) + "." + detail::pg_quote_ident(config.table)),
          checkpoints(detail::pg_quote_ident(config.schema) + "." +
                      detail::pg_quote_ident(config.checkpoint_table)),
          display(table),
          display_checkpoints(checkpoints),
          layout(config.mapping ? detail::pg_layout::typed(*config.mapping) : detail::pg_layout{}),
          sql(table, detail::pg_quote_ident(detail::pg_derived_name(config.table, "_version_key")),
              checkpoints, layout),
          pool(detail::postgres_pool::settings{std::move(conninfo), config.pool_size,
                                               config.checkout_timeout,
                                               [this](pqxx::connection& c) { setup(c); }}) {}

    state(const state&) = delete;
    state& operator=(const state&) = delete;

    /// Session settings, the staging table and the prepared statements of a
    /// new pooled connection.
    void setup(pqxx::connection& c) {
      const std::string mem = "'" + std::to_string(config.session_memory_mib) + "MB'";
      pqxx::nontransaction tx(c);
      tx.exec("SET application_name = " + detail::pg_quote_literal(config.application_name) +
              "; SET statement_timeout = " + std::to_string(config.statement_timeout.count()) +
              "; SET temp_buffers = " + mem + "; SET work_mem = " + mem +
              "; SET extra_float_digits = 1"  // shortest exact doubles
              // storesync's statements are short or one pass over an index:
              // compiling them costs more than it saves.
              "; SET jit = off");
      tx.exec(layout.staging_ddl());
      c.prepare("storesync_read", sql.read);
      c.prepare("storesync_versions", sql.versions);
      c.prepare("storesync_max_key", sql.max_key);
      c.prepare("storesync_scan", sql.scan);
      c.prepare("storesync_scan_to", sql.scan_to);
      c.prepare("storesync_changes", sql.changes);
      c.prepare("storesync_checksum", sql.checksum);
      c.prepare("storesync_checksum_to", sql.checksum_to);
      c.prepare("storesync_load_checkpoint", sql.load_checkpoint);
      c.prepare("storesync_save_checkpoint", sql.save_checkpoint);
      c.prepare("storesync_lookup", sql.lookup);
      c.prepare("storesync_restore", sql.restore);
      c.prepare("storesync_remove", sql.remove);
      c.prepare("storesync_split_points", sql.split_points);
      c.prepare("storesync_split_points_to", sql.split_points_to);
      c.prepare("storesync_sample", sql.sample);
      c.prepare("storesync_sample_to", sql.sample_to);
      c.prepare("storesync_part_checksums", sql.part_checksums);
    }

    /// Runs `fn` on a pooled connection, translating every exception.
    template <class Fn>
    auto run(std::string operation, Fn&& fn,
             std::function<std::optional<std::string>(std::size_t)> key_of_line = {})
        -> detail::pg_flat_result_t<decltype(fn(std::declval<pqxx::connection&>()))> {
      BOOST_OUTCOME_TRY(auto lease, pool.checkout());
      try {
        return fn(*lease);
      } catch (...) {
        detail::pg_call_context ctx{std::move(operation), pool.password(), std::move(key_of_line)};
        error e = detail::pg_current_error(ctx, lease.get());
        if (ctx.broken) lease.discard();
        return e;
      }
    }

    result<void> prepare_schema() {
      return run("prepare " + display, [&](pqxx::connection& c) -> result<void> {
        pqxx::work tx(c);
        // Serialise concurrent opens of the same table (CREATE ... IF NOT
        // EXISTS is not race-free across sessions).
        tx.exec_params("SELECT pg_advisory_xact_lock(hashtext($1))", "storesync:" + table);
        if (config.create_if_missing) {
          tx.exec("CREATE SCHEMA IF NOT EXISTS " + detail::pg_quote_ident(config.schema));
          tx.exec(sql.create_table);
          if (config.mapping) {
            BOOST_OUTCOME_TRY(add_metadata_columns(tx));
          }
          tx.exec(sql.create_index);
          tx.exec(sql.create_checkpoints);
        }
        BOOST_OUTCOME_TRY(check_shape(tx, table, wanted_columns(), true));
        BOOST_OUTCOME_TRY(check_shape(tx, checkpoints, detail::pg_checkpoint_columns, false));
        tx.commit();
        return success();
      });
    }

    /// The columns the table needs, the entry key's first.
    std::vector<detail::wanted_column> wanted_columns() const {
      if (!config.mapping)
        return {detail::pg_entry_columns.begin(), detail::pg_entry_columns.end()};
      const table_mapping& m = *config.mapping;
      std::vector<detail::wanted_column> want;
      want.push_back({m.key_column_name(), "text"});
      if (!m.key_is_column())
        for (const key_column& k : m.key) want.push_back({k.column, detail::pg_type_name(k.type)});
      want.push_back({m.version_column, detail::pg_type_name(m.version_type == version_column_type::bigint
                                                                 ? column_type::bigint
                                                                 : column_type::timestamptz)});
      for (const std::string* c : {&m.metadata.hash_lo, &m.metadata.hash_hi, &m.metadata.row_hash})
        want.push_back({*c, "bigint"});
      want.push_back({m.metadata.deleted, "boolean"});
      for (const field_column& f : m.fields)
        want.push_back({f.column_name(), detail::pg_type_name(f.type), {}, true});
      if (!m.rest_column.empty()) want.push_back({m.rest_column, "jsonb", {}, true});
      return want;
    }

    /// Adds storesync's columns to an existing typed table that lacks them
    /// (they are NOT NULL, so the table must hold no rows yet), and the
    /// unique index on the entry key.
    result<void> add_metadata_columns(pqxx::work& tx) {
      const table_mapping& m = *config.mapping;
      const pqxx::result rows = tx.exec("SELECT count(*) FROM (SELECT 1 FROM " + table + " LIMIT 1) r");
      std::vector<std::pair<std::string, std::string>> add;
      if (!m.key_is_column()) add.emplace_back(m.metadata.key, "text COLLATE \"C\"");
      for (const std::string* c : {&m.metadata.hash_lo, &m.metadata.hash_hi, &m.metadata.row_hash})
        add.emplace_back(*c, "bigint");
      add.emplace_back(m.metadata.deleted, "boolean");
      const pqxx::result cols = tx.exec_params(std::string(detail::pg_columns_query), table);
      std::string missing;
      for (const auto& [name, type] : add) {
        // Captured by an init-capture: clang before 16 cannot capture a
        // structured binding.
        const bool present = std::any_of(cols.begin(), cols.end(), [&name = name](const pqxx::row& c) {
          return c[0].as<std::string>() == name;
        });
        if (present) continue;
        if (rows[0][0].as<std::int64_t>() > 0)
          return error{errc::schema_mismatch,
                       "table " + table + " holds rows but lacks storesync's column " + detail::quoted(name) +
                           "; add the metadata columns (see table_mapping.hpp) and fill them, or start"
                           " from an empty table"};
        tx.exec("ALTER TABLE " + table + " ADD COLUMN " + detail::pg_quote_ident(name) + " " + type +
                " NOT NULL");
      }
      if (!m.key_is_column())
        tx.exec("CREATE UNIQUE INDEX IF NOT EXISTS " +
                detail::pg_quote_ident(detail::pg_derived_name(config.table, "_key")) + " ON " + table + " (" +
                layout.key + ")");
      return success();
    }

    // `want` starts with the entry key's column.
    static result<void> check_shape(pqxx::work& tx, const std::string& rel,
                                    std::span<const detail::wanted_column> want,
                                    bool c_collated_key) {
      const pqxx::result cols = tx.exec_params(std::string(detail::pg_columns_query), rel);
      if (cols.empty())
        return error{errc::schema_mismatch,
                     "table " + rel + " does not exist (create_if_missing is off)"};
      std::vector<detail::found_column> found;
      found.reserve(cols.size());
      for (const auto& c : cols)
        found.push_back({c[0].as<std::string>(), c[1].as<std::string>(), c[3].as<bool>(),
                         c[2].as<std::string>()});
      const std::string shown = "table " + rel;
      BOOST_OUTCOME_TRY(detail::check_shape(shown, found, want,
                                            {.collation = c_collated_key ? "C" : ""}));
      const std::string pk(want.front().name);
      const pqxx::result key = tx.exec_params(std::string(detail::pg_unique_key_query), rel, pk);
      if (key[0][0].as<std::int64_t>() < 1)
        return detail::shape_error(shown, pk, "is not a unique key on its own");
      return success();
    }

    /// Thrown out of a COPY when an entry of a typed table's batch does not
    /// convert; the transaction rolls back and `write` returns the refusal.
    struct refused_entry {};

    /// A batch being written. On a typed table each entry is converted as
    /// its line is built, so the conversion overlaps PostgreSQL's work on the
    /// lines before it, and `convert_rest` converts those never streamed
    /// before the commit: every entry is checked, and a refused one leaves
    /// nothing written.
    struct copy_source {
      std::span<const entry> batch;
      const table_mapping* mapping;
      std::vector<bool> converted = std::vector<bool>(mapping ? batch.size() : 0, false);
      std::optional<error> refusal = {};

      /// Appends entry `i`'s key parts (typed tables whose key is not one
      /// text column) and its value cells to `line`.
      void append_row(detail::pg_copy_row& line, std::size_t i) {
        const entry& e = batch[i];
        if (mapping == nullptr) {
          if (e.tombstone) line.null();
          else line.text(e.value);
          return;
        }
        const detail::typed_row row = convert(i);
        if (!mapping->key_is_column())
          for (const std::string& part : row.key) line.text(part);
        for (const detail::cell& c : row.values) {
          if (c) line.text(*c);
          else line.null();
        }
      }

      /// Converts the entries no line carried.
      void convert_rest() {
        for (std::size_t i = 0; i < converted.size(); ++i)
          if (!converted[i]) convert(i);
      }

     private:
      detail::typed_row convert(std::size_t i) {
        auto row = detail::row_of(*mapping, batch[i]);
        if (!row) {
          refusal = std::move(row).error();
          throw refused_entry{};
        }
        converted[i] = true;
        return std::move(row).value();
      }
    };

    result<write_report> write(std::span<const entry> batch, const checkpoint* cp) {
      BOOST_OUTCOME_TRY(validate_batch(batch, rules()));
      if (batch.empty() && cp == nullptr) return write_report{};
      copy_source source{batch, config.mapping ? &*config.mapping : nullptr};

      // Per entry: the highest version of its key earlier in the batch (0 if
      // none), and whether it is its key's winner (the first of the highest).
      std::vector<version_type> prev_max(batch.size(), 0);
      std::vector<bool> winner(batch.size(), false);
      {
        std::unordered_map<std::string_view, std::size_t> best;
        best.reserve(batch.size());
        for (std::size_t i = 0; i < batch.size(); ++i) {
          auto [it, fresh] = best.try_emplace(batch[i].key, i);
          if (fresh) continue;
          prev_max[i] = batch[it->second].version;
          if (batch[i].version > prev_max[i]) it->second = i;
        }
        for (const auto& [key, i] : best) winner[i] = true;
      }

      // COPY line N (1-based) carried batch[streamed[N - 1]]: errors on bad
      // data name that key.
      std::vector<std::size_t> streamed;
      auto key_of_line = [batch, &streamed](std::size_t line) -> std::optional<std::string> {
        if (line == 0 || line > streamed.size()) return std::nullopt;
        return batch[streamed[line - 1]].key;
      };
      return run(
          "write to " + display,
          [&](pqxx::connection& c) -> result<write_report> {
            try {
              try {
                return write_fast(c, source, prev_max, winner, cp, streamed);
              } catch (const pqxx::unique_violation&) {
                // Another writer inserted a key this batch took for new: the
                // whole transaction rolled back; redo it on the ON CONFLICT path.
              } catch (const raced_update&) {
                // Rolled back too; the ON CONFLICT path inserts removed rows.
              }
              pqxx::work tx(c);
              const write_report report =
                  write_staged(tx, source, prev_max, winner, sql.upsert_on_conflict, streamed);
              if (cp != nullptr) tx.exec_prepared("storesync_save_checkpoint", cp->name, cp->value);
              tx.commit();
              return report;
            } catch (const refused_entry&) {
              return std::move(*source.refusal);  // rolled back: nothing was written
            }
          },
          key_of_line);
    }

    /// Thrown by `write_fast` (and caught by `write`) when its UPDATE lost a
    /// race; the transaction rolls back and the batch is redone.
    struct raced_update {};

    /// The usual path, one READ COMMITTED transaction. One indexed lookup
    /// fetches the stored versions of the batch's keys and the guard runs
    /// client-side. Then:
    /// - nothing newer: nothing is streamed or written (replays cost a lookup);
    /// - only new keys to write: the winners are COPYed straight into the
    ///   table, in key order (a racing insert of the same key fails with
    ///   unique_violation, and the caller redoes the batch on the ON CONFLICT
    ///   path). When the last lookup found no key and every key of this
    ///   batch sorts above the table's greatest, the lookup is skipped;
    /// - some rows to update: the batch goes through the staging table and
    ///   the guard runs again in SQL against the latest rows.
    write_report write_fast(pqxx::connection& c, copy_source& source,
                            const std::vector<version_type>& prev_max,
                            const std::vector<bool>& winner, const checkpoint* cp,
                            std::vector<std::size_t>& streamed) {
      const std::span<const entry> batch = source.batch;
      pqxx::work tx(c);
      write_report report;
      if (!batch.empty() && new_keys_likely.load(std::memory_order_relaxed) && above_every_key(tx, batch)) {
        for (std::size_t i = 0; i < batch.size(); ++i) {
          report.count(version_guard(batch[i].version, prev_max[i] == 0
                                                           ? std::nullopt
                                                           : std::optional{prev_max[i]}));
          if (winner[i]) streamed.push_back(i);
        }
        copy_new_keys(tx, source, streamed);
      } else if (!batch.empty()) {
        std::string keys = "{";
        for (std::size_t i = 0; i < batch.size(); ++i)
          if (winner[i]) append_array_element(keys, batch[i].key);
        keys += '}';
        const pqxx::result stored = tx.exec_prepared("storesync_versions", keys);
        std::unordered_map<std::string_view, version_type> old;
        old.reserve(stored.size());
        for (const auto& row : stored)
          old.emplace(std::string_view(row[0].c_str(), row[0].size()), row[1].as<std::int64_t>());
        new_keys_likely.store(stored.empty(), std::memory_order_relaxed);

        std::vector<std::size_t> to_insert;
        bool needs_update = false;
        for (std::size_t i = 0; i < batch.size(); ++i) {
          const auto it = old.find(batch[i].key);
          const version_type was = it == old.end() ? 0 : it->second;
          const version_type seen = std::max(was, prev_max[i]);
          report.count(version_guard(batch[i].version,
                                     seen == 0 ? std::nullopt : std::optional{seen}));
          if (!winner[i] || batch[i].version <= was) continue;
          if (it == old.end()) to_insert.push_back(i);
          else needs_update = true;
        }
        if (needs_update) {
          const std::size_t promised = report.applied;
          report = write_staged(tx, source, prev_max, winner, sql.upsert, streamed);
          // Fewer applied than the lookup promised: a row changed or vanished
          // between the lookup and the UPDATE (a concurrent write, or a
          // `restore` that removed the key, which an UPDATE cannot bring
          // back). The caller redoes the batch on the ON CONFLICT path.
          if (report.applied < promised) throw raced_update{};
        } else if (!to_insert.empty()) {
          streamed = std::move(to_insert);
          copy_new_keys(tx, source, streamed);
        }
      }
      source.convert_rest();
      if (cp != nullptr) tx.exec_prepared("storesync_save_checkpoint", cp->name, cp->value);
      tx.commit();
      return report;
    }

    /// Whether every key of `batch` sorts above the greatest key stored (as
    /// of this statement: a key inserted later by another writer is caught
    /// by the COPY's unique_violation).
    bool above_every_key(pqxx::work& tx, std::span<const entry> batch) {
      const std::string_view lowest =
          std::min_element(batch.begin(), batch.end(), [](const entry& x, const entry& y) { return x.key < y.key; })
              ->key;
      const pqxx::field greatest = tx.exec_prepared("storesync_max_key")[0][0];
      return greatest.is_null() || lowest > std::string_view(greatest.c_str(), greatest.size());
    }

    /// COPYs `rows` (batch indexes of winners for keys not stored yet)
    /// straight into the table, in key order (index locality, and racing
    /// writers meet in the same order). Reorders `rows` to match the lines.
    void copy_new_keys(pqxx::work& tx, copy_source& source, std::vector<std::size_t>& rows) {
      if (rows.empty()) return;
      const std::span<const entry> batch = source.batch;
      std::sort(rows.begin(), rows.end(),
                [&](std::size_t x, std::size_t y) { return batch[x].key < batch[y].key; });
      detail::pg_copy_in copy(tx, table, layout.copy_columns());
      detail::pg_copy_row line;
      for (const std::size_t i : rows) {
        const entry& e = batch[i];
        line.clear();
        line.text(e.key);
        if (layout.version_is_time) line.text(detail::format_timestamp(e.version, false));
        else line.number(e.version);
        append_metadata(line, e);
        source.append_row(line, i);
        copy.write(line);
      }
      copy.complete();
    }

    /// Appends the hashes and the tombstone flag of `e`.
    static void append_metadata(detail::pg_copy_row& line, const entry& e) {
      line.number(static_cast<std::int64_t>(e.hash.lo));
      line.number(static_cast<std::int64_t>(e.hash.hi));
      line.number(static_cast<std::int64_t>(row_hash(e)));
      line.boolean(e.tombstone);
    }

    /// COPYs the whole batch into the staging table and applies it with
    /// `statement`, which also counts every entry's guard outcome.
    write_report write_staged(pqxx::work& tx, copy_source& source,
                              const std::vector<version_type>& prev_max,
                              const std::vector<bool>& winner, const std::string& statement,
                              std::vector<std::size_t>& streamed) {
      const std::span<const entry> batch = source.batch;
      write_report report;
      if (batch.empty()) return report;
      streamed.resize(batch.size());
      std::iota(streamed.begin(), streamed.end(), std::size_t{0});
      {
        detail::pg_copy_in copy(tx, std::string(detail::pg_staging_table), layout.staging_columns());
        detail::pg_copy_row line;
        for (std::size_t i = 0; i < batch.size(); ++i) {
          const entry& e = batch[i];
          line.clear();
          line.number(static_cast<std::int64_t>(i));
          line.text(e.key);
          line.number(e.version);
          append_metadata(line, e);
          source.append_row(line, i);
          line.number(prev_max[i]);
          line.boolean(winner[i]);
          copy.write(line);
        }
        copy.complete();
      }
      const pqxx::row counts = tx.exec(statement)[0];
      report.applied =
          static_cast<std::size_t>(counts[0].as<std::int64_t>() + counts[2].as<std::int64_t>());
      report.unchanged =
          static_cast<std::size_t>(counts[1].as<std::int64_t>() + counts[3].as<std::int64_t>());
      report.stale = batch.size() - report.applied - report.unchanged;
      return report;
    }

    /// A typed table's value cells of `e` (a validated entry), or the JSON
    /// table's one.
    result<std::vector<detail::cell>> value_cells(const entry& e) const {
      if (!config.mapping) {
        std::vector<detail::cell> one(1);
        if (!e.tombstone) one[0] = e.value;
        return one;
      }
      BOOST_OUTCOME_TRY(auto row, detail::row_of(*config.mapping, e));
      return std::move(row.values);
    }

    /// The entry of a row selected by `sql.read` and its kin.
    entry to_entry(const pqxx::row& row) const {
      entry e;
      e.key.assign(row[0].c_str(), row[0].size());
      e.version = row[1].as<std::int64_t>();
      e.hash.lo = static_cast<std::uint64_t>(row[2].as<std::int64_t>());
      e.hash.hi = static_cast<std::uint64_t>(row[3].as<std::int64_t>());
      e.tombstone = row[4].as<bool>();
      if (e.tombstone) return e;
      if (!config.mapping) {
        if (!row[5].is_null()) e.value.assign(row[5].c_str(), row[5].size());
        return e;
      }
      std::vector<std::optional<std::string_view>> cells;
      cells.reserve(layout.values.size());
      for (std::size_t i = 0; i < layout.values.size(); ++i) {
        const pqxx::field f = row[static_cast<pqxx::row::size_type>(5 + i)];
        cells.push_back(f.is_null() ? std::nullopt : std::optional{std::string_view(f.c_str(), f.size())});
      }
      e.value = detail::json_of_cells(*config.mapping, cells);
      return e;
    }

    std::vector<entry> to_entries(const pqxx::result& r) const {
      std::vector<entry> out;
      out.reserve(r.size());
      for (const auto& row : r) out.push_back(to_entry(row));
      return out;
    }

    postgres_config config;
    std::string table;
    std::string checkpoints;
    std::string display;
    std::string display_checkpoints;
    detail::pg_layout layout;
    detail::pg_statements sql;
    /// The last lookup found none of its keys: the next batch checks whether
    /// it can skip its lookup (see write_fast).
    std::atomic<bool> new_keys_likely{true};
    detail::postgres_pool pool;
  };

  explicit postgres_store(std::unique_ptr<state> st) noexcept : state_(std::move(st)) {}

  static error stopped() { return error{errc::stopped, "postgres_store was moved from"}; }

  // Every column a mapping names is a PostgreSQL identifier.
  static result<void> check_mapped_names(const table_mapping& m) {
    std::vector<const std::string*> names{&m.version_column, &m.metadata.hash_lo, &m.metadata.hash_hi,
                                          &m.metadata.row_hash, &m.metadata.deleted};
    if (!m.key_is_column()) names.push_back(&m.metadata.key);
    if (!m.rest_column.empty()) names.push_back(&m.rest_column);
    for (const key_column& k : m.key) names.push_back(&k.column);
    for (const field_column& f : m.fields) names.push_back(&f.column_name());
    for (const std::string* n : names) {
      BOOST_OUTCOME_TRY(detail::pg_check_identifier("mapped column", *n));
    }
    return success();
  }

  // Appends `text` to a text[] literal being built ("{" so far, or "{...").
  static void append_array_element(std::string& array, std::string_view text) {
    if (array.size() > 1) array += ',';
    array += '"';
    for (const char ch : text) {
      if (ch == '"' || ch == '\\') array += '\\';
      array += ch;
    }
    array += '"';
  }

  static std::int64_t to_limit(std::size_t limit) noexcept {
    return static_cast<std::int64_t>(
        std::min<std::size_t>(limit, static_cast<std::size_t>(std::numeric_limits<std::int64_t>::max())));
  }

  static result<void> check_bounds(const key_range& range, std::string_view after) {
    if (!detail::pg_text_ok(range.first) || (range.last && !detail::pg_text_ok(*range.last)) ||
        !detail::pg_text_ok(after))
      return error{errc::invalid_argument,
                   "key range bound " + detail::quoted(range.first) +
                       " (or its end, or the scan position) has a NUL byte or invalid UTF-8"};
    return success();
  }

  std::unique_ptr<state> state_;
};

static_assert(store<postgres_store>);
static_assert(scannable_store<postgres_store>);
static_assert(change_source<postgres_store>);
static_assert(checksum_store<postgres_store>);
static_assert(part_checksum_store<postgres_store> && sampling_store<postgres_store>);
static_assert(checkpoint_store<postgres_store>);
static_assert(versioned_store<postgres_store>);
static_assert(metadata_store<postgres_store>);
static_assert(restorable_store<postgres_store>);
static_assert(partitionable_store<postgres_store>);

}  // namespace storesync
