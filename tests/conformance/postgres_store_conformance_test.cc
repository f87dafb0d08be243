// The store conformance suite on postgres_store, against the real PostgreSQL
// that scripts/test.sh starts (STORESYNC_TEST_PG_URL). Each store gets its
// own uniquely named table (with a space and a quote in the name, to prove
// identifiers are quoted), dropped when the test ends.
#include "storesync/testing/store_conformance.hpp"

#include <atomic>
#include <cstdlib>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include <pqxx/pqxx>

#include "storesync/store/postgres_store.hpp"

namespace {

std::string test_url() {
  const char* url = std::getenv("STORESYNC_TEST_PG_URL");
  // A PostgreSQL test never passes by skipping: no server is a failure.
  if (url == nullptr || *url == '\0')
    throw std::runtime_error("STORESYNC_TEST_PG_URL is not set; run scripts/test.sh");
  return url;
}

struct postgres_store_factory {
  static constexpr bool transactional = true;

  std::unique_ptr<storesync::postgres_store> make() {
    static std::atomic<int> counter{0};
    // Not the pid: Bazel's sandbox gives every test process the same one.
    static const auto process = std::random_device{}();
    table = "conf \"" + std::to_string(process) + "\"; t" + std::to_string(counter++);
    auto opened = open();
    made.push_back(opened->qualified_table());
    made.push_back(storesync::detail::pg_quote_ident(opened->config().schema) + "." +
                   storesync::detail::pg_quote_ident(opened->config().checkpoint_table));
    return opened;
  }

  // The last store's table again.
  std::unique_ptr<storesync::postgres_store> reopen() { return open(); }

  std::unique_ptr<storesync::postgres_store> open() {
    storesync::postgres_config cfg;
    cfg.url = test_url();
    cfg.schema = "conformance";
    cfg.table = table;
    cfg.pool_size = 2;
    auto opened = storesync::postgres_store::open(cfg);
    if (!opened) throw std::runtime_error("open: " + opened.error().message());
    return std::make_unique<storesync::postgres_store>(std::move(opened).value());
  }

  ~postgres_store_factory() {
    if (made.empty()) return;
    try {
      pqxx::connection c(test_url());
      pqxx::nontransaction tx(c);
      for (const auto& t : made) tx.exec("DROP TABLE IF EXISTS " + t);
    } catch (const std::exception& e) {
      ADD_FAILURE() << "dropping test tables: " << e.what();
    }
  }

  std::string table;
  std::vector<std::string> made;
};

}  // namespace

namespace storesync::testing {
INSTANTIATE_TYPED_TEST_SUITE_P(Postgres, StoreConformance, ::testing::Types<postgres_store_factory>);
INSTANTIATE_TYPED_TEST_SUITE_P(Postgres, PersistentStoreConformance,
                               ::testing::Types<postgres_store_factory>);
}  // namespace storesync::testing
