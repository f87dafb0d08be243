#pragma once
// Internals of sqlite_store on a typed table (a table_mapping): the SQLite
// type of each column, the statements, and the binding and reading of cells.
// Not part of the public API.
//
// SQLite keeps a value in the storage class its column's affinity asks for,
// so each column type has one storage class, checked on the way back:
// integer, bigint and boolean (0/1) INTEGER; double_precision REAL; text,
// numeric (as written: SQLite has no exact decimal), timestamptz
// (`YYYY-MM-DDTHH:MM:SS.ffffffZ`, which sorts as time does), date and jsonb
// (JSON text) TEXT.

#include <sqlite3.h>

#include <cctype>
#include <charconv>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "storesync/store/detail/sql_text.hpp"
#include "storesync/store/detail/sqlite_connection.hpp"
#include "storesync/store/detail/table_shape.hpp"
#include "storesync/store/table_mapping.hpp"

namespace storesync::detail {

/// The declared type (and affinity) of a column of type `t`.
inline std::string_view sqlite_type_name(column_type t) noexcept {
  switch (t) {
    case column_type::integer:
    case column_type::bigint:
    case column_type::boolean: return "INTEGER";
    case column_type::double_precision: return "REAL";
    default: return "TEXT";
  }
}

/// The affinity SQLite gives a declared type (datatype3.html, 3.1), as the
/// type name `sqlite_type_name` uses for it.
inline std::string sqlite_affinity_name(std::string type) {
  for (char& ch : type) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  if (type.find("INT") != std::string::npos) return "INTEGER";
  if (type.find("CHAR") != std::string::npos || type.find("CLOB") != std::string::npos ||
      type.find("TEXT") != std::string::npos)
    return "TEXT";
  if (type.empty() || type.find("BLOB") != std::string::npos) return "BLOB";
  if (type.find("REAL") != std::string::npos || type.find("FLOA") != std::string::npos ||
      type.find("DOUB") != std::string::npos)
    return "REAL";
  return "NUMERIC";
}

/// Binds `text`, a cell of a column of type `t` (made by `row_of`, so exact
/// for the type; it must outlive the statement's next step), or NULL.
inline void sqlite_bind_cell(sqlite3_stmt* s, int i, column_type t, const std::string* cell_text) noexcept {
  if (cell_text == nullptr) {
    sqlite3_bind_null(s, i);
    return;
  }
  const std::string& text = *cell_text;
  switch (t) {
    case column_type::integer:
    case column_type::bigint: {
      std::int64_t v = 0;
      std::from_chars(text.data(), text.data() + text.size(), v);
      sqlite3_bind_int64(s, i, v);
      return;
    }
    case column_type::boolean: sqlite3_bind_int(s, i, text == "true" ? 1 : 0); return;
    case column_type::double_precision: {
      double d = 0;
      std::from_chars(text.data(), text.data() + text.size(), d);
      sqlite3_bind_double(s, i, d);
      return;
    }
    default: sqlite_bind_text(s, i, text); return;
  }
}

/// The columns and statements of one typed table. Parameters of `upsert`
/// and `restore` follow `bind_row`'s order.
struct sqlite_typed_sql {
  const table_mapping* mapping = nullptr;
  std::string key, version, hash_lo, hash_hi, row_hash, deleted;  // quoted
  std::vector<std::string> parts, values;                         // quoted
  std::vector<column_type> part_types, value_types;
  std::string create_table, create_index, read, version_of_key, max_version, upsert, changes, lookup,
      restore, remove;
  std::string scan[4], checksum[3], hashes[3], split_points[2];

