// The store conformance suite on postgres_store, against the real PostgreSQL
// that scripts/test.sh starts (STORESYNC_TEST_PG_URL). Each store gets its
// own uniquely named table (with a space and a quote in the name, to prove
// identifiers are quoted), dropped when the test ends. The suite runs on the
// JSON table and on two typed tables with a composite key (tenant, name):
// one with a bigint version, one with a timestamptz version.
#include "storesync/testing/store_conformance.hpp"
#include "storesync/testing/tenant_table.hpp"

#include <cstdlib>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <pqxx/pqxx>

#include "storesync/store/postgres_store.hpp"
#include "tests/pg_test_env.hpp"

namespace {


// `Mapping::mapping()`: the table mapping, or nothing for the JSON table.
template <class Mapping>
struct basic_postgres_store_factory {
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
    cfg.mapping = Mapping::mapping();
    auto opened = storesync::postgres_store::open(cfg);
    if (!opened) throw std::runtime_error("open: " + opened.error().message());
    return std::make_unique<storesync::postgres_store>(std::move(opened).value());
  }

  ~basic_postgres_store_factory() {
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

struct json_table {
  static std::optional<storesync::table_mapping> mapping() { return std::nullopt; }
};
using postgres_store_factory = basic_postgres_store_factory<json_table>;

using storesync::testing::tenant_table;

template <storesync::version_column_type Version>
struct typed_postgres_store_factory : basic_postgres_store_factory<tenant_table<Version>>, tenant_table<Version> {};

using typed_factories =
    ::testing::Types<typed_postgres_store_factory<storesync::version_column_type::bigint>,
                     typed_postgres_store_factory<storesync::version_column_type::timestamptz>>;

}  // namespace

namespace storesync::testing {
INSTANTIATE_TYPED_TEST_SUITE_P(Postgres, StoreConformance, ::testing::Types<postgres_store_factory>);
INSTANTIATE_TYPED_TEST_SUITE_P(Postgres, PersistentStoreConformance,
                               ::testing::Types<postgres_store_factory>);
INSTANTIATE_TYPED_TEST_SUITE_P(PostgresTyped, StoreConformance, typed_factories);
INSTANTIATE_TYPED_TEST_SUITE_P(PostgresTyped, PersistentStoreConformance, typed_factories);
}  // namespace storesync::testing
