#pragma once
/// \file
/// A typed table's mapping from JSON (nlohmann), kept apart from
/// table_mapping.hpp so that only a program that reads JSON configuration
/// pays for nlohmann_json. Every member but `table` and `key` is optional;
/// an unknown member is refused, so a misspelt option never goes unnoticed.
///
/// \code
///   auto typed = storesync::parse_typed_table(nlohmann::json::parse(R"({
///     "schema": "public", "table": "scores",
///     "key": [{"column": "community_id", "type": "bigint"},
///             {"column": "profile_id", "type": "bigint"}],
///     "version": {"column": "version", "type": "bigint"},
///     "fields": [{"field": "score", "type": "integer", "required": true, "from_string": true},
///                {"field": "tier", "type": "text", "default": "free"},
///                {"field": "seen_at", "column": "seen", "type": "timestamptz"}],
///     "rest": "extra",
///     "metadata": {"deleted": "is_deleted"}})"));
///   if (!typed) return typed.error();   // errc::invalid_argument naming the member
///   pg_config.schema = typed->schema;   // when not empty
///   pg_config.table = typed->table;
///   pg_config.mapping = typed->mapping;
/// \endcode
///
/// `type` is a `column_type` name (`text`, `integer`, `bigint`, `numeric`,
/// `double_precision`, `boolean`, `timestamptz`, `date`, `jsonb`); a field's
/// `default` is any JSON value nested at most `default_max_depth` (256)
/// deep; `round` and `from_string` are booleans. The version's `type` is
/// `bigint` or `timestamptz`.

#include <cstddef>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "storesync/core/result.hpp"
#include "storesync/core/value_rules.hpp"
#include "storesync/store/table_mapping.hpp"

namespace storesync {

/// A typed table named by a JSON mapping: where it is, and how entries map
/// onto it.
struct typed_table {
  /// Empty: the store's default schema.
  std::string schema;
  std::string table;
  table_mapping mapping;
};

namespace detail {
/// Whether `j` nests arrays and objects more than `limit` deep, found
/// without recursion (nlohmann's dump recurses once per level).
inline bool nests_deeper_than(const nlohmann::json& j, std::size_t limit) {
  std::vector<std::pair<const nlohmann::json*, std::size_t>> todo{{&j, 0}};  // (value, containers above it)
  while (!todo.empty()) {
    const auto [v, above] = todo.back();
    todo.pop_back();
    if (!v->is_structured()) continue;
    if (above == limit) return true;
    for (const nlohmann::json& child : *v) todo.emplace_back(&child, above + 1);
  }
  return false;
}

struct mapping_reader {
  std::string error_text;

