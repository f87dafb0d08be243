#pragma once
// PostgreSQL adapter internals: the SQL text of one store (table DDL, the
// shape check, the staging table and the one-round-trip upsert), built once
// from quoted identifiers, for the JSON table or a typed one.

#include <array>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <pqxx/pqxx>
#include <pqxx/tablewriter>

#include "storesync/store/detail/postgres_errors.hpp"
#include "storesync/store/detail/table_shape.hpp"
#include "storesync/store/table_mapping.hpp"

namespace storesync::detail {

/// The columns of the JSON table, with types as `format_type` spells them.
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

/// One line of COPY's text format, built field by field.
class pg_copy_row {
 public:
  void clear() noexcept {
    line_.clear();
    first_ = true;
  }
  /// A text field, with backslash, tab, newline and carriage return escaped.
  void text(std::string_view t) {
    separate();
    std::size_t from = 0;
    for (std::size_t at = t.find_first_of("\\\t\n\r"); at != std::string_view::npos;
         from = at + 1, at = t.find_first_of("\\\t\n\r", from)) {
      line_.append(t.substr(from, at - from));
      line_ += '\\';
      line_ += t[at] == '\t' ? 't' : t[at] == '\n' ? 'n' : t[at] == '\r' ? 'r' : '\\';
    }
    line_.append(t.substr(from));
  }
  void number(std::int64_t v) {
    separate();
    char buf[24];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    line_.append(buf, r.ptr);
  }
  void boolean(bool b) {
    separate();
    line_ += b ? 't' : 'f';
  }
  void null() {
    separate();
    line_ += "\\N";
  }
  const std::string& str() const noexcept { return line_; }

 private:
  void separate() {
    if (!first_) line_ += '\t';
    first_ = false;
  }
  std::string line_;
  bool first_ = true;
};

/// COPY of text-format lines (built with `pg_copy_row`) into `table`'s
/// `columns` (both quoted). libpqxx 6's `stream_to` writes tuples of a width
/// fixed at compile time; a typed table's width is known at run time, and
/// `tablewriter` (deprecated in 6 in favour of `stream_to`) is its one
/// public way to send a line as it is.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
class pg_copy_in {
 public:
  pg_copy_in(pqxx::transaction_base& tx, const std::string& table, const std::vector<std::string>& columns)
      : writer_(tx, table, columns.begin(), columns.end()) {}
  void write(const pg_copy_row& row) { writer_.write_raw_line(row.str()); }
  void complete() { writer_.complete(); }

 private:
  pqxx::tablewriter writer_;
};
#pragma GCC diagnostic pop

/// A column type as PostgreSQL's `format_type` spells it.
inline std::string_view pg_type_name(column_type t) noexcept {
  switch (t) {
    case column_type::text: return "text";
    case column_type::integer: return "integer";
    case column_type::bigint: return "bigint";
    case column_type::numeric: return "numeric";
    case column_type::double_precision: return "double precision";
    case column_type::boolean: return "boolean";
    case column_type::timestamptz: return "timestamp with time zone";
    case column_type::date: return "date";
    case column_type::jsonb: return "jsonb";
  }
  return "text";
}

/// The columns of one store's table and how its values are written and
/// read: the JSON table, or a typed table (see table_mapping.hpp).
struct pg_layout {
  /// A column: quoted name, type name, and (for value columns) the
  /// expression that selects it in the read form of typed_value.hpp.
  struct column {
    std::string name;
    std::string type;
    std::string read;
  };
  /// The column holding the entry key (text, byte order, unique).
  std::string key = "key";
  /// The key columns written from the decoded key; empty when `key` is the
  /// only one.
  std::vector<column> key_parts;
  std::string version = "version";
  bool version_is_time = false;
  std::string hash_lo = "hash_lo", hash_hi = "hash_hi", row_hash = "row_hash", tombstone = "tombstone";
  std::vector<column> values = {{"value", "json", "value::text"}};
  /// The JSON table's `updated_at`, set by every write.
  bool updated_at = true;

