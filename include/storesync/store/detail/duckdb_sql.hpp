#pragma once
// DuckDB adapter internals: the SQL text of one duckdb_store (table DDL, the
// shape check, reads, the staging table, the classification of a batch and
// the UPDATE + INSERT merge), built once from quoted identifiers, for the
// JSON table or a typed one (see table_mapping.hpp).

#include <array>
#include <string>
#include <string_view>
#include <vector>

#include "storesync/store/detail/sql_text.hpp"
#include "storesync/store/detail/table_shape.hpp"
#include "storesync/store/table_mapping.hpp"

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

/// A column type as `duckdb_columns()` spells it. jsonb is VARCHAR holding
/// the JSON text, and numeric VARCHAR holding the number as written (no
/// DuckDB type keeps one as written).
inline std::string_view duckdb_type_name(column_type t) noexcept {
  switch (t) {
    case column_type::text:
    case column_type::jsonb:
    case column_type::numeric: return "VARCHAR";
    case column_type::integer: return "INTEGER";
    case column_type::bigint: return "BIGINT";
    case column_type::double_precision: return "DOUBLE";
    case column_type::boolean: return "BOOLEAN";
    case column_type::timestamptz: return "TIMESTAMP WITH TIME ZONE";
    case column_type::date: return "DATE";
  }
  return "VARCHAR";
}

/// `text_expr` (VARCHAR holding a cell in the written form of
/// typed_value.hpp) as a value of a column of type `t`.
inline std::string duckdb_cast_cell(const std::string& text_expr, column_type t) {
  if (duckdb_type_name(t) == "VARCHAR") return text_expr;
  return "CAST(" + text_expr + " AS " + std::string(duckdb_type_name(t)) + ")";
}

/// The columns of a typed table (see table_mapping.hpp), quoted.
struct duckdb_typed_layout {
  struct column {
    std::string name;
    column_type type;
  };
  /// The column holding the entry key.
  std::string key;
  /// The key columns, written from the decoded key; empty when `key` is the
  /// only one.
  std::vector<column> key_parts;
  std::string version;
  bool version_is_time = false;
  std::string hash_lo, hash_hi, row_hash, deleted;
  /// The mapped fields', then the rest column's (jsonb).
  std::vector<column> values;

  explicit duckdb_typed_layout(const table_mapping& m)
      : key(sql_identifier(m.key_column_name())),
        version(sql_identifier(m.version_column)),
        version_is_time(m.version_type == version_column_type::timestamptz),
        hash_lo(sql_identifier(m.metadata.hash_lo)),
        hash_hi(sql_identifier(m.metadata.hash_hi)),
        row_hash(sql_identifier(m.metadata.row_hash)),
        deleted(sql_identifier(m.metadata.deleted)) {
    if (!m.key_is_column())
      for (const key_column& k : m.key) key_parts.push_back({sql_identifier(k.column), k.type});
    for (const field_column& f : m.fields) values.push_back({sql_identifier(f.column_name()), f.type});
    if (!m.rest_column.empty()) values.push_back({sql_identifier(m.rest_column), column_type::jsonb});
  }

  /// The version (BIGINT) of `column_expr`, a value of the version column.
  std::string version_of(const std::string& column_expr) const {
    return version_is_time ? "epoch_us(" + column_expr + ")" : column_expr;
  }
  /// The version column's value for version `bigint_expr`.
  std::string version_value(const std::string& bigint_expr) const {
    return version_is_time ? "make_timestamptz(" + bigint_expr + ")" : bigint_expr;
  }
  std::string_view version_type() const noexcept { return version_is_time ? "TIMESTAMPTZ" : "BIGINT"; }
};

/// Every statement of one store, against the tables named `table` and
/// `checkpoints` (unquoted: they are quoted here): the JSON table's, or a
/// typed table's (`l`).
struct duckdb_statements {
  /// A merge statement, split around its `epoch_ms(` timestamp argument. A
  /// typed table stores no time: its statements are all `head`.
  struct merge_sql {
    std::string head, tail;
    std::string with(const std::string& now_ms) const {
      return tail.empty() ? head : head + now_ms + tail;
    }
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
    shared(table, checkpoints, "key");
    create_table = "CREATE TABLE IF NOT EXISTS " + t +
                   " (key VARCHAR NOT NULL, version BIGINT NOT NULL, hash BLOB NOT NULL,"
                   " row_hash BIGINT NOT NULL, value VARCHAR, tombstone BOOLEAN NOT NULL,"
                   " updated_at TIMESTAMP NOT NULL)";

