// The store conformance suite on duckdb_store: an in-memory database per
// store, and a database file per store under $TEST_TMPDIR.
#include "storesync/store/duckdb_store.hpp"

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "storesync/testing/store_conformance.hpp"

namespace {

namespace fs = std::filesystem;

struct duckdb_memory_factory {
  static constexpr bool transactional = true;
  std::unique_ptr<storesync::duckdb_store> make() {
    auto opened = storesync::duckdb_store::open({.table = "entries", .threads = 2});
    EXPECT_TRUE(opened) << opened.error().message();
    return std::make_unique<storesync::duckdb_store>(std::move(opened).value());
  }
};

struct duckdb_file_factory {
  static constexpr bool transactional = true;

  duckdb_file_factory() {
    const char* tmp = std::getenv("TEST_TMPDIR");
    std::string pattern = (tmp ? std::string(tmp) : fs::temp_directory_path().string()) +
                          "/duckdb_conformance_XXXXXX";
    dir_ = ::mkdtemp(pattern.data());
  }
  ~duckdb_file_factory() {
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
                                                 .threads = 2});
    EXPECT_TRUE(opened) << opened.error().message();
    return std::make_unique<storesync::duckdb_store>(std::move(opened).value());
  }

  std::string dir_;
  int count_ = 0;
};

}  // namespace

namespace storesync::testing {
using DuckdbFactories = ::testing::Types<duckdb_memory_factory, duckdb_file_factory>;
INSTANTIATE_TYPED_TEST_SUITE_P(Duckdb, StoreConformance, DuckdbFactories);
INSTANTIATE_TYPED_TEST_SUITE_P(Duckdb, PersistentStoreConformance, ::testing::Types<duckdb_file_factory>);
}  // namespace storesync::testing
