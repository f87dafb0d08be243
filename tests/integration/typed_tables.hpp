#pragma once
// What the typed-table tests of every SQL store share: a mapping of every
// column type, its edge-value entry, the conversion failures each store must
// refuse, and a batch whose checksums a typed and a JSON table must agree on.
#include <string>
#include <string_view>
#include <vector>

#include "storesync/core/entry.hpp"
#include "storesync/store/table_mapping.hpp"

namespace storesync::testing {

/// Every column type, keyed by (tenant text, id bigint), with a rest column;
/// numeric only `with_numeric` (a store may refuse it, as DuckDB does).
inline table_mapping every_type(bool with_numeric = true) {
  table_mapping m;
  m.key = {{"tenant", column_type::text}, {"id", column_type::bigint}};
  m.fields = {
      {.field = "t", .type = column_type::text},
      {.field = "i", .type = column_type::integer},
      {.field = "b", .type = column_type::bigint},
      {.field = "n", .type = column_type::numeric},
      {.field = "d", .type = column_type::double_precision},
      {.field = "f", .type = column_type::boolean},
      {.field = "ts", .column = "happened at", .type = column_type::timestamptz},
      {.field = "day", .type = column_type::date},
      {.field = "doc", .type = column_type::jsonb},
      {.field = "opt", .type = column_type::integer},
      {.field = "dflt", .type = column_type::text, .default_value = R"("x")"},
  };
  m.rest_column = "extra";
  if (!with_numeric) std::erase_if(m.fields, [](const field_column& f) { return f.type == column_type::numeric; });
  return m;
}

/// The entry key of (tenant, id) under `every_type()`.
inline std::string typed_key(std::string_view tenant, std::string_view id) {
  return encode_key(every_type(), {tenant, id}).value();
}

/// An entry with an edge value in every field (and one unmapped field).
inline entry edge_values_entry() {
  return entry::put(typed_key("acme corp", "-42"),
                    R"({"t":"Ada \"q\" \\ é","i":-2147483648,"b":9223372036854775807,)"
                    R"("n":123456789012345678901234567890.000000010,"d":-0,"f":false,)"
                    R"("ts":"2026-03-04T05:06:07.5+05:30","day":"2024-02-29","doc":{"a":[1,{"b":null}]},)"
                    R"("later":"kept","dflt":"given"})",
                    7);
}

/// A value under `every_type()` that no store may hold, and what the
/// refusal's message must contain.
struct refused_value {
  std::string value;
  std::string names;
};

inline std::vector<refused_value> conversion_failures() {
  return {
      {R"({"i":"abc"})", R"(field "i" (column "i", integer) "\"abc\"" is a string)"},
      {R"({"i":1.5})", R"(field "i" (column "i", integer) "1.5" has a fraction)"},
      {R"({"i":2147483648})", "is out of range for integer"},
      {R"({"b":1e19})", "is out of range for bigint"},
      {R"({"d":1e400})", "out of double precision's range"},
      {R"({"d":1e-400})", "out of double precision's range"},
      {R"({"f":1})", R"(field "f" (column "f", boolean) "1" is not true or false)"},
      {R"({"t":5})", R"(field "t" (column "t", text) "5" is not a string)"},
      {R"({"ts":"2026-01-01T00:00:00"})", R"(field "ts" (column "happened at", timestamptz))"},
      {R"({"ts":"2026-01-01T00:00:00.1234567Z"})", "digits past microseconds"},
      {R"({"ts":"0001-01-01T00:00:00+00:01"})", "outside years 1-9999"},
      {R"({"day":"2023-02-29"})", "is not a date"},
      {R"({"day":"10000-01-01"})", "is not a date"},
      {R"([1,2])", "a typed table holds JSON objects"},
      {R"({"i":1,"i":2})", R"(field "i" appears twice)"},
  };
}

/// 300 puts over two tenants with ids in scrambled order, and a delete.
inline std::vector<entry> checksum_batch() {
  std::vector<entry> batch;
  for (int i = 0; i < 300; ++i) {
    const std::string id = std::to_string(i * 7919 % 1000 - 500);
    batch.push_back(entry::put(typed_key(i % 3 == 0 ? "a" : "b c", id),
                               R"({"i":)" + std::to_string(i) + R"(,"n":1E-7,"ts":"2026-01-01T00:00:00+01:00"})",
                               i + 1));
  }
  batch.push_back(entry::erase(batch[5].key, 1000));
  return batch;
}

}  // namespace storesync::testing