  /// The typed table of `m`.
  static pg_layout typed(const table_mapping& m) {
    pg_layout l;
    l.key = pg_quote_ident(m.key_column_name());
    if (!m.key_is_column())
      for (const key_column& k : m.key)
        l.key_parts.push_back({pg_quote_ident(k.column), std::string(pg_type_name(k.type)), {}});
    l.version = pg_quote_ident(m.version_column);
    l.version_is_time = m.version_type == version_column_type::timestamptz;
    l.hash_lo = pg_quote_ident(m.metadata.hash_lo);
    l.hash_hi = pg_quote_ident(m.metadata.hash_hi);
    l.row_hash = pg_quote_ident(m.metadata.row_hash);
    l.tombstone = pg_quote_ident(m.metadata.deleted);
    l.values.clear();
    auto add = [&](const std::string& name, column_type t) {
      std::string c = pg_quote_ident(name);
      std::string read = t == column_type::text          ? c
                         : t == column_type::timestamptz ? "(extract(epoch from " + c + ") * 1000000)::bigint::text"
                         : t == column_type::date        ? "(" + c + " - date '1970-01-01')::text"
                                                         : c + "::text";
      l.values.push_back({std::move(c), std::string(pg_type_name(t)), std::move(read)});
    };
    for (const field_column& f : m.fields) add(f.column_name(), f.type);
    if (!m.rest_column.empty()) add(m.rest_column, column_type::jsonb);
    l.updated_at = false;
    return l;
  }

  /// The version (bigint) of `column_expr`, a value of the version column.
  std::string version_of(const std::string& column_expr) const {
    return version_is_time ? "(extract(epoch from " + column_expr + ") * 1000000)::bigint" : column_expr;
  }
  /// The version column's value for version `bigint_expr`.
  std::string version_value(const std::string& bigint_expr) const {
    return version_is_time ? "(to_timestamp((" + bigint_expr + ") / 1000000) + ((" + bigint_expr +
                                 ") % 1000000) * interval '1 microsecond')"
                           : bigint_expr;
  }
  /// The columns a row is inserted with, in COPY order: key, key parts,
  /// version, hashes, tombstone, values (updated_at takes its default).
  std::vector<std::string> copy_columns() const {
    std::vector<std::string> out{key};
    for (const std::string* c : {&version, &hash_lo, &hash_hi, &row_hash, &tombstone}) out.push_back(*c);
    for (const column& k : key_parts) out.push_back(k.name);
    for (const column& v : values) out.push_back(v.name);
    return out;
  }
  /// The per-connection staging table (see pg_staging_table).
  std::string staging_ddl() const {
    std::string cols = "ord bigint NOT NULL, key text COLLATE \"C\" NOT NULL, version bigint NOT NULL,"
                       " hash_lo bigint NOT NULL, hash_hi bigint NOT NULL, row_hash bigint NOT NULL,"
                       " tombstone boolean NOT NULL";
    for (std::size_t i = 0; i < key_parts.size(); ++i) cols += ", k" + std::to_string(i) + " " + key_parts[i].type;
    for (std::size_t i = 0; i < values.size(); ++i) cols += ", v" + std::to_string(i) + " " + values[i].type;
    return "DROP TABLE IF EXISTS " + std::string(pg_staging_table) + "; CREATE TEMP TABLE " +
           std::string(pg_staging_table) + " (" + cols +
           ", prev_max bigint NOT NULL, winner boolean NOT NULL) ON COMMIT DELETE ROWS";
  }
  /// The staging table's columns, in COPY order.
  std::vector<std::string> staging_columns() const {
    std::vector<std::string> out{"ord", "key", "version", "hash_lo", "hash_hi", "row_hash", "tombstone"};
    for (std::size_t i = 0; i < key_parts.size(); ++i) out.push_back("k" + std::to_string(i));
    for (std::size_t i = 0; i < values.size(); ++i) out.push_back("v" + std::to_string(i));
    out.insert(out.end(), {"prev_max", "winner"});
    return out;
  }
};

/// Every statement of one store, against `table` and `checkpoints` (both
/// already quoted and schema-qualified), for the columns of `l`.
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
  std::string max_version;
  std::string max_key;
  std::string load_checkpoint;
  std::string save_checkpoint;
  std::string lookup;
  std::string restore;
  std::string remove;
  std::string split_points;
  std::string split_points_to;
  std::string sample;
  std::string sample_to;
  std::string part_checksums;