  sqlite_typed_sql(const std::string& table, const table_mapping& m) : mapping(&m) {
    key = sql_identifier(m.key_column_name());
    version = sql_identifier(m.version_column);
    hash_lo = sql_identifier(m.metadata.hash_lo);
    hash_hi = sql_identifier(m.metadata.hash_hi);
    row_hash = sql_identifier(m.metadata.row_hash);
    deleted = sql_identifier(m.metadata.deleted);
    if (!m.key_is_column())
      for (const key_column& k : m.key) {
        parts.push_back(sql_identifier(k.column));
        part_types.push_back(k.type);
      }
    for (const field_column& f : m.fields) {
      values.push_back(sql_identifier(f.column_name()));
      value_types.push_back(f.type);
    }
    if (!m.rest_column.empty()) {
      values.push_back(sql_identifier(m.rest_column));
      value_types.push_back(column_type::jsonb);
    }
    auto p = [](std::size_t n) { return "?" + std::to_string(n); };
    auto list = [](const std::vector<std::string>& names, const std::string& prefix = {}) {
      std::string out;
      for (const std::string& n : names) out += ", " + prefix + n;
      return out;
    };

    create_table = "CREATE TABLE IF NOT EXISTS " + table + " (";
    for (std::size_t i = 0; i < parts.size(); ++i)
      create_table += parts[i] + " " + std::string(sqlite_type_name(part_types[i])) + " NOT NULL, ";
    create_table += key + (parts.empty() ? " TEXT NOT NULL PRIMARY KEY, " : " TEXT NOT NULL UNIQUE, ") + version +
                    " INTEGER NOT NULL, " + hash_lo + " INTEGER NOT NULL, " + hash_hi + " INTEGER NOT NULL, " +
                    row_hash + " INTEGER NOT NULL, " + deleted + " INTEGER NOT NULL";
    for (std::size_t i = 0; i < values.size(); ++i)
      create_table += ", " + values[i] + " " + std::string(sqlite_type_name(value_types[i]));
    if (!parts.empty()) create_table += ", PRIMARY KEY (" + list(parts).substr(2) + ")";
    create_table += ")";
    create_index = "CREATE INDEX IF NOT EXISTS " + sql_identifier(m.key_column_name() + "_by_version") +
                   " ON " + table + " (" + version + ", " + key + ")";

    const std::string cols = key + ", " + version + ", " + hash_lo + ", " + hash_hi + ", " + deleted + list(values);
    read = "SELECT " + cols + " FROM " + table + " WHERE " + key + " = ?1";
    version_of_key = "SELECT " + version + " FROM " + table + " WHERE " + key + " = ?1";
    max_version = "SELECT coalesce(max(" + version + "), 0) FROM " + table;

    std::string insert_cols = key + ", " + version + ", " + hash_lo + ", " + hash_hi + ", " + row_hash + ", " +
                              deleted + list(parts) + list(values);
    std::string marks;
    const std::size_t width = 6 + parts.size() + values.size();
    for (std::size_t i = 1; i <= width; ++i) marks += (i == 1 ? "" : ", ") + p(i);
    std::string set = version + " = excluded." + version;
    for (const std::string* c : {&hash_lo, &hash_hi, &row_hash, &deleted}) set += ", " + *c + " = excluded." + *c;
    for (const std::string& v : values) set += ", " + v + " = excluded." + v;
    upsert = "INSERT INTO " + table + " (" + insert_cols + ") VALUES (" + marks + ") ON CONFLICT (" + key +
             ") DO UPDATE SET " + set + " WHERE excluded." + version + " > " + table + "." + version;

    const std::string scan_from = "SELECT " + cols + " FROM " + table + " WHERE " + key;
    const std::string by_key = " ORDER BY " + key + " LIMIT ?2";
    scan[0] = scan_from + " >= ?1" + by_key;
    scan[1] = scan_from + " > ?1" + by_key;
    scan[2] = scan_from + " >= ?1 AND " + key + " < ?3" + by_key;
    scan[3] = scan_from + " > ?1 AND " + key + " < ?3" + by_key;
    changes = "SELECT " + cols + " FROM " + table + " WHERE (" + version + ", " + key + ") > (?1, ?2) ORDER BY " +
              version + ", " + key + " LIMIT ?3";
    checksum[0] = "SELECT count(*), storesync_sum64(" + row_hash + ") FROM " + table + " WHERE " + key + " >= ?1";
    checksum[1] = checksum[0] + " AND " + key + " < ?2";
    checksum[2] = "SELECT count(*), storesync_sum64(" + row_hash + ") FROM " + table;
    hashes[2] = "SELECT " + key + ", " + row_hash + " FROM " + table;
    hashes[0] = hashes[2] + " WHERE " + key + " >= ?1";
    hashes[1] = hashes[0] + " AND " + key + " < ?2";
    lookup = "SELECT j.key, t." + version + ", t." + hash_lo + ", t." + hash_hi + ", t." + deleted +
             " FROM json_each(?1) AS j JOIN " + table + " AS t ON t." + key + " = j.value";

    const std::string guard = " WHERE " + key + " = ?1 AND " + version + " = ?2";
    std::string restore_set = version + " = ?3, " + hash_lo + " = ?4, " + hash_hi + " = ?5, " + row_hash +
                              " = ?6, " + deleted + " = ?7";
    for (std::size_t i = 0; i < values.size(); ++i) restore_set += ", " + values[i] + " = " + p(8 + i);
    restore = "UPDATE " + table + " SET " + restore_set + guard;
    remove = "DELETE FROM " + table + guard;
    const std::string runs = "SELECT min(" + key + ") FROM (SELECT " + key + ", ntile(?2) OVER (ORDER BY " + key +
                             ") AS run FROM " + table + " WHERE " + key + " >= ?1";
    const std::string points = ") GROUP BY run HAVING run > 1 ORDER BY run";
    split_points[0] = runs + points;
    split_points[1] = runs + " AND " + key + " < ?3" + points;
  }

