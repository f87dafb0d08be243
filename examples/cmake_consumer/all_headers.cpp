// Every public header a host can include, under the consumer's -Wall -Wextra
// -Wpedantic -Werror, linked with every adapter target this build has (so
// their libraries must resolve and load). CMakeLists.txt defines the macros.
#include <storesync/storesync.hpp>

#include <storesync/journal/journal_options_json.hpp>
#include <storesync/metrics/registry_json.hpp>
#include <storesync/policy/config.hpp>
#include <storesync/store/sqlite_store.hpp>
#include <storesync/store/table_mapping_json.hpp>

#if STORESYNC_CONSUMER_HAS_POSTGRES
#include <storesync/store/postgres_store.hpp>
#endif
#if STORESYNC_CONSUMER_HAS_REDIS
#include <storesync/store/redis_store.hpp>
#endif
#if STORESYNC_CONSUMER_HAS_DUCKDB
#include <storesync/store/duckdb_instance.hpp>
#include <storesync/store/duckdb_query_source.hpp>
#include <storesync/store/duckdb_store.hpp>
#endif

int main() { return 0; }