    const std::string cols = "key, version, hash, value, tombstone";
    read = "SELECT " + cols + " FROM " + t + " WHERE key = $1";
    scans("SELECT " + cols + " FROM " + t + " WHERE key ", "key");
    checksum[0] = "SELECT count(*), sum(row_hash::HUGEINT) FROM " + t + " WHERE key >= $1";
    checksum[1] = checksum[0] + " AND key < $2";
    max_version = "SELECT coalesce(max(version), 0)::BIGINT FROM " + t;
    changes = "SELECT key, value, version, tombstone, hash FROM " + t;
    tiers = sql_restore_split_for(t, '$', "epoch_ms($8)");
    // Rows shaped as `read`'s, without their values.
    lookup = "SELECT key, version, hash, NULL::VARCHAR, tombstone FROM " + t +
             " WHERE key IN (SELECT unnest($1::VARCHAR[]))";

    create_stage =
        "CREATE OR REPLACE TEMP TABLE storesync_stage (seq BIGINT, key VARCHAR, version BIGINT,"
        " hash BLOB, row_hash BIGINT, value VARCHAR, tombstone BOOLEAN)";
    classification(t, "t.key", "t.version");
    const std::string insert = "INSERT INTO " + t +
                               " (key, version, hash, row_hash, value, tombstone, updated_at)"
                               " SELECT key, version, hash, row_hash, value, tombstone,"
                               " epoch_ms(";
    for (int dedup = 0; dedup < 2; ++dedup) {
      // The version guard: a stored row changes only for a newer version.
      merge_update[dedup] = {"UPDATE " + t + " AS t SET version = s.version, hash = s.hash,"
                             " row_hash = s.row_hash, value = s.value, tombstone = s.tombstone,"
                             " updated_at = epoch_ms(",
                             ") FROM " + newest(dedup) +
                                 " WHERE t.key = s.key AND s.version > t.version"};
      merge_insert_all[dedup] = {insert, ") FROM " + newest(dedup)};
      merge_insert_new[dedup] = {insert, ") FROM " + newest(dedup) +
                                             " WHERE NOT EXISTS (SELECT 1 FROM " + t +
                                             " t WHERE t.key = s.key)"};
    }
  }

