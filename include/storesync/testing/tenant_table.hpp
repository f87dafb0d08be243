#pragma once
/// \file
/// `tenant_table<Version>`: the typed table every SQL adapter runs the store
/// conformance suite on, and the factory hooks that map the suite's keys and
/// values onto it (see store_conformance.hpp). Keyed by (`tenant`,
/// `the "name"`), both text (a quote and a space in a column name: adapters
/// must quote identifiers); the suite's values go into a jsonb field `doc`
/// (column `document`), any other field into the rest column `extra`; the
/// version column is `revision` (bigint) or `changed_at` (timestamptz).
///
/// \code
///   template <storesync::version_column_type V>
///   struct typed_factory : basic_factory<storesync::testing::tenant_table<V>>,
///                          storesync::testing::tenant_table<V> {};
/// \endcode

#include <optional>
#include <string>
#include <string_view>

#include "storesync/store/table_mapping.hpp"

namespace storesync::testing {

template <version_column_type Version>
struct tenant_table {
  /// The mapping, for the factory's store config.
  static std::optional<table_mapping> mapping() {
    table_mapping m;
    m.key = {{"tenant", column_type::text}, {"the \"name\"", column_type::text}};
    m.version_type = Version;
    m.version_column = Version == version_column_type::bigint ? "revision" : "changed_at";
    m.fields = {{.field = "doc", .column = "document", .type = column_type::jsonb}};
    m.rest_column = "extra";
    return m;
  }
  /// ("tenant", plain) encodes as "tenant " + plain: injective and in order.
  static std::string key_of(std::string_view plain) { return "tenant " + std::string(plain); }
  static std::string value_of(std::string_view json) { return R"({"doc":)" + std::string(json) + "}"; }
};

}  // namespace storesync::testing
