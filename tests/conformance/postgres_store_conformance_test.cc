// The store conformance suite on postgres_store, against the real PostgreSQL
// that scripts/test.sh starts (STORESYNC_TEST_PG_URL). Each store gets its
// own uniquely named table (with a space and a quote in the name, to prove
// identifiers are quoted), dropped when the test ends.
#include "storesync/testing/store_conformance.hpp"

#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <pqxx/pqxx>

#include "storesync/store/postgres_store.hpp"
#include "tests/pg_test_env.hpp"

namespace {


struct postgres_store_factory {
  static constexpr bool transactional = true;

  std::unique_ptr<storesync::postgres_store> make() {
    // Quotes, a space and a semicolon: identifiers must be quoted.
    table = storesync::testing::unique_pg_name("conf \"t\"; t");
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
    cfg.url = storesync::testing::test_pg_url();
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
      pqxx::connection c(storesync::testing::test_pg_url());
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
