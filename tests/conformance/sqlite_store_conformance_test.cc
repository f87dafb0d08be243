// The store conformance suite on sqlite_store: one fresh database file per
// store, under $TEST_TMPDIR; on storesync's JSON table, and on a typed table
// keyed by (tenant, name).
#include "storesync/store/sqlite_store.hpp"

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

struct json_table {
  static std::optional<storesync::table_mapping> mapping() { return std::nullopt; }
};

using storesync::testing::tenant_table;

template <class Mapping>
struct basic_sqlite_store_factory {
  static constexpr bool transactional = true;

  basic_sqlite_store_factory() {
    const char* tmp = std::getenv("TEST_TMPDIR");
    std::string pattern = (tmp ? std::string(tmp) : fs::temp_directory_path().string()) +
                          "/sqlite_conformance_XXXXXX";
    dir_ = ::mkdtemp(pattern.data());
  }
  ~basic_sqlite_store_factory() {
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }

  // Stores are made with synchronous FULL and reopened with the default
  // (NORMAL); the table name needs quoting.
  std::unique_ptr<storesync::sqlite_store> make() {
    ++count_;
    return open(storesync::sqlite_synchronous::full);
  }
  std::unique_ptr<storesync::sqlite_store> reopen() { return open(storesync::sqlite_options{}.synchronous); }

  std::unique_ptr<storesync::sqlite_store> open(storesync::sqlite_synchronous sync) {
    auto opened = storesync::sqlite_store::open({.path = dir_ + "/store" + std::to_string(count_) + ".db",
                                                 .table = "odd \"name\"",
                                                 .synchronous = sync,
                                                 .mapping = Mapping::mapping()});
    EXPECT_TRUE(opened) << opened.error().message();
    return std::make_unique<storesync::sqlite_store>(std::move(opened).value());
  }

  std::string dir_;
  int count_ = 0;
};

using sqlite_store_factory = basic_sqlite_store_factory<json_table>;

template <storesync::version_column_type Version>
struct typed_sqlite_store_factory : basic_sqlite_store_factory<tenant_table<Version>>, tenant_table<Version> {};

using typed_factories =
    ::testing::Types<typed_sqlite_store_factory<storesync::version_column_type::bigint>,
                     typed_sqlite_store_factory<storesync::version_column_type::timestamptz>>;

}  // namespace

namespace storesync::testing {
INSTANTIATE_TYPED_TEST_SUITE_P(Sqlite, StoreConformance, ::testing::Types<sqlite_store_factory>);
INSTANTIATE_TYPED_TEST_SUITE_P(Sqlite, PersistentStoreConformance, ::testing::Types<sqlite_store_factory>);
INSTANTIATE_TYPED_TEST_SUITE_P(SqliteTyped, StoreConformance, typed_factories);
INSTANTIATE_TYPED_TEST_SUITE_P(SqliteTyped, PersistentStoreConformance, typed_factories);
}  // namespace storesync::testing
