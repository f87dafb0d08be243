#pragma once
// PostgreSQL adapter internals: the SQL text of one store (table DDL, the
// shape check, the staging table and the one-round-trip upsert), built once
// from quoted identifiers.

#include <array>
#include <string>
#include <string_view>

#include "storesync/store/detail/postgres_errors.hpp"
#include "storesync/store/detail/table_shape.hpp"

namespace storesync::detail {

/// The columns storesync needs, with types as `format_type` spells them.
inline constexpr std::array<wanted_column, 8> pg_entry_columns{{
    {"key", "text"},
    {"version", "bigint"},
    {"hash_lo", "bigint"},
    {"hash_hi", "bigint"},
    {"row_hash", "bigint"},
    {"tombstone", "boolean"},
    // json keeps the text exactly as written; a jsonb column normalises it
    // and is written the same way.
    {"value", "json", "jsonb"},
    {"updated_at", "timestamp with time zone"},
}};

inline constexpr std::array<wanted_column, 3> pg_checkpoint_columns{{
    {"name", "text"},
    {"value", "text"},
    {"updated_at", "timestamp with time zone"},
}};

/// The per-connection staging table a batch is COPYed into. Temporary (no
/// WAL, private to the session) and emptied by every commit.
inline constexpr std::string_view pg_staging_table = "storesync_staging";

inline constexpr std::array<const char*, 10> pg_staging_columns{
    "ord", "key", "version", "hash_lo", "hash_hi", "row_hash", "tombstone", "value", "prev_max",
    "winner"};

/// The columns a batch of new keys is COPYed into directly (updated_at
/// takes its default).
inline constexpr std::array<const char*, 7> pg_table_copy_columns{
    "key", "version", "hash_lo", "hash_hi", "row_hash", "tombstone", "value"};

inline std::string pg_staging_ddl() {
  return "CREATE TEMP TABLE IF NOT EXISTS " + std::string(pg_staging_table) +
         " (ord bigint NOT NULL, key text COLLATE \"C\" NOT NULL, version bigint NOT NULL,"
         " hash_lo bigint NOT NULL, hash_hi bigint NOT NULL, row_hash bigint NOT NULL,"
         " tombstone boolean NOT NULL, value json, prev_max bigint NOT NULL,"
         " winner boolean NOT NULL) ON COMMIT DELETE ROWS";
}

/// Every statement of one store, against `table` and `checkpoints` (both
/// already quoted and schema-qualified).
struct pg_statements {
  std::string create_table;
  std::string create_index;
  std::string create_checkpoints;
  std::string upsert;
  std::string upsert_on_conflict;
  std::string read;
  std::string versions;
  std::string scan;
  std::string scan_to;
  std::string changes;
  std::string checksum;
  std::string checksum_to;
  std::string load_checkpoint;
  std::string save_checkpoint;
  std::string lookup;
  std::string restore;
  std::string remove;
  std::string split_points;
  std::string split_points_to;

