#pragma once
// SQL text helpers shared by the SQL adapters (SQLite, DuckDB). Internal.

#include <string>
#include <string_view>

namespace storesync::detail {

/// `name` quoted as an SQL identifier ("a""b"): any name is safe, quotes,
/// spaces and semicolons included.
inline std::string sql_identifier(std::string_view name) {
  std::string out = "\"";
  for (char c : name) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}

}  // namespace storesync::detail
