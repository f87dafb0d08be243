// Runs SQL on a DuckDB file, for the bench scripts (there is no DuckDB shell
// here: DuckDB comes as a library).
//   duckdb_exec FILE "CREATE TABLE t AS ...; COPY t TO 'x.csv'"
#include <duckdb.h>

#include <cstdio>

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: duckdb_exec FILE SQL\n");
    return 2;
  }
  duckdb_database db = nullptr;
  duckdb_connection c = nullptr;
  if (duckdb_open(argv[1], &db) != DuckDBSuccess || duckdb_connect(db, &c) != DuckDBSuccess) {
    std::fprintf(stderr, "duckdb_exec: cannot open %s\n", argv[1]);
    return 1;
  }
  duckdb_result r;
  const bool ok = duckdb_query(c, argv[2], &r) == DuckDBSuccess;
  if (!ok) std::fprintf(stderr, "duckdb_exec: %s\n", duckdb_result_error(&r));
  duckdb_destroy_result(&r);
  duckdb_disconnect(&c);
  duckdb_close(&db);
  return ok ? 0 : 1;
}