  pg_statements(const std::string& table, const std::string& index,
                const std::string& checkpoints) {
    create_table = "CREATE TABLE IF NOT EXISTS " + table +
                   " (key text COLLATE \"C\" PRIMARY KEY, version bigint NOT NULL,"
                   " hash_lo bigint NOT NULL, hash_hi bigint NOT NULL, row_hash bigint NOT NULL,"
                   " tombstone boolean NOT NULL, value json,"
                   " updated_at timestamp with time zone NOT NULL DEFAULT now())";
    create_index = "CREATE INDEX IF NOT EXISTS " + index + " ON " + table + " (version, key)";
    create_checkpoints = "CREATE TABLE IF NOT EXISTS " + checkpoints +
                         " (name text PRIMARY KEY, value text NOT NULL,"
                         " updated_at timestamp with time zone NOT NULL DEFAULT now())";

    // Both statements apply a staged batch in one round trip and count every
    // entry's guard outcome exactly as memory_store would: an entry is
    // compared with max(stored version before the batch, earlier versions of
    // its key in the batch) -- `prev_max`, computed client-side with the
    // per-key `winner` (the first entry of the highest version). Every
    // sub-statement sees the pre-batch snapshot, so `old` is the version
    // stored before this batch.
    //
    // `upsert` (the fast path): one index probe per entry finds the stored
    // version; winners for new keys are plain INSERTs (no speculative
    // insertion), winners newer than the stored row are UPDATEs whose
    // `cur.version > t.version` is re-checked on the latest row version under
    // READ COMMITTED, and entries with nothing to apply write nothing and
    // lock nothing. If another transaction inserts one of the new keys first,
    // the INSERT fails with unique_violation and the caller re-runs the batch
    // with `upsert_on_conflict`.
    // Hash and merge joins are off for this transaction: for the lookups the
    // planner might otherwise pick a scan of the whole table per batch.
    const std::string counts =
        "  count(*) FILTER (WHERE winner AND old = version),\n"
        "  count(*) FILTER (WHERE NOT winner AND version > greatest(old, prev_max)),\n"
        "  count(*) FILTER (WHERE NOT winner AND version = greatest(old, prev_max))\n";
    const std::string set_columns =
        "version = cur.version, hash_lo = cur.hash_lo, hash_hi = cur.hash_hi,"
        " row_hash = cur.row_hash, tombstone = cur.tombstone, value = cur.value,"
        " updated_at = now()";
    const std::string staging(pg_staging_table);
    upsert =
        "SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off;\n"
        "WITH cur AS MATERIALIZED (\n"
        "  SELECT s.key, s.version, s.hash_lo, s.hash_hi, s.row_hash, s.tombstone, s.value,\n"
        "         s.prev_max, s.winner, t.version AS old\n"
        "  FROM " + staging + " s LEFT JOIN " + table + " t ON t.key = s.key\n"
        "  ORDER BY s.key),\n"  // rows are locked in key order: no lock-order deadlocks
        "ins AS (\n"
        "  INSERT INTO " + table +
        " (key, version, hash_lo, hash_hi, row_hash, tombstone, value, updated_at)\n"
        "  SELECT key, version, hash_lo, hash_hi, row_hash, tombstone, value, now() FROM cur\n"
        "  WHERE winner AND old IS NULL ORDER BY key RETURNING 1),\n"
        "upd AS (\n"
        "  UPDATE " + table + " t SET " + set_columns + "\n"
        "  FROM cur WHERE cur.winner AND cur.version > cur.old AND t.key = cur.key\n"
        "    AND cur.version > t.version RETURNING 1)\n"
        "SELECT (SELECT count(*) FROM ins) + (SELECT count(*) FROM upd),\n" + counts +
        "FROM cur";

    // `upsert_on_conflict` (the contended path): the winners go through
    // INSERT ... ON CONFLICT DO UPDATE, whose conflict arm applies the guard
    // against the latest committed row, so racing writers converge; only
    // entries it did not apply are then looked up for counting.
    upsert_on_conflict =
        "SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off;\n"
        "WITH up AS (\n"
        "  INSERT INTO " + table +
        " AS t (key, version, hash_lo, hash_hi, row_hash, tombstone, value, updated_at)\n"
        "  SELECT key, version, hash_lo, hash_hi, row_hash, tombstone, value, now()\n"
        "  FROM " + staging + " WHERE winner ORDER BY key\n"
        "  ON CONFLICT (key) DO UPDATE SET version = excluded.version, hash_lo = excluded.hash_lo,\n"
        "    hash_hi = excluded.hash_hi, row_hash = excluded.row_hash,\n"
        "    tombstone = excluded.tombstone, value = excluded.value,\n"
        "    updated_at = excluded.updated_at\n"
        "  WHERE excluded.version > t.version\n"
        "  RETURNING key),\n"
        "rest AS (\n"
        "  SELECT s.version, s.prev_max, s.winner, t.version AS old\n"
        "  FROM " + staging + " s LEFT JOIN " + table + " t ON t.key = s.key\n"
        "  WHERE NOT (s.winner AND s.key IN (SELECT key FROM up)))\n"
        "SELECT (SELECT count(*) FROM up),\n" + counts +
        "FROM rest";

    const std::string cols =
        "SELECT key, version, hash_lo, hash_hi, tombstone, value::text FROM " + table;
    read = cols + " WHERE key = $1";
    versions = "SELECT key, version FROM " + table + " WHERE key = ANY($1::text[])";
    // The same indexed lookup with the rest of the metadata, for `lookup`.
    lookup = "SELECT key, version, hash_lo, hash_hi, tombstone FROM " + table +
             " WHERE key = ANY($1::text[])";
    // Compare-and-restore in one statement: the row changes only while it is
    // at the expected version ($2), re-checked on the latest row version under
    // READ COMMITTED. The second column (the pre-statement snapshot) names
    // the stored version when it is not.
    const std::string stored_now = "SELECT (SELECT count(*) FROM done), (SELECT version FROM " +
                                   table + " WHERE key = $1)";
    restore = "WITH done AS (UPDATE " + table +
              " SET version = $3, hash_lo = $4, hash_hi = $5, row_hash = $6, tombstone = $7,"
              " value = $8, updated_at = now() WHERE key = $1 AND version = $2 RETURNING 1) " +
              stored_now;
    remove = "WITH done AS (DELETE FROM " + table +
             " WHERE key = $1 AND version = $2 RETURNING 1) " + stored_now;
    // ntile deals the rows in key order (the primary key) into runs whose
    // sizes differ by at most one, larger first; the first key of each run
    // after the first is a point.
    const std::string runs = "SELECT min(key) FROM (SELECT key, ntile($2::integer) OVER (ORDER BY key)"
                             " AS run FROM " + table + " WHERE key >= $1";
    const std::string points = ") runs GROUP BY run HAVING run > 1 ORDER BY run";
    split_points = runs + points;
    split_points_to = runs + " AND key < $3" + points;
    scan = cols + " WHERE key >= $1 AND key > $2 ORDER BY key LIMIT $3";
    scan_to = cols + " WHERE key >= $1 AND key > $2 AND key < $3 ORDER BY key LIMIT $4";
    changes = cols + " WHERE (version, key) > ($1, $2) ORDER BY version, key LIMIT $3";
    // Row hashes are stored as signed bigints; their sum is congruent to the
    // unsigned sum modulo 2^64, so reduce it into [0, 2^64).
    const std::string sum =
        "SELECT count(*), (mod(mod(coalesce(sum(row_hash::numeric), 0), 18446744073709551616)"
        " + 18446744073709551616, 18446744073709551616))::text FROM " + table;
    checksum = sum + " WHERE key >= $1";
    checksum_to = sum + " WHERE key >= $1 AND key < $2";
    load_checkpoint = "SELECT value FROM " + checkpoints + " WHERE name = $1";
    save_checkpoint = "INSERT INTO " + checkpoints +
                      " (name, value, updated_at) VALUES ($1, $2, now())"
                      " ON CONFLICT (name) DO UPDATE SET value = excluded.value,"
                      " updated_at = excluded.updated_at";
  }
};

/// Lists a relation's columns: name, type as `format_type` prints it, and
/// collation name (empty when the type has none). $1: the quoted name.
inline constexpr std::string_view pg_columns_query =
    "SELECT a.attname, format_type(a.atttypid, a.atttypmod), coalesce(co.collname, '')"
    " FROM pg_attribute a LEFT JOIN pg_collation co ON co.oid = a.attcollation"
    " WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped";

/// Whether $2 is (alone) the primary key of relation $1.
inline constexpr std::string_view pg_primary_key_query =
    "SELECT count(*) FROM pg_index i JOIN pg_attribute a"
    " ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]"
    " WHERE i.indrelid = to_regclass($1) AND i.indisprimary AND i.indnatts = 1 AND a.attname = $2";

}  // namespace storesync::detail
