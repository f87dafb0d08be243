// The store conformance suite on sqlite_store: one fresh database file per
// store, under $TEST_TMPDIR.
#include "storesync/store/sqlite_store.hpp"

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "storesync/testing/store_conformance.hpp"

namespace {

namespace fs = std::filesystem;

struct sqlite_store_factory {
  static constexpr bool transactional = true;

  sqlite_store_factory() {
    const char* tmp = std::getenv("TEST_TMPDIR");
    std::string pattern = (tmp ? std::string(tmp) : fs::temp_directory_path().string()) +
                          "/sqlite_conformance_XXXXXX";
    dir_ = ::mkdtemp(pattern.data());
  }
  ~sqlite_store_factory() {
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
                                                 .synchronous = sync});
    EXPECT_TRUE(opened) << opened.error().message();
    return std::make_unique<storesync::sqlite_store>(std::move(opened).value());
  }

  std::string dir_;
  int count_ = 0;
};

}  // namespace

namespace storesync::testing {
INSTANTIATE_TYPED_TEST_SUITE_P(Sqlite, StoreConformance, ::testing::Types<sqlite_store_factory>);
INSTANTIATE_TYPED_TEST_SUITE_P(Sqlite, PersistentStoreConformance, ::testing::Types<sqlite_store_factory>);
}  // namespace storesync::testing
