#pragma once
// SQL text helpers shared by the SQL adapters. Internal.

#include <string>
#include <string_view>

namespace storesync::detail {

/// `text` between two `quote` characters, each `quote` inside doubled.
inline std::string sql_quoted(std::string_view text, char quote) {
  std::string out(1, quote);
  for (char c : text) {
    if (c == quote) out += quote;
    out += c;
  }
  out += quote;
  return out;
}

/// `name` quoted as an SQL identifier ("a""b"): any name is safe, quotes,
/// spaces and semicolons included.
inline std::string sql_identifier(std::string_view name) { return sql_quoted(name, '"'); }

/// `text` as an SQL string literal ('it''s'), for databases whose strings
/// take no backslash escapes.
inline std::string sql_literal(std::string_view text) { return sql_quoted(text, '\''); }

/// The statements of `restore` and `split_points` that SQLite and DuckDB
/// share, against the quoted `table`, parameter N written `mark` + N (`?` or
/// `$`). `restore`: $1 key, $2 expected version, $3-$7 version, hash,
/// row_hash, value, tombstone of the previous entry, and `updated_at` the
/// SQL that stores the time from $8. `split_points` (by [bounded above]):
/// $1 first, $2 parts, $3 last.
struct sql_restore_split {
  std::string restore, remove;
  std::string split_points[2];
};

inline sql_restore_split sql_restore_split_for(const std::string& table, char mark,
                                               std::string_view updated_at) {
  auto p = [mark](int n) { return std::string(1, mark) + std::to_string(n); };
  sql_restore_split out;
  const std::string guard = " WHERE key = " + p(1) + " AND version = " + p(2);
  out.restore = "UPDATE " + table + " SET version = " + p(3) + ", hash = " + p(4) +
                ", row_hash = " + p(5) + ", value = " + p(6) + ", tombstone = " + p(7) +
                ", updated_at = " + std::string(updated_at) + guard;
  out.remove = "DELETE FROM " + table + guard;
  // ntile deals the rows in key order into runs whose sizes differ by at
  // most one, larger first; the first key of each run after the first is a
  // point.
  const std::string runs = "SELECT min(key) FROM (SELECT key, ntile(" + p(2) +
                           ") OVER (ORDER BY key) AS run FROM " + table + " WHERE key >= " + p(1);
  const std::string points = ") GROUP BY run HAVING run > 1 ORDER BY run";
  out.split_points[0] = runs + points;
  out.split_points[1] = runs + " AND key < " + p(3) + points;
  return out;
}

}  // namespace storesync::detail