  /// A typed table's statements. Reads select the entry key, the version
  /// (BIGINT), hash_lo, hash_hi, the deleted flag, then the value columns
  /// as they are (the store reads them from the chunk by type). The staging
  /// table holds every cell as VARCHAR (k0.. the key columns, v0.. the value
  /// columns); the merge casts them to the columns' types.
  duckdb_statements(std::string_view table, std::string_view checkpoints, const duckdb_typed_layout& l) {
    const std::string t = sql_identifier(table);
    const std::string& k = l.key;
    shared(table, checkpoints, k);
    create_table = "CREATE TABLE IF NOT EXISTS " + t + " (";
    for (const auto& part : l.key_parts)
      create_table += part.name + " " + std::string(duckdb_type_name(part.type)) + " NOT NULL, ";
    create_table += k + " VARCHAR NOT NULL, " + l.version + " " + std::string(l.version_type()) +
                    " NOT NULL, " + l.hash_lo + " BIGINT NOT NULL, " + l.hash_hi + " BIGINT NOT NULL, " +
                    l.row_hash + " BIGINT NOT NULL, " + l.deleted + " BOOLEAN NOT NULL";
    for (const auto& v : l.values) create_table += ", " + v.name + " " + std::string(duckdb_type_name(v.type));
    create_table += ")";

    const std::string meta = k + ", " + l.version_of(l.version) + ", " + l.hash_lo + ", " + l.hash_hi + ", " +
                             l.deleted;
    std::string cols = "SELECT " + meta;
    for (const auto& v : l.values) cols += ", " + v.name;
    cols += " FROM " + t;
    read = cols + " WHERE " + k + " = $1";
    scans(cols + " WHERE " + k + " ", k);
    checksum[0] = "SELECT count(*), sum(" + l.row_hash + "::HUGEINT) FROM " + t + " WHERE " + k + " >= $1";
    checksum[1] = checksum[0] + " AND " + k + " < $2";
    max_version = "SELECT coalesce(" + l.version_of("max(" + l.version + ")") + ", 0)::BIGINT FROM " + t;
    // The change stream: $1 the watermark's version, $2 its key.
    changes = cols + " WHERE " + l.version_of(l.version) + " > $1 OR (" + l.version_of(l.version) +
              " = $1 AND " + k + " > $2) ORDER BY " + l.version + ", " + k;
    lookup = "SELECT " + meta + " FROM " + t + " WHERE " + k + " IN (SELECT unnest($1::VARCHAR[]))";
    // $1 key, $2 expected version, $3 version, $4 hash_lo, $5 hash_hi,
    // $6 row_hash, $7 deleted, $8.. the value cells (VARCHAR).
    const std::string guard = " WHERE " + k + " = $1 AND " + l.version_of(l.version) + " = $2";
    tiers.restore = "UPDATE " + t + " SET " + l.version + " = " + l.version_value("$3::BIGINT") + ", " +
                    l.hash_lo + " = $4, " + l.hash_hi + " = $5, " + l.row_hash + " = $6, " + l.deleted +
                    " = $7";
    for (std::size_t i = 0; i < l.values.size(); ++i)
      tiers.restore += ", " + l.values[i].name + " = " +
                       duckdb_cast_cell("$" + std::to_string(8 + i) + "::VARCHAR", l.values[i].type);
    tiers.restore += guard;
    tiers.remove = "DELETE FROM " + t + guard;
    const std::string runs = "SELECT min(k) FROM (SELECT " + k + " AS k, ntile($2) OVER (ORDER BY " + k +
                             ") AS run FROM " + t + " WHERE " + k + " >= $1";
    const std::string points = ") GROUP BY run HAVING run > 1 ORDER BY run";
    tiers.split_points[0] = runs + points;
    tiers.split_points[1] = runs + " AND " + k + " < $3" + points;

    create_stage =
        "CREATE OR REPLACE TEMP TABLE storesync_stage (seq BIGINT, key VARCHAR, version BIGINT,"
        " hash_lo BIGINT, hash_hi BIGINT, row_hash BIGINT, tombstone BOOLEAN";
    for (std::size_t i = 0; i < l.key_parts.size(); ++i) create_stage += ", k" + std::to_string(i) + " VARCHAR";
    for (std::size_t i = 0; i < l.values.size(); ++i) create_stage += ", v" + std::to_string(i) + " VARCHAR";
    create_stage += ")";
    classification(t, "t." + k, l.version_of("t." + l.version));
    std::string insert = "INSERT INTO " + t + " (" + k, select = " SELECT key";
    for (std::size_t i = 0; i < l.key_parts.size(); ++i) {
      insert += ", " + l.key_parts[i].name;
      select += ", " + duckdb_cast_cell("k" + std::to_string(i), l.key_parts[i].type);
    }
    insert += ", " + l.version + ", " + l.hash_lo + ", " + l.hash_hi + ", " + l.row_hash + ", " + l.deleted;
    select += ", " + l.version_value("version") + ", hash_lo, hash_hi, row_hash, tombstone";
    std::string set = l.version + " = " + l.version_value("s.version") + ", " + l.hash_lo + " = s.hash_lo, " +
                      l.hash_hi + " = s.hash_hi, " + l.row_hash + " = s.row_hash, " + l.deleted + " = s.tombstone";
    for (std::size_t i = 0; i < l.values.size(); ++i) {
      const std::string v = "v" + std::to_string(i);
      insert += ", " + l.values[i].name;
      select += ", " + duckdb_cast_cell(v, l.values[i].type);
      set += ", " + l.values[i].name + " = " + duckdb_cast_cell("s." + v, l.values[i].type);
    }
    insert += ")" + select + " FROM ";
    for (int dedup = 0; dedup < 2; ++dedup) {
      merge_update[dedup] = {"UPDATE " + t + " AS t SET " + set + " FROM " + newest(dedup) + " WHERE t." + k +
                                 " = s.key AND s.version > " + l.version_of("t." + l.version),
                             {}};
      merge_insert_all[dedup] = {insert + newest(dedup), {}};
      merge_insert_new[dedup] = {insert + newest(dedup) + " WHERE NOT EXISTS (SELECT 1 FROM " + t + " t WHERE t." +
                                     k + " = s.key)",
                                 {}};
    }
  }

