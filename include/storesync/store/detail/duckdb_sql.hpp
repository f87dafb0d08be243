#pragma once
// DuckDB adapter internals: the SQL text of one duckdb_store (table DDL, the
// shape check, reads, the staging table, the classification of a batch and
// the UPDATE + INSERT merge), built once from quoted identifiers.

#include <array>
#include <string>
#include <string_view>

#include "storesync/store/detail/sql_text.hpp"
#include "storesync/store/detail/table_shape.hpp"

namespace storesync::detail {

/// The columns storesync needs, with types as `duckdb_columns()` spells them.
inline constexpr std::array<wanted_column, 7> duckdb_entry_columns{{
    {"key", "VARCHAR"},
    {"version", "BIGINT"},
    {"hash", "BLOB"},
    {"row_hash", "BIGINT"},
    {"value", "VARCHAR"},
    {"tombstone", "BOOLEAN"},
    {"updated_at", "TIMESTAMP"},
}};

inline constexpr std::array<wanted_column, 3> duckdb_checkpoint_columns{{
    {"name", "VARCHAR"},
    {"value", "VARCHAR"},
    {"updated_at", "TIMESTAMP"},
}};

/// Lists the columns of `table` in the current schema: name, type and
/// whether it admits NULL.
inline std::string duckdb_columns_query(std::string_view table) {
  return "SELECT column_name, data_type, is_nullable FROM duckdb_columns() WHERE database_name ="
         " current_database() AND schema_name = current_schema() AND table_name = " +
         sql_literal(table);
}

/// Counts the primary keys of `table` that are `column` alone (1 or 0).
inline std::string duckdb_primary_key_query(std::string_view table, std::string_view column) {
  return "SELECT count(*) FROM duckdb_constraints() WHERE database_name = current_database()"
         " AND schema_name = current_schema() AND table_name = " +
         sql_literal(table) +
         " AND constraint_type = 'PRIMARY KEY' AND constraint_column_names = [" +
         sql_literal(column) + "]";
}

/// Every statement of one store, against the tables named `table` and
/// `checkpoints` (unquoted: they are quoted here).
struct duckdb_statements {
  /// A merge statement, split around its `epoch_ms(` timestamp argument.
  struct merge_sql {
    std::string head, tail;
    std::string with(const std::string& now_ms) const { return head + now_ms + tail; }
  };

  std::string create_table, create_checkpoints, create_key_index;
  std::string read, load_checkpoint, save_checkpoint, max_version;
  /// `lookup`: the metadata of a list of keys.
  std::string lookup;
  /// `restore` and `split_points`, written as SQLite's.
  sql_restore_split tiers;
  /// By [after is strict (1) or not (0)] + [bounded above (2) or not (0)].
  std::string scan[4];
  /// By [bounded above (1) or not (0)].
  std::string checksum[2];
  /// What the store's change source reads.
  std::string changes;
  std::string create_stage, drop_stage, classify, classify_ordered;
  /// By [the batch holds a key twice (1) or not (0)].
  merge_sql merge_update[2], merge_insert_all[2], merge_insert_new[2];

