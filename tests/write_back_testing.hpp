#pragma once
// What the write-back tests share: SQL run on a DuckDB file that is closed
// again (the code under test opens it itself), and PostgreSQL tables of one
// test, counted and dropped at the end.

#include <duckdb.h>

#include <cstdint>
#include <cstdlib>
#include <string>

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "storesync/store/duckdb_instance.hpp"
#include "tests/pg_test_env.hpp"

namespace storesync::testing {

/// The test's scratch directory.
inline std::string temp_dir() {
  const char* t = std::getenv("TEST_TMPDIR");
  return t ? t : "/tmp";
}

/// Runs `sql` (one or more statements) on the DuckDB file at `path`.
inline void duck(const std::string& path, const std::string& sql) {
  auto db = duckdb_instance::open({.path = path});
  ASSERT_TRUE(db) << db.error().message();
  duckdb_connection c = nullptr;
  ASSERT_EQ(duckdb_connect(db.value()->native(), &c), DuckDBSuccess);
  duckdb_result r;
  const bool ok = duckdb_query(c, sql.c_str(), &r) == DuckDBSuccess;
  const std::string why = ok ? "" : duckdb_result_error(&r);
  duckdb_destroy_result(&r);
  duckdb_disconnect(&c);
  ASSERT_TRUE(ok) << sql << ": " << why;
}

/// The first column of the first row of `sql`, run on the test server.
inline std::string pg_value(const std::string& sql) {
  pqxx::connection c(test_pg_url());
  pqxx::nontransaction tx(c);
  const auto r = tx.exec(sql);
  return r.empty() || r[0][0].is_null() ? std::string() : r[0][0].c_str();
}

inline std::int64_t pg_count(const std::string& sql) { return std::stoll(pg_value(sql)); }

/// Tables of one test in PostgreSQL's public schema, all named with one
/// unique prefix, dropped at scope exit.
struct pg_tables {
  std::string prefix = unique_pg_name("wb");
  std::string name(const std::string& stem) const { return prefix + "_" + stem; }
  ~pg_tables() {
    try {
      pqxx::connection c(test_pg_url());
      pqxx::nontransaction tx(c);
      for (const auto& row : tx.exec("SELECT schemaname, tablename FROM pg_tables WHERE tablename LIKE '" + prefix + "%'"))
        tx.exec("DROP TABLE IF EXISTS " + tx.quote_name(row[0].c_str()) + "." + tx.quote_name(row[1].c_str()));
    } catch (const std::exception& e) {
      ADD_FAILURE() << "dropping " << prefix << "*: " << e.what();
    }
  }
};

}  // namespace storesync::testing
