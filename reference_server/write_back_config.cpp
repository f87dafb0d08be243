#include "write_back_config.hpp"

#include <algorithm>
#include <initializer_list>
#include <set>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "storesync/core/detail/json_scan.hpp"
#include "storesync/core/detail/text.hpp"
#include "storesync/policy/config.hpp"
#include "storesync/store/table_mapping_json.hpp"
#include "storesync/strategy/write_back.hpp"

#include "config_file.hpp"

namespace storesync::server {
namespace {

using json = nlohmann::json;

// Thrown inside the parser only; turned into `invalid_argument` at its door.
struct config_fault {
  std::string where;
  std::string what;
};

[[noreturn]] void fail(const std::string& where, const std::string& what) { throw config_fault{where, what}; }

void known_members(const json& j, const std::string& where, std::initializer_list<std::string_view> known) {
  if (!j.is_object()) fail(where, "must be an object");
  for (const auto& [name, value] : j.items()) {
    bool ok = false;
    for (const std::string_view k : known) ok = ok || k == name;
    if (!ok) fail(where, "unknown member " + detail::quoted(name));
  }
}

std::string text(const json& j, const char* name, const std::string& where, bool required) {
  const auto it = j.find(name);
  if (it == j.end()) {
    if (required) fail(where, std::string("\"") + name + "\" is missing");
    return {};
  }
  if (!it->is_string()) fail(where + "." + name, "must be a string");
  std::string out = it->get<std::string>();
  if (required && out.empty()) fail(where + "." + name, "is empty");
  return out;
}

std::vector<std::string> names(const json& j, const char* name, const std::string& where) {
  std::vector<std::string> out;
  const auto it = j.find(name);
  if (it == j.end()) return out;
  if (!it->is_array()) fail(where + "." + name, "must be an array of strings");
  for (std::size_t i = 0; i < it->size(); ++i) {
    const json& v = (*it)[i];
    const std::string at = where + "." + name + "[" + std::to_string(i) + "]";
    if (!v.is_string() || v.get<std::string>().empty()) fail(at, "must be a non-empty string");
    out.push_back(v.get<std::string>());
  }
  return out;
}

// A typed table mapping or a plain {"schema", "table"}.
template <class Target>
void read_table(const json& j, const std::string& where, Target& out, std::initializer_list<std::string_view> extra) {
  if (!j.is_object()) fail(where, "must be an object");
  if (j.contains("key") && j["key"].is_array() && !j["key"].empty() && j["key"][0].is_object()) {
    auto typed = parse_typed_table(j);
    if (!typed) fail(where, typed.error().context());
    out.schema = typed.value().schema;
    out.table = typed.value().table;
    out.mapping = std::move(typed.value().mapping);
    return;
  }
  std::vector<std::string_view> known{"schema", "table"};
  known.insert(known.end(), extra.begin(), extra.end());
  for (const auto& [name, value] : j.items()) {
    if (std::find(known.begin(), known.end(), name) == known.end()) fail(where, "unknown member " + detail::quoted(name));
  }
  out.schema = text(j, "schema", where, false);
  out.table = text(j, "table", where, false);
}

// A JSON Lines directory holds entries as they are: no typed mapping, and a
// `table` that names one subdirectory.
void check_jsonl_table(const std::string& where, const std::string& table, bool typed) {
  if (typed) fail(where, "a jsonl: directory takes no typed mapping, only \"table\"");
  if (table == "." || table == ".." || table.find('/') != std::string::npos)
    fail(where + ".table", detail::quoted(table) + " must name one subdirectory");
}

write_back_stage_config read_stage(const json& j, const std::string& where, write_back_endpoint::kind source_kind,
                                   write_back_endpoint::kind sink_kind) {
  known_members(j, where, {"name", "source", "sink", "lookback", "lookback_ms", "checks", "dbt_model", "unique_keys"});
  write_back_stage_config s;
  s.name = text(j, "name", where, true);
  if (auto ok = check_stage_name(s.name); !ok) fail(where + ".name", ok.error().context());
  if (!j.contains("source")) fail(where, "\"source\" is missing");
  if (!j.contains("sink")) fail(where, "\"sink\" is missing");

  const std::string src = where + ".source";
  const json& sj = j["source"];
  if (source_kind == write_back_endpoint::kind::duckdb) {
    known_members(sj, src, {"query", "table", "key", "version", "value"});
    s.source.query = text(sj, "query", src, false);
    s.source.table = text(sj, "table", src, false);
    s.source.key = names(sj, "key", src);
    s.source.version = text(sj, "version", src, false);
    s.source.value = names(sj, "value", src);
    if (s.source.query.empty() == s.source.table.empty()) fail(src, "give either \"query\" or \"table\"");
    if (!s.source.query.empty() && (!s.source.key.empty() || !s.source.version.empty() || !s.source.value.empty()))
      fail(src, "\"key\", \"version\" and \"value\" go with \"table\", not with \"query\"");
    if (!s.source.table.empty() && (s.source.key.empty() || s.source.version.empty()))
      fail(src, "a table needs \"key\" (its key columns) and \"version\" (its version column)");
  } else {
    read_table(sj, src, s.source, {});
    if (s.source.table.empty()) fail(src, "\"table\" is missing");
    if (source_kind == write_back_endpoint::kind::jsonl) check_jsonl_table(src, s.source.table, s.source.mapping.has_value());
  }

  read_table(j["sink"], where + ".sink", s.sink, {});
  if (s.sink.table.empty()) fail(where + ".sink", "\"table\" is missing");
  if (sink_kind == write_back_endpoint::kind::jsonl) check_jsonl_table(where + ".sink", s.sink.table, s.sink.mapping.has_value());

  if (j.contains("lookback") && j.contains("lookback_ms")) fail(where, "give \"lookback\" or \"lookback_ms\", not both");
  for (const char* name : {"lookback", "lookback_ms"}) {
    if (!j.contains(name)) continue;
    const json& v = j[name];
    if (!v.is_number_unsigned()) fail(where + "." + name, "must be a whole number, 0 or more");
    const auto n = v.get<std::uint64_t>();
    const std::uint64_t scale = std::string_view(name) == "lookback_ms" ? 1000 : 1;
    if (n > static_cast<std::uint64_t>(max_entry_version) / scale) fail(where + "." + name, "is too large");
    s.lookback = static_cast<version_type>(n * scale);
  }
  if (j.contains("checks")) {
    const std::string at = where + ".checks";
    const json& c = j["checks"];
    known_members(c, at, {"required", "not_before"});
    s.required = names(c, "required", at);
    if (c.contains("not_before")) {
      const json& pairs = c["not_before"];
      if (!pairs.is_array()) fail(at + ".not_before", "must be an array of [later, earlier] pairs");
      for (std::size_t i = 0; i < pairs.size(); ++i) {
        const json& p = pairs[i];
        const std::string pat = at + ".not_before[" + std::to_string(i) + "]";
        if (!p.is_array() || p.size() != 2 || !p[0].is_string() || !p[1].is_string())
          fail(pat, "must be a pair of field names, [later, earlier]");
        s.not_before.emplace_back(p[0].get<std::string>(), p[1].get<std::string>());
      }
    }
  }
  s.dbt_model = text(j, "dbt_model", where, false);
  if (s.dbt_model.empty()) s.dbt_model = s.name;
  s.unique_keys = source_kind != write_back_endpoint::kind::jsonl;
  if (j.contains("unique_keys")) {
    if (!j["unique_keys"].is_boolean()) fail(where + ".unique_keys", "must be true or false");
    s.unique_keys = j["unique_keys"].get<bool>();
  }
  if (source_kind == write_back_endpoint::kind::jsonl && s.lookback > 0)
    fail(where, "a jsonl: source has no late rows (its versions are byte positions): no lookback");
  return s;
}

}  // namespace

result<write_back_endpoint> parse_endpoint(std::string_view text, std::string_view what) {
  const auto bad = [&](const std::string& why) {
    return error{errc::invalid_argument, std::string(what) + ": " + why};
  };
  write_back_endpoint e;
  if (text.starts_with("duckdb:")) {
    e.type = write_back_endpoint::kind::duckdb;
    e.location = text.substr(7);
  } else if (text.starts_with("sqlite:")) {
    e.type = write_back_endpoint::kind::sqlite;
    e.location = text.substr(7);
  } else if (text.starts_with("jsonl:")) {
    e.type = write_back_endpoint::kind::jsonl;
    e.location = text.substr(6);
  } else if (text.starts_with("postgresql://") || text.starts_with("postgres://")) {
    e.type = write_back_endpoint::kind::postgresql;
    e.location = text;
  } else {
    return bad(detail::quoted(text) + " is not duckdb:PATH, sqlite:PATH, jsonl:DIR or a postgresql:// URL");
  }
  if (e.location.empty()) return bad("the path after " + std::string(text) + " is empty");
  return e;
}

result<write_back_config> parse_write_back_config(std::string_view body) {
  const auto bad = [](const std::string& why) { return error{errc::invalid_argument, "write-back config: " + why}; };
  if (body.size() > max_write_back_config_size)
    return bad(std::to_string(body.size()) + " bytes; the limit is " + std::to_string(max_write_back_config_size));
  // Checked first without recursion, so nlohmann only sees shallow, valid text.
  if (const auto fault = detail::scan_json(body, {max_write_back_config_depth, false, false}); !fault.what.empty())
    return bad(std::string(fault.what) + " at byte " + std::to_string(fault.at));
  try {
    // nlohmann keeps the last of a repeated member; refuse it instead,
    // naming where it is (`stages[0]`).
    struct level {
      bool array = false;
      std::size_t index = 0;
      std::string key;
      std::set<std::string> keys;
    };
    std::vector<level> open;
    const auto where = [&] {
      std::string path;
      for (std::size_t i = 0; i + 1 < open.size(); ++i)
        path += open[i].array ? "[" + std::to_string(open[i].index) + "]" : (path.empty() ? "" : ".") + open[i].key;
      return path.empty() ? std::string("config") : path;
    };
    const auto element_done = [&] {
      if (!open.empty() && open.back().array) ++open.back().index;
    };
    const json j = json::parse(body, [&](int, json::parse_event_t event, json& parsed) {
      switch (event) {
        case json::parse_event_t::object_start: open.push_back({}); break;
        case json::parse_event_t::array_start: open.push_back({.array = true}); break;
        case json::parse_event_t::object_end:
        case json::parse_event_t::array_end:
          open.pop_back();
          element_done();
          break;
        case json::parse_event_t::value: element_done(); break;
        case json::parse_event_t::key:
          open.back().key = parsed.get<std::string>();
          if (!open.back().keys.insert(open.back().key).second)
            fail(where(), "member " + detail::quoted(open.back().key) + " is given twice");
          break;
      }
      return true;
    });
    known_members(j, "config", {"source", "sink", "stages", "batch", "retry", "runs_table", "dead_letters_table",
                                "duckdb_memory_limit", "duckdb_window_rows"});
    write_back_config c;
    for (auto [name, out] : {std::pair{"source", &c.source}, std::pair{"sink", &c.sink}}) {
      const std::string where = std::string("config.") + name;
      const std::string t = text(j, name, "config", true);
      auto e = parse_endpoint(t, where);
      if (!e) fail(where, e.error().context().substr(where.size() + 2));
      *out = std::move(e).value();
    }
    if (!j.contains("stages") || !j["stages"].is_array() || j["stages"].empty())
      fail("config.stages", "must be a non-empty array");
    std::set<std::string> seen;
    for (std::size_t i = 0; i < j["stages"].size(); ++i) {
      const std::string where = "stages[" + std::to_string(i) + "]";
      auto s = read_stage(j["stages"][i], where, c.source.type, c.sink.type);
      if (!seen.insert(s.name).second) fail(where + ".name", detail::quoted(s.name) + " is used twice");
      // Two stages writing one table would take each other's writes for
      // duplicates (and, in one JSON Lines directory, race for segments).
      for (const auto& other : c.stages)
        if (other.sink.schema == s.sink.schema && other.sink.table == s.sink.table)
          fail(where + ".sink", "table " + detail::quoted(s.sink.table) + " is also stage " +
                                    detail::quoted(other.name) + "'s sink");
      c.stages.push_back(std::move(s));
    }
    // A policy's config: its own JSON reader, then its own checks.
    const auto policy = [&](const char* name, auto& out) {
      if (!j.contains(name)) return;
      const std::string where = std::string("config.") + name;
      try {
        from_json(j[name], out);
      } catch (const std::exception& e) {
        fail(where, e.what());
      }
      if (auto ok = out.validate(); !ok) fail(where, ok.error().context());
    };
    policy("batch", c.batch);
    policy("retry", c.retry);
    if (j.contains("duckdb_window_rows")) {
      const json& v = j["duckdb_window_rows"];
      if (!v.is_number_unsigned() || v.get<std::uint64_t>() == 0 || v.get<std::uint64_t>() > 100'000'000)
        fail("config.duckdb_window_rows", "must be a whole number from 1 to 100000000");
      c.duckdb_window_rows = v.get<std::size_t>();
    }
    for (auto [name, out] : {std::pair{"runs_table", &c.runs_table}, std::pair{"dead_letters_table", &c.dead_letters_table},
                             std::pair{"duckdb_memory_limit", &c.duckdb_memory_limit}}) {
      if (j.contains(name)) *out = text(j, name, "config", true);
    }
    return c;
  } catch (const config_fault& f) {
    return bad(f.where + ": " + f.what);
  } catch (const std::exception& e) {
    return bad(e.what());
  }
}

result<write_back_config> load_write_back_config(const std::string& path) {
  // The whole path, however long, unless it holds bytes a message cannot.
  const bool plain = detail::invalid_utf8_at(path) == std::string::npos &&
                     std::none_of(path.begin(), path.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20; });
  const std::string shown = plain ? "\"" + path + "\"" : detail::quoted(path);
  auto body = read_config_file(path, max_write_back_config_size);
  if (!body) return error{body.error().code(), "write-back config " + shown + ": " + body.error().context()};
  auto c = parse_write_back_config(body.value());
  if (!c) return error{c.error().code(), shown + ": " + c.error().context()};
  return c;
}

}  // namespace storesync::server