  duckdb_statements(std::string_view table, std::string_view checkpoints) {
    const std::string t = sql_identifier(table);
    const std::string cp = sql_identifier(checkpoints);
    create_table = "CREATE TABLE IF NOT EXISTS " + t +
                   " (key VARCHAR NOT NULL, version BIGINT NOT NULL, hash BLOB NOT NULL,"
                   " row_hash BIGINT NOT NULL, value VARCHAR, tombstone BOOLEAN NOT NULL,"
                   " updated_at TIMESTAMP NOT NULL)";
    create_checkpoints =
        "CREATE TABLE IF NOT EXISTS " + cp +
        " (name VARCHAR PRIMARY KEY, value VARCHAR NOT NULL, updated_at TIMESTAMP NOT NULL)";
    create_key_index = "CREATE INDEX IF NOT EXISTS " +
                       sql_identifier(std::string(table) + "_key") + " ON " + t + " (key)";

    const std::string cols = "key, version, hash, value, tombstone";
    read = "SELECT " + cols + " FROM " + t + " WHERE key = $1";
    const std::string scan_from = "SELECT " + cols + " FROM " + t + " WHERE key ";
    scan[0] = scan_from + ">= $1 ORDER BY key LIMIT $2";
    scan[1] = scan_from + "> $1 ORDER BY key LIMIT $2";
    scan[2] = scan_from + ">= $1 AND key < $3 ORDER BY key LIMIT $2";
    scan[3] = scan_from + "> $1 AND key < $3 ORDER BY key LIMIT $2";
    checksum[0] = "SELECT count(*), sum(row_hash::HUGEINT) FROM " + t + " WHERE key >= $1";
    checksum[1] = checksum[0] + " AND key < $2";
    max_version = "SELECT coalesce(max(version), 0)::BIGINT FROM " + t;
    changes = "SELECT key, value, version, tombstone, hash FROM " + t;
    load_checkpoint = "SELECT value FROM " + cp + " WHERE name = $1";
    save_checkpoint = "INSERT INTO " + cp +
                      " (name, value, updated_at) VALUES ($1, $2, epoch_ms($3))"
                      " ON CONFLICT (name) DO UPDATE SET value = excluded.value,"
                      " updated_at = excluded.updated_at";
    tiers = sql_restore_split_for(t, '$', "epoch_ms($8)");
    // Rows shaped as `read`'s, without their values.
    lookup = "SELECT key, version, hash, NULL::VARCHAR, tombstone FROM " + t +
             " WHERE key IN (SELECT unnest($1::VARCHAR[]))";

    const std::string stage = "temp.main.storesync_stage";
    create_stage =
        "CREATE OR REPLACE TEMP TABLE storesync_stage (seq BIGINT, key VARCHAR, version BIGINT,"
        " hash BLOB, row_hash BIGINT, value VARCHAR, tombstone BOOLEAN)";
    drop_stage = "DROP TABLE IF EXISTS " + stage;
    // One pass: duplicates in the batch, the report if there are none, and
    // which merge statements have work (rows to update, keys to insert,
    // keys already stored).
    classify =
        "SELECT count(*) - count(DISTINCT s.key),"
        " count(*) FILTER (WHERE t.version IS NULL OR s.version > t.version),"
        " count(*) FILTER (WHERE s.version = t.version),"
        " count(*) FILTER (WHERE s.version < t.version),"
        " count(*) FILTER (WHERE s.version > t.version),"
        " count(*) FILTER (WHERE t.version IS NULL), count(t.version)"
        " FROM " + stage + " s LEFT JOIN " + t + " t ON t.key = s.key";
    // With duplicates: each entry meets the newest of the stored version and
    // the versions earlier in the batch, as the version guard applies them.
    classify_ordered =
        "SELECT count(*) FILTER (WHERE version > seen), count(*) FILTER (WHERE version = seen),"
        " count(*) FILTER (WHERE version < seen) FROM (SELECT s.version,"
        " greatest(coalesce(t.version, 0), coalesce(max(s.version) OVER (PARTITION BY s.key"
        " ORDER BY s.seq ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0)) AS seen"
        " FROM " + stage + " s LEFT JOIN " + t + " t ON t.key = s.key)";
    // The merge reads the newest staged entry of each key: the staging table
    // itself, or (with duplicates) its first row per key by version, then
    // batch order.
    const std::string newest[2] = {
        stage + " s",
        "(SELECT * FROM " + stage +
            " QUALIFY row_number() OVER (PARTITION BY key ORDER BY version DESC, seq) = 1) s"};
    const std::string insert = "INSERT INTO " + t +
                               " (key, version, hash, row_hash, value, tombstone, updated_at)"
                               " SELECT key, version, hash, row_hash, value, tombstone,"
                               " epoch_ms(";
    for (int dedup = 0; dedup < 2; ++dedup) {
      // The version guard: a stored row changes only for a newer version.
      merge_update[dedup] = {"UPDATE " + t + " AS t SET version = s.version, hash = s.hash,"
                             " row_hash = s.row_hash, value = s.value, tombstone = s.tombstone,"
                             " updated_at = epoch_ms(",
                             ") FROM " + newest[dedup] +
                                 " WHERE t.key = s.key AND s.version > t.version"};
      merge_insert_all[dedup] = {insert, ") FROM " + newest[dedup]};
      merge_insert_new[dedup] = {insert, ") FROM " + newest[dedup] +
                                             " WHERE NOT EXISTS (SELECT 1 FROM " + t +
                                             " t WHERE t.key = s.key)"};
    }
  }
};

}  // namespace storesync::detail