 private:
  static constexpr std::string_view stage = "temp.main.storesync_stage";

  // What both layouts write alike: the checkpoint table, the key index (on
  // the quoted column `key`) and dropping the staging table.
  void shared(std::string_view table, std::string_view checkpoints, const std::string& key) {
    const std::string t = sql_identifier(table);
    const std::string cp = sql_identifier(checkpoints);
    create_checkpoints =
        "CREATE TABLE IF NOT EXISTS " + cp +
        " (name VARCHAR PRIMARY KEY, value VARCHAR NOT NULL, updated_at TIMESTAMP NOT NULL)";
    create_key_index = "CREATE INDEX IF NOT EXISTS " +
                       sql_identifier(std::string(table) + "_key") + " ON " + t + " (" + key + ")";
    load_checkpoint = "SELECT value FROM " + cp + " WHERE name = $1";
    save_checkpoint = "INSERT INTO " + cp +
                      " (name, value, updated_at) VALUES ($1, $2, epoch_ms($3))"
                      " ON CONFLICT (name) DO UPDATE SET value = excluded.value,"
                      " updated_at = excluded.updated_at";
    drop_stage = "DROP TABLE IF EXISTS " + std::string(stage);
  }

  // `select` up to "WHERE <key> ", ordered by the quoted `key`.
  void scans(const std::string& select, const std::string& key) {
    const std::string order = " ORDER BY " + key + " LIMIT $2";
    scan[0] = select + ">= $1" + order;
    scan[1] = select + "> $1" + order;
    scan[2] = select + ">= $1 AND " + key + " < $3" + order;
    scan[3] = select + "> $1 AND " + key + " < $3" + order;
  }

  // The classification of a staged batch against table `t`, whose entry key
  // and version (BIGINT) are `t_key` and `t_version` under the alias t.
  void classification(const std::string& t, const std::string& t_key, const std::string& t_version) {
    const std::string st(stage);
    const std::string join = " FROM " + st + " s LEFT JOIN " + t + " t ON " + t_key + " = s.key";
    // One pass: duplicates in the batch, the report if there are none, and
    // which merge statements have work (rows to update, keys to insert,
    // keys already stored).
    classify =
        "SELECT count(*) - count(DISTINCT s.key),"
        " count(*) FILTER (WHERE " + t_version + " IS NULL OR s.version > " + t_version + "),"
        " count(*) FILTER (WHERE s.version = " + t_version + "),"
        " count(*) FILTER (WHERE s.version < " + t_version + "),"
        " count(*) FILTER (WHERE s.version > " + t_version + "),"
        " count(*) FILTER (WHERE " + t_version + " IS NULL), count(" + t_version + ")" + join;
    // With duplicates: each entry meets the newest of the stored version and
    // the versions earlier in the batch, as the version guard applies them.
    classify_ordered =
        "SELECT count(*) FILTER (WHERE version > seen), count(*) FILTER (WHERE version = seen),"
        " count(*) FILTER (WHERE version < seen) FROM (SELECT s.version,"
        " greatest(coalesce(" + t_version + ", 0), coalesce(max(s.version) OVER (PARTITION BY s.key"
        " ORDER BY s.seq ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0)) AS seen" + join + ")";
  }

  // The newest staged entry of each key: the staging table itself, or (with
  // duplicates) its first row per key by version, then batch order.
  static std::string newest(int dedup) {
    const std::string st(stage);
    if (dedup == 0) return st + " s";
    return "(SELECT * FROM " + st +
           " QUALIFY row_number() OVER (PARTITION BY key ORDER BY version DESC, seq) = 1) s";
  }
};

}  // namespace storesync::detail