  bool fail(std::string_view where, std::string_view what) {
    if (error_text.empty()) error_text = std::string(where) + ": " + std::string(what);
    return false;
  }
  bool object(const nlohmann::json& j, std::string_view where, std::initializer_list<std::string_view> known) {
    if (!j.is_object()) return fail(where, "must be an object");
    for (const auto& [name, value] : j.items()) {
      bool ok = false;
      for (const std::string_view k : known) ok = ok || k == name;
      if (!ok) return fail(where, "unknown member \"" + name + "\"");
    }
    return true;
  }
  bool text(const nlohmann::json& j, std::string_view name, std::string& out, std::string_view where,
            bool required = false) {
    const auto it = j.find(name);
    if (it == j.end()) return !required || fail(where, "\"" + std::string(name) + "\" is missing");
    if (!it->is_string()) return fail(where, "\"" + std::string(name) + "\" must be a string");
    out = it->get<std::string>();
    return true;
  }
  bool flag(const nlohmann::json& j, std::string_view name, bool& out, std::string_view where) {
    const auto it = j.find(name);
    if (it == j.end()) return true;
    if (!it->is_boolean()) return fail(where, "\"" + std::string(name) + "\" must be true or false");
    out = it->get<bool>();
    return true;
  }
  bool type(const nlohmann::json& j, column_type& out, std::string_view where) {
    std::string name = std::string(to_string(out));
    if (!text(j, "type", name, where)) return false;
    const auto t = column_type_named(name);
    if (!t) return fail(where, "\"type\" " + name + " is not a column type");
    out = *t;
    return true;
  }
};
}  // namespace detail

/// Reads a typed table (see the file comment), then checks the mapping
/// (`check_mapping`, and that every default converts to its column). Fails
/// with `errc::invalid_argument` naming the member.
inline result<typed_table> parse_typed_table(const nlohmann::json& j) try {
  detail::mapping_reader r;
  typed_table t;
  table_mapping& m = t.mapping;
  bool ok = r.object(j, "mapping", {"schema", "table", "key", "version", "fields", "rest", "metadata"}) &&
            r.text(j, "schema", t.schema, "mapping") && r.text(j, "table", t.table, "mapping", true) &&
            r.text(j, "rest", m.rest_column, "mapping");
  if (ok) {
    const auto key = j.find("key");
    if (key == j.end() || !key->is_array() || key->empty()) ok = r.fail("mapping", "\"key\" must be a non-empty array");
    for (std::size_t i = 0; ok && i < key->size(); ++i) {
      const std::string where = "key[" + std::to_string(i) + "]";
      key_column k;
      ok = r.object((*key)[i], where, {"column", "type"}) && r.text((*key)[i], "column", k.column, where, true) &&
           r.type((*key)[i], k.type, where);
      m.key.push_back(std::move(k));
    }
  }
  if (const auto v = j.find("version"); ok && v != j.end()) {
    std::string type = "bigint";
    ok = r.object(*v, "version", {"column", "type"}) && r.text(*v, "column", m.version_column, "version") &&
         r.text(*v, "type", type, "version");
    if (ok && type == "timestamptz") m.version_type = version_column_type::timestamptz;
    else if (ok && type != "bigint") ok = r.fail("version", "\"type\" must be bigint or timestamptz");
  }
  if (const auto fields = j.find("fields"); ok && fields != j.end()) {
    if (!fields->is_array()) ok = r.fail("mapping", "\"fields\" must be an array");
    for (std::size_t i = 0; ok && i < fields->size(); ++i) {
      const nlohmann::json& f = (*fields)[i];
      const std::string where = "fields[" + std::to_string(i) + "]";
      field_column c;
      ok = r.object(f, where, {"field", "column", "type", "required", "default", "round", "from_string"}) &&
           r.text(f, "field", c.field, where, true) && r.text(f, "column", c.column, where) &&
           r.type(f, c.type, where) && r.flag(f, "required", c.required, where) &&
           r.flag(f, "round", c.round, where) && r.flag(f, "from_string", c.from_string, where);
      if (const auto d = f.find("default"); ok && d != f.end()) {
        if (detail::nests_deeper_than(*d, default_max_depth))
          ok = r.fail(where, "\"default\" nests deeper than " + std::to_string(default_max_depth));
        else
          c.default_value = d->dump();
      }
      m.fields.push_back(std::move(c));
    }
  }
  if (const auto meta = j.find("metadata"); ok && meta != j.end()) {
    metadata_columns& md = m.metadata;
    ok = r.object(*meta, "metadata", {"key", "hash_lo", "hash_hi", "row_hash", "deleted"}) &&
         r.text(*meta, "key", md.key, "metadata") && r.text(*meta, "hash_lo", md.hash_lo, "metadata") &&
         r.text(*meta, "hash_hi", md.hash_hi, "metadata") && r.text(*meta, "row_hash", md.row_hash, "metadata") &&
         r.text(*meta, "deleted", md.deleted, "metadata");
  }
  if (!ok) return error{errc::invalid_argument, "table mapping: " + r.error_text};
  BOOST_OUTCOME_TRY(detail::check_typed_mapping(m));
  return t;
} catch (const nlohmann::json::exception& e) {
  return error{errc::invalid_argument, std::string("table mapping: ") + e.what()};
}

}  // namespace storesync