  /// The columns the table needs (affinity names), the entry key's first.
  std::vector<wanted_column> wanted() const {
    const table_mapping& m = *mapping;
    std::vector<wanted_column> want;
    want.push_back({m.key_column_name(), "TEXT"});
    if (!m.key_is_column())
      for (const key_column& k : m.key) want.push_back({k.column, sqlite_type_name(k.type)});
    want.push_back({m.version_column, "INTEGER"});
    for (const std::string* c : {&m.metadata.hash_lo, &m.metadata.hash_hi, &m.metadata.row_hash, &m.metadata.deleted})
      want.push_back({*c, "INTEGER"});
    for (const field_column& f : m.fields) want.push_back({f.column_name(), sqlite_type_name(f.type), {}, true});
    if (!m.rest_column.empty()) want.push_back({m.rest_column, "TEXT", {}, true});
    return want;
  }

  /// Binds entry `e` (whose converted row is `row`) from parameter `first`
  /// on: version, hashes, row hash, deleted flag, then, with `with_parts`,
  /// the key parts, then the value cells.
  void bind_row(sqlite3_stmt* s, int first, const entry& e, const typed_row& row, bool with_parts) const {
    sqlite3_bind_int64(s, first, e.version);
    sqlite3_bind_int64(s, first + 1, static_cast<sqlite3_int64>(e.hash.lo));
    sqlite3_bind_int64(s, first + 2, static_cast<sqlite3_int64>(e.hash.hi));
    sqlite3_bind_int64(s, first + 3, static_cast<sqlite3_int64>(row_hash_of(e)));
    sqlite3_bind_int(s, first + 4, e.tombstone ? 1 : 0);
    int i = first + 5;
    if (with_parts)
      for (std::size_t k = 0; k < parts.size(); ++k) sqlite_bind_cell(s, i++, part_types[k], &row.key[k]);
    for (std::size_t v = 0; v < values.size(); ++v) {
      const cell& c = row.values[v];
      sqlite_bind_cell(s, i++, value_types[v], c ? &*c : nullptr);
    }
  }

  /// The entry of the row (`cols` of `read`) at the cursor; a cell of
  /// another storage class than its column's (written by other SQL) is
  /// `errc::corrupt`, never read as something else.
  result<entry> entry_at(sqlite3_stmt* s, const std::string& path) const {
    entry e;
    e.key = std::string(sqlite_column_text(s, 0));
    e.version = sqlite3_column_int64(s, 1);
    e.hash.lo = static_cast<std::uint64_t>(sqlite3_column_int64(s, 2));
    e.hash.hi = static_cast<std::uint64_t>(sqlite3_column_int64(s, 3));
    e.tombstone = sqlite3_column_int(s, 4) != 0;
    if (e.tombstone) return e;
    std::vector<std::string> texts(values.size());
    std::vector<std::optional<std::string_view>> cells(values.size());
    for (std::size_t v = 0; v < values.size(); ++v) {
      const int col = static_cast<int>(5 + v);
      const int got = sqlite3_column_type(s, col);
      if (got == SQLITE_NULL) continue;
      const column_type t = value_types[v];
      const int want = sqlite_type_name(t) == "INTEGER" ? SQLITE_INTEGER
                       : sqlite_type_name(t) == "REAL"  ? SQLITE_FLOAT
                                                        : SQLITE_TEXT;
      if (got != want)
        return error{errc::corrupt, "SQLite database file " + quoted_path(path) + ": key " + detail::quoted(e.key) +
                                        ": column " + values[v] + " holds a value of another type than " +
                                        std::string(sqlite_type_name(t))};
      std::string& text = texts[v];
      switch (t) {
        case column_type::integer:
        case column_type::bigint: text = std::to_string(sqlite3_column_int64(s, col)); break;
        case column_type::boolean: text = sqlite3_column_int64(s, col) != 0 ? "true" : "false"; break;
        case column_type::double_precision: text = json_double(sqlite3_column_double(s, col)); break;
        case column_type::timestamptz:
        case column_type::date: {
          const std::string_view stored = sqlite_column_text(s, col);
          std::string why;
          const auto n = t == column_type::date ? parse_date(stored) : parse_timestamp(stored, false, why);
          if (!n)
            return error{errc::corrupt, "SQLite database file " + quoted_path(path) + ": key " +
                                            detail::quoted(e.key) + ": column " + values[v] + " holds " +
                                            detail::quoted(stored) + ", not a " + std::string(to_string(t))};
          text = std::to_string(*n);
          break;
        }
        default: text = std::string(sqlite_column_text(s, col)); break;
      }
      cells[v] = texts[v];
    }
    e.value = json_of_cells(*mapping, cells);
    return e;
  }

 private:
  static std::uint64_t row_hash_of(const entry& e) noexcept { return storesync::row_hash(e); }
};

}  // namespace storesync::detail
