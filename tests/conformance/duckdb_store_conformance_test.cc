// The store conformance suite on duckdb_store: an in-memory database per
// store, and a database file per store under $TEST_TMPDIR. The suite runs on
// the JSON table and on typed tables with a composite key (tenant, name): one
// with a bigint version, one with a timestamptz version.
#include "storesync/store/duckdb_store.hpp"

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "storesync/testing/store_conformance.hpp"
#include "storesync/testing/tenant_table.hpp"

namespace {

namespace fs = std::filesystem;

// `Mapping::mapping()`: the table mapping, or nothing for the JSON table.
template <class Mapping>
struct basic_duckdb_memory_factory {
  static constexpr bool transactional = true;
  std::unique_ptr<storesync::duckdb_store> make() {
    auto opened = storesync::duckdb_store::open({.table = "entries", .threads = 2, .mapping = Mapping::mapping()});
    EXPECT_TRUE(opened) << opened.error().message();
    return std::make_unique<storesync::duckdb_store>(std::move(opened).value());
  }
};

template <class Mapping>
struct basic_duckdb_file_factory {
  static constexpr bool transactional = true;

  basic_duckdb_file_factory() {
    const char* tmp = std::getenv("TEST_TMPDIR");
    std::string pattern = (tmp ? std::string(tmp) : fs::temp_directory_path().string()) +
                          "/duckdb_conformance_XXXXXX";
    dir_ = ::mkdtemp(pattern.data());
  }
  ~basic_duckdb_file_factory() {
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }

  std::unique_ptr<storesync::duckdb_store> make() {
    ++count_;
    return reopen();
  }

  // The last store's file again; the table name needs quoting.
  std::unique_ptr<storesync::duckdb_store> reopen() {
    auto opened = storesync::duckdb_store::open({.path = dir_ + "/store" + std::to_string(count_) + ".duckdb",
                                                 .table = "odd \"name\"",
                                                 .threads = 2,
                                                 .mapping = Mapping::mapping()});
    EXPECT_TRUE(opened) << opened.error().message();
    return std::make_unique<storesync::duckdb_store>(std::move(opened).value());
  }

  std::string dir_;
  int count_ = 0;
};

struct json_table {
  static std::optional<storesync::table_mapping> mapping() { return std::nullopt; }
};
using duckdb_memory_factory = basic_duckdb_memory_factory<json_table>;
using duckdb_file_factory = basic_duckdb_file_factory<json_table>;

using storesync::testing::tenant_table;

template <storesync::version_column_type Version>
struct typed_duckdb_memory_factory : basic_duckdb_memory_factory<tenant_table<Version>>, tenant_table<Version> {};
template <storesync::version_column_type Version>
struct typed_duckdb_file_factory : basic_duckdb_file_factory<tenant_table<Version>>, tenant_table<Version> {};

using typed_factories =
    ::testing::Types<typed_duckdb_memory_factory<storesync::version_column_type::bigint>,
                     typed_duckdb_memory_factory<storesync::version_column_type::timestamptz>,
                     typed_duckdb_file_factory<storesync::version_column_type::bigint>,
                     typed_duckdb_file_factory<storesync::version_column_type::timestamptz>>;
using typed_file_factories =
    ::testing::Types<typed_duckdb_file_factory<storesync::version_column_type::bigint>,
                     typed_duckdb_file_factory<storesync::version_column_type::timestamptz>>;

}  // namespace

namespace storesync::testing {
using DuckdbFactories = ::testing::Types<duckdb_memory_factory, duckdb_file_factory>;
INSTANTIATE_TYPED_TEST_SUITE_P(Duckdb, StoreConformance, DuckdbFactories);
INSTANTIATE_TYPED_TEST_SUITE_P(Duckdb, PersistentStoreConformance, ::testing::Types<duckdb_file_factory>);
INSTANTIATE_TYPED_TEST_SUITE_P(DuckdbTyped, StoreConformance, typed_factories);
INSTANTIATE_TYPED_TEST_SUITE_P(DuckdbTyped, PersistentStoreConformance, typed_file_factories);
}  // namespace storesync::testing
