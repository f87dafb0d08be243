#pragma once
// What the PostgreSQL integration tests share: a scratch table dropped at
// scope exit, opening a store that must open, and counting rows.

#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "storesync/store/postgres_store.hpp"
#include "tests/pg_test_env.hpp"

namespace storesync::testing {

/// A table name that is dropped (with its checkpoint table) at scope exit.
struct scratch_table {
  explicit scratch_table(std::string stem, std::string schema_name = "it")
      : schema(std::move(schema_name)), table(unique_pg_name(stem)) {}
  ~scratch_table() {
    try {
      pqxx::connection c(test_pg_url());
      pqxx::nontransaction tx(c);
      tx.exec("DROP TABLE IF EXISTS " + qualified(table) + ", " +
              qualified(detail::pg_derived_name(table, "_checkpoints")));
    } catch (const std::exception& e) {
      ADD_FAILURE() << "dropping " << table << ": " << e.what();
    }
  }
  std::string qualified(const std::string& t) const {
    return detail::pg_quote_ident(schema) + "." + detail::pg_quote_ident(t);
  }
  postgres_config config() const {
    postgres_config cfg;
    cfg.url = test_pg_url();
    cfg.schema = schema;
    cfg.table = table;
    return cfg;
  }
  std::string schema;
  std::string table;
};

inline postgres_store open_ok(const postgres_config& cfg) {
  auto s = postgres_store::open(cfg);
  if (!s) throw std::runtime_error("open: " + s.error().message());
  return std::move(s).value();
}

inline std::int64_t count_rows(const std::string& qualified, const std::string& where = "true") {
  pqxx::connection c(test_pg_url());
  pqxx::nontransaction tx(c);
  return tx.exec("SELECT count(*) FROM " + qualified + " WHERE " + where)[0][0].as<std::int64_t>();
}

}  // namespace storesync::testing