  pg_statements(const std::string& table, const std::string& index, const std::string& checkpoints,
                const pg_layout& l) {
    auto joined = [](const std::vector<std::string>& parts, std::string_view prefix = {}) {
      std::string out;
      for (const std::string& p : parts) out += (out.empty() ? "" : ", ") + std::string(prefix) + p;
      return out;
    };
    // Staging's key-part and value columns (k0.., v0..), and the table's.
    std::vector<std::string> staged_parts, staged_values, set_values, excluded_values;
    for (std::size_t i = 0; i < l.key_parts.size(); ++i) staged_parts.push_back("k" + std::to_string(i));
    for (std::size_t i = 0; i < l.values.size(); ++i) {
      staged_values.push_back("v" + std::to_string(i));
      set_values.push_back(l.values[i].name + " = cur.v" + std::to_string(i));
      excluded_values.push_back(l.values[i].name + " = excluded." + l.values[i].name);
    }
    const std::string key = l.key;
    const std::string insert_columns = joined(l.copy_columns()) + (l.updated_at ? ", updated_at" : "");
    // The staged row as the table's columns, in `insert_columns` order.
    const std::string staged_row =
        "key, " + l.version_value("version") + ", hash_lo, hash_hi, row_hash, tombstone" +
        (staged_parts.empty() ? "" : ", " + joined(staged_parts)) + ", " + joined(staged_values) +
        (l.updated_at ? ", now()" : "");
    const std::string updated_at = l.updated_at ? ", updated_at = now()" : "";

    if (l.key_parts.empty()) {
      create_table = "CREATE TABLE IF NOT EXISTS " + table + " (" + key + " text COLLATE \"C\" PRIMARY KEY, ";
    } else {
      create_table = "CREATE TABLE IF NOT EXISTS " + table + " (";
      for (const auto& k : l.key_parts) create_table += k.name + " " + k.type + " NOT NULL, ";
      // Its unique index is made by the store (add_metadata_columns), for
      // tables it creates and tables it adopts alike.
      create_table += key + " text COLLATE \"C\" NOT NULL, ";
    }
    create_table += l.version + " " + (l.version_is_time ? "timestamp with time zone" : "bigint") + " NOT NULL,";
    create_table += " " + l.hash_lo + " bigint NOT NULL, " + l.hash_hi + " bigint NOT NULL, " + l.row_hash +
                    " bigint NOT NULL, " + l.tombstone + " boolean NOT NULL";
    for (const auto& v : l.values) create_table += ", " + v.name + " " + v.type;
    if (l.updated_at) create_table += ", updated_at timestamp with time zone NOT NULL DEFAULT now()";
    if (!l.key_parts.empty()) {
      std::vector<std::string> names;
      for (const auto& k : l.key_parts) names.push_back(k.name);
      create_table += ", PRIMARY KEY (" + joined(names) + ")";
    }
    create_table += ")";
    create_index = "CREATE INDEX IF NOT EXISTS " + index + " ON " + table + " (" + l.version + ", " + key + ")";
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
    const std::string set_columns = l.version + " = " + l.version_value("cur.version") + ", " + l.hash_lo +
                                    " = cur.hash_lo, " + l.hash_hi + " = cur.hash_hi, " + l.row_hash +
                                    " = cur.row_hash, " + l.tombstone + " = cur.tombstone, " +
                                    joined(set_values) + updated_at;
    const std::string staging(pg_staging_table);
    upsert =
        "SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off;\n"
        "WITH cur AS MATERIALIZED (\n"
        "  SELECT s.*, " + l.version_of("t." + l.version) + " AS old\n"
        "  FROM " + staging + " s LEFT JOIN " + table + " t ON t." + key + " = s.key\n"
        "  ORDER BY s.key),\n"  // rows are locked in key order: no lock-order deadlocks
        "ins AS (\n"
        "  INSERT INTO " + table + " (" + insert_columns + ")\n"
        "  SELECT " + staged_row + " FROM cur\n"
        "  WHERE winner AND old IS NULL ORDER BY key RETURNING 1),\n"
        "upd AS (\n"
        "  UPDATE " + table + " t SET " + set_columns + "\n"
        "  FROM cur WHERE cur.winner AND cur.version > cur.old AND t." + key + " = cur.key\n"
        "    AND cur.version > " + l.version_of("t." + l.version) + " RETURNING 1)\n"
        "SELECT (SELECT count(*) FROM ins) + (SELECT count(*) FROM upd),\n" + counts +
        "FROM cur";

    // `upsert_on_conflict` (the contended path): the winners go through
    // INSERT ... ON CONFLICT DO UPDATE, whose conflict arm applies the guard
    // against the latest committed row, so racing writers converge; only
    // entries it did not apply are then looked up for counting.
    upsert_on_conflict =
        "SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off;\n"
        "WITH up AS (\n"
        "  INSERT INTO " + table + " AS t (" + insert_columns + ")\n"
        "  SELECT " + staged_row + "\n"
        "  FROM " + staging + " WHERE winner ORDER BY key\n"
        "  ON CONFLICT (" + key + ") DO UPDATE SET " + l.version + " = excluded." + l.version + ", " +
        l.hash_lo + " = excluded." + l.hash_lo + ", " + l.hash_hi + " = excluded." + l.hash_hi + ", " +
        l.row_hash + " = excluded." + l.row_hash + ", " + l.tombstone + " = excluded." + l.tombstone + ", " +
        joined(excluded_values) + (l.updated_at ? ", updated_at = excluded.updated_at" : "") + "\n"
        "  WHERE excluded." + l.version + " > t." + l.version + "\n"
        "  RETURNING t." + key + " AS key),\n"
        "rest AS (\n"
        "  SELECT s.version, s.prev_max, s.winner, " + l.version_of("t." + l.version) + " AS old\n"
        "  FROM " + staging + " s LEFT JOIN " + table + " t ON t." + key + " = s.key\n"
        "  WHERE NOT (s.winner AND s.key IN (SELECT key FROM up)))\n"
        "SELECT (SELECT count(*) FROM up),\n" + counts +
        "FROM rest";

    std::string cols = "SELECT " + key + ", " + l.version_of(l.version) + ", " + l.hash_lo + ", " +
                       l.hash_hi + ", " + l.tombstone;
    for (const auto& v : l.values) cols += ", " + v.read;
    cols += " FROM " + table;
    read = cols + " WHERE " + key + " = $1";
    versions = "SELECT " + key + ", " + l.version_of(l.version) + " FROM " + table + " WHERE " + key +
               " = ANY($1::text[])";
    // The same indexed lookup with the rest of the metadata, for `lookup`.
    lookup = "SELECT " + key + ", " + l.version_of(l.version) + ", " + l.hash_lo + ", " + l.hash_hi + ", " +
             l.tombstone + " FROM " + table + " WHERE " + key + " = ANY($1::text[])";
    // Compare-and-restore in one statement: the row changes only while it is
    // at the expected version ($2), re-checked on the latest row version under
    // READ COMMITTED. The second column (the pre-statement snapshot) names
    // the stored version when it is not. $3.. are the restored row: version,
    // hashes, tombstone, then the values.
    const std::string at_expected = " WHERE " + key + " = $1 AND " + l.version + " = " + l.version_value("$2::bigint");
    const std::string stored_now = "SELECT (SELECT count(*) FROM done), (SELECT " + l.version_of(l.version) +
                                   " FROM " + table + " WHERE " + key + " = $1)";
    restore = "WITH done AS (UPDATE " + table + " SET " + l.version + " = " + l.version_value("$3::bigint") +
              ", " + l.hash_lo + " = $4, " + l.hash_hi + " = $5, " + l.row_hash + " = $6, " + l.tombstone +
              " = $7";
    for (std::size_t i = 0; i < l.values.size(); ++i)
      restore += ", " + l.values[i].name + " = $" + std::to_string(8 + i) + "::" + l.values[i].type;
    restore += updated_at + at_expected + " RETURNING 1) " + stored_now;
    remove = "WITH done AS (DELETE FROM " + table + at_expected + " RETURNING 1) " + stored_now;
    // ntile deals the rows in key order (the key's index) into runs whose
    // sizes differ by at most one, larger first; the first key of each run
    // after the first is a point.
    const std::string runs = "SELECT min(k) FROM (SELECT " + key + " AS k, ntile($2::integer) OVER (ORDER BY " +
                             key + ") AS run FROM " + table + " WHERE " + key + " >= $1";
    const std::string points = ") runs GROUP BY run HAVING run > 1 ORDER BY run";
    split_points = runs + points;
    split_points_to = runs + " AND " + key + " < $3" + points;
    scan = cols + " WHERE " + key + " >= $1 AND " + key + " > $2 ORDER BY " + key + " LIMIT $3";
    scan_to = cols + " WHERE " + key + " >= $1 AND " + key + " > $2 AND " + key + " < $3 ORDER BY " + key +
              " LIMIT $4";
    changes = cols + " WHERE (" + l.version + ", " + key + ") > (" + l.version_value("$1::bigint") +
              ", $2) ORDER BY " + l.version + ", " + key + " LIMIT $3";
    max_version = "SELECT coalesce(" + l.version_of("max(" + l.version + ")") + ", 0) FROM " + table;
    max_key = "SELECT max(" + key + ") FROM " + table;
    // Row hashes are stored as signed bigints; their sum is congruent to the
    // unsigned sum modulo 2^64, so reduce it into [0, 2^64). sum(bigint) adds
    // in 128-bit integers and returns numeric: no numeric per row.
    const std::string sum = "SELECT count(*), (mod(mod(coalesce(sum(" + l.row_hash +
                            "), 0), 18446744073709551616) + 18446744073709551616,"
                            " 18446744073709551616))::text FROM " + table;
    checksum = sum + " WHERE " + key + " >= $1";
    // The checksums of the parts [$1[i], $2[i]), in order, in one statement:
    // one index range per part.
    part_checksums = "SELECT c.* FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS b(lo, hi, i)"
                     " CROSS JOIN LATERAL (" + sum + " WHERE " + key + " >= b.lo AND " + key + " < b.hi) c"
                     " ORDER BY b.i";
    // A sample of the keys after $1 (and before $3): $2 percent of the
    // table's pages, in key order.
    const std::string sampled = "SELECT " + key + " FROM " + table + " TABLESAMPLE SYSTEM ($2::float8) WHERE " +
                                key + " > $1";
    sample = sampled + " ORDER BY " + key;
    sample_to = sampled + " AND " + key + " < $3 ORDER BY " + key;
    checksum_to = sum + " WHERE " + key + " >= $1 AND " + key + " < $2";
    load_checkpoint = "SELECT value FROM " + checkpoints + " WHERE name = $1";
    save_checkpoint = "INSERT INTO " + checkpoints +
                      " (name, value, updated_at) VALUES ($1, $2, now())"
                      " ON CONFLICT (name) DO UPDATE SET value = excluded.value,"
                      " updated_at = excluded.updated_at";
  }
};

/// Lists a relation's columns: name, type as `format_type` prints it,
/// collation name (empty when the type has none) and whether it admits NULL.
/// $1: the quoted name.
inline constexpr std::string_view pg_columns_query =
    "SELECT a.attname, format_type(a.atttypid, a.atttypmod), coalesce(co.collname, ''),"
    " NOT a.attnotnull"
    " FROM pg_attribute a LEFT JOIN pg_collation co ON co.oid = a.attcollation"
    " WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped";

/// Whether $2 alone is a unique key (the primary key, or a unique index
/// without a predicate) of relation $1.
inline constexpr std::string_view pg_unique_key_query =
    "SELECT count(*) FROM pg_index i JOIN pg_attribute a"
    " ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]"
    " WHERE i.indrelid = to_regclass($1) AND i.indisunique AND i.indpred IS NULL"
    " AND i.indnatts = 1 AND a.attname = $2";

}  // namespace storesync::detail
