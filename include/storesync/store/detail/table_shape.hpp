#pragma once
// Internals of the SQL adapters: the check that an existing table has the
// columns a store needs, whatever the database. The adapter lists the
// table's columns as its catalog reports them; the check names every column
// that is missing or of another type. Not part of the public API.

#include <algorithm>
#include <span>
#include <string>
#include <string_view>

#include "storesync/core/detail/text.hpp"
#include "storesync/core/result.hpp"

namespace storesync::detail {

/// One column a store needs, with its type as the database's catalog spells
/// it (`also`: a second type accepted in an existing table).
struct wanted_column {
  std::string_view name;
  std::string_view type;
  std::string_view also = {};
  /// The column must admit NULL (a typed table's value column, which a
  /// deleted key's row leaves NULL).
  bool admits_null = false;
};

/// One column of an existing table, as the database's catalog reports it.
struct found_column {
  std::string name;
  std::string type;
  bool nullable = true;
  /// Empty where the database reports none.
  std::string collation = {};
};

/// What the key column (the first wanted one) needs besides its type.
struct key_column_rules {
  bool not_null = false;
  /// The collation it must have; empty: any.
  std::string_view collation = {};
};

/// `errc::schema_mismatch`: "<table>: column "<column>" <what>". `table`
/// names the table as messages show it.
inline error shape_error(std::string_view table, std::string_view column, std::string_view what) {
  return error{errc::schema_mismatch, std::string(table) + ": column " + detail::quoted(column) +
                                          " " + std::string(what)};
}

/// Whether `found` holds every `wanted` column with its type, the first
/// (the key) following `key`; else the error naming each that does not.
inline result<void> check_shape(std::string_view table, std::span<const found_column> found,
                                std::span<const wanted_column> wanted, key_column_rules key = {}) {
  std::string wrong;
  auto refuse = [&](std::string_view column, const std::string& what) {
    wrong += wrong.empty() ? std::string(table) + ": column " : "; column ";
    wrong += detail::quoted(column) + " " + what;
  };
  for (const wanted_column& w : wanted) {
    const auto it = std::find_if(found.begin(), found.end(),
                                 [&](const found_column& f) { return f.name == w.name; });
    if (it == found.end()) {
      refuse(w.name, "is missing");
      continue;
    }
    if (it->type != w.type && (w.also.empty() || it->type != w.also))
      refuse(w.name, "has type " + it->type + "; storesync needs " + std::string(w.type) +
                         (w.also.empty() ? "" : " or " + std::string(w.also)));
    if (w.admits_null && !it->nullable)
      refuse(w.name, "is NOT NULL; a deleted key's row holds NULL there");
    if (&w != &wanted.front()) continue;
    if (key.not_null && it->nullable) refuse(w.name, "admits NULL; storesync needs NOT NULL");
    if (!key.collation.empty() && it->collation != key.collation)
      refuse(w.name, "has collation " + detail::quoted(it->collation) + "; storesync needs COLLATE " +
                         detail::quoted(key.collation) + " (byte-wise key order)");
  }
  if (wrong.empty()) return success();
  return error{errc::schema_mismatch, std::move(wrong)};
}

}  // namespace storesync::detail
