#pragma once
// Internals of the DuckDB adapters: owning handles for the C API objects, a
// connection with a prepared-statement cache, the mapping of DuckDB error
// types onto storesync errors, helpers that read entries out of data chunks,
// and the pool of connections. Not part of the public API.

#include <duckdb.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "storesync/core/detail/text.hpp"
#include "storesync/core/entry.hpp"
#include "storesync/core/result.hpp"
#include "storesync/store/detail/connection_pool.hpp"
#include "storesync/store/detail/hash_blob.hpp"

namespace storesync::detail {

inline errc duckdb_errc(duckdb_error_type type) noexcept {
  switch (type) {
    case DUCKDB_ERROR_CONSTRAINT:
    case DUCKDB_ERROR_CONVERSION:
    case DUCKDB_ERROR_INVALID_INPUT:
    case DUCKDB_ERROR_OUT_OF_RANGE:
    case DUCKDB_ERROR_MISMATCH_TYPE:
    case DUCKDB_ERROR_DIVIDE_BY_ZERO:
    case DUCKDB_ERROR_DECIMAL:
      return errc::constraint_violation;
    case DUCKDB_ERROR_IO:
    case DUCKDB_ERROR_PERMISSION:
      return errc::storage_failure;
    case DUCKDB_ERROR_OUT_OF_MEMORY:
      return errc::resource_exhausted;
    case DUCKDB_ERROR_TRANSACTION:
      return errc::serialization_failure;  // a write-write conflict: retry
    case DUCKDB_ERROR_INTERRUPT:
      return errc::timeout;
    case DUCKDB_ERROR_CONNECTION:
    case DUCKDB_ERROR_NETWORK:
    case DUCKDB_ERROR_HTTP:
      return errc::connection_lost;
    default:
      return errc::backend_failure;
  }
}

/// The error type a DuckDB message names ("Constraint Error: ..."), for the
/// few calls that report only a message (prepare, open).
inline duckdb_error_type duckdb_type_of_message(std::string_view m) noexcept {
  struct prefix {
    std::string_view text;
    duckdb_error_type type;
  };
  static constexpr prefix prefixes[] = {
      {"Constraint Error", DUCKDB_ERROR_CONSTRAINT},
      {"Conversion Error", DUCKDB_ERROR_CONVERSION},
      {"Invalid Input Error", DUCKDB_ERROR_INVALID_INPUT},
      {"Out of Range Error", DUCKDB_ERROR_OUT_OF_RANGE},
      {"Mismatch Type Error", DUCKDB_ERROR_MISMATCH_TYPE},
      {"IO Error", DUCKDB_ERROR_IO},
      {"Permission Error", DUCKDB_ERROR_PERMISSION},
      {"Out of Memory Error", DUCKDB_ERROR_OUT_OF_MEMORY},
      {"TransactionContext Error", DUCKDB_ERROR_TRANSACTION},
      {"Interrupt Error", DUCKDB_ERROR_INTERRUPT},
      {"Parser Error", DUCKDB_ERROR_PARSER},
      {"Binder Error", DUCKDB_ERROR_BINDER},
      {"Catalog Error", DUCKDB_ERROR_CATALOG},
  };
  for (const prefix& p : prefixes)
    if (m.starts_with(p.text)) return p.type;
  return DUCKDB_ERROR_INVALID;
}

/// Maps a DuckDB error onto storesync's. `where` names the database file.
inline error duckdb_error(duckdb_error_type type, std::string_view message, std::string_view where,
                          std::string_view doing) {
  std::string context = std::string(where) + ": " + std::string(doing);
  if (!message.empty()) context += ": " + std::string(message);
  if (message.find("not a valid DuckDB database file") != std::string_view::npos)
    return error{errc::corrupt, std::move(context)};
  return error{duckdb_errc(type), std::move(context)};
}

/// Binds `text` to parameter `index` of `p`. DuckDB refuses text that is
/// not UTF-8 and then keeps the previous call's value bound (prepared
/// statements are cached): that must fail, never run with a stale value.
inline result<void> duckdb_bind_text(duckdb_prepared_statement p, idx_t index, std::string_view text,
                                     std::string_view what) {
  if (duckdb_bind_varchar_length(p, index, text.data(), text.size()) == DuckDBSuccess) return success();
  return error{errc::invalid_argument, std::string(what) + " " + quoted(text) + " is not valid UTF-8"};
}

/// A materialised or streaming result; destroyed with its scope.
class duckdb_owned_result {
 public:
  duckdb_owned_result() noexcept { std::memset(&r_, 0, sizeof r_); }
  duckdb_owned_result(const duckdb_owned_result&) = delete;
  duckdb_owned_result& operator=(const duckdb_owned_result&) = delete;
  duckdb_owned_result(duckdb_owned_result&& o) noexcept : r_(o.r_), live_(o.live_) {
    o.live_ = false;
  }
  duckdb_owned_result& operator=(duckdb_owned_result&& o) noexcept {
    if (this != &o) {
      reset();
      r_ = o.r_;
      live_ = o.live_;
      o.live_ = false;
    }
    return *this;
  }
  ~duckdb_owned_result() { reset(); }

  duckdb_result* out() noexcept {
    reset();
    live_ = true;
    return &r_;
  }
  duckdb_result* get() noexcept { return &r_; }
  bool live() const noexcept { return live_; }
  void reset() noexcept {
    if (live_) duckdb_destroy_result(&r_);
    live_ = false;
  }

 private:
  duckdb_result r_;
  bool live_ = false;
};

/// A data chunk fetched from a result; destroyed with its scope.
class duckdb_owned_chunk {
 public:
  duckdb_owned_chunk() noexcept = default;
  explicit duckdb_owned_chunk(duckdb_data_chunk c) noexcept : c_(c) {}
  duckdb_owned_chunk(const duckdb_owned_chunk&) = delete;
  duckdb_owned_chunk& operator=(const duckdb_owned_chunk&) = delete;
  duckdb_owned_chunk(duckdb_owned_chunk&& o) noexcept : c_(std::exchange(o.c_, nullptr)) {}
  duckdb_owned_chunk& operator=(duckdb_owned_chunk&& o) noexcept {
    if (this != &o) {
      reset();
      c_ = std::exchange(o.c_, nullptr);
    }
    return *this;
  }
  ~duckdb_owned_chunk() { reset(); }
  void reset() noexcept {
    if (c_) duckdb_destroy_data_chunk(&c_);
    c_ = nullptr;
  }
  duckdb_data_chunk get() const noexcept { return c_; }
  explicit operator bool() const noexcept { return c_ != nullptr; }

 private:
  duckdb_data_chunk c_ = nullptr;
};

/// Typed views of one column of a data chunk.
class duckdb_column {
 public:
  duckdb_column(duckdb_data_chunk chunk, idx_t col) noexcept {
    duckdb_vector v = duckdb_data_chunk_get_vector(chunk, col);
    data_ = duckdb_vector_get_data(v);
    validity_ = duckdb_vector_get_validity(v);
  }
  bool valid(idx_t row) const noexcept {
    return validity_ == nullptr || duckdb_validity_row_is_valid(validity_, row);
  }
  template <class T>
  T get(idx_t row) const noexcept {
    return static_cast<const T*>(data_)[row];
  }
  std::string_view text(idx_t row) const noexcept {
    auto* s = static_cast<duckdb_string_t*>(data_) + row;
    return {duckdb_string_t_data(s), duckdb_string_t_length(*s)};
  }

 private:
  void* data_;
  uint64_t* validity_;
};

/// Appends the rows of a result with columns (key VARCHAR, version BIGINT,
/// hash BLOB, value VARCHAR, tombstone BOOLEAN) to `out`.
inline result<void> duckdb_collect_entries(duckdb_result* r, std::vector<entry>& out,
                                           std::string_view where) {
  for (;;) {
    duckdb_owned_chunk chunk(duckdb_fetch_chunk(*r));
    if (!chunk) break;
    const idx_t n = duckdb_data_chunk_get_size(chunk.get());
    const duckdb_column key(chunk.get(), 0), version(chunk.get(), 1), hash(chunk.get(), 2),
        value(chunk.get(), 3), tombstone(chunk.get(), 4);
    for (idx_t i = 0; i < n; ++i) {
      entry e;
      e.key = std::string(key.text(i));
      e.version = version.get<int64_t>(i);
      const std::string_view h = hash.text(i);
      if (!hash.valid(i) || h.size() != 16)
        return error{errc::corrupt, std::string(where) + ": key " + detail::quoted(e.key) +
                                        ": hash is not 16 bytes"};
      e.hash = hash_from_blob(reinterpret_cast<const unsigned char*>(h.data()));
      e.tombstone = tombstone.get<bool>(i);
      if (!e.tombstone && value.valid(i)) e.value = std::string(value.text(i));
      out.push_back(std::move(e));
    }
  }
  if (const char* err = duckdb_result_error(r); err != nullptr)
    return duckdb_error(duckdb_result_error_type(r), err, where, "reading rows");
  return success();
}

/// One DuckDB connection and its prepared statements. Not thread-safe: each
/// is used by one thread at a time.
class duckdb_session {
 public:
  static result<std::unique_ptr<duckdb_session>> connect(duckdb_database db, std::string where) {
    duckdb_connection c = nullptr;
    if (duckdb_connect(db, &c) == DuckDBError)
      return error{errc::connection_failed, where + ": cannot connect"};
    return std::unique_ptr<duckdb_session>(new duckdb_session(c, std::move(where)));
  }
  duckdb_session(const duckdb_session&) = delete;
  duckdb_session& operator=(const duckdb_session&) = delete;
  ~duckdb_session() {
    for (auto& [sql, p] : cache_) duckdb_destroy_prepare(&p);
    duckdb_disconnect(&c_);
  }

  duckdb_connection get() const noexcept { return c_; }
  const std::string& where() const noexcept { return where_; }

  result<void> exec(const std::string& sql, std::string_view doing) {
    duckdb_owned_result r;
    if (duckdb_query(c_, sql.c_str(), r.out()) == DuckDBError)
      return duckdb_error(duckdb_result_error_type(r.get()), duckdb_result_error(r.get()), where_,
                          doing);
    return success();
  }

  /// A prepared statement for `sql`, compiled once and reused.
  result<duckdb_prepared_statement> prepare(const std::string& sql) {
    if (const auto it = cache_.find(sql); it != cache_.end()) return it->second;
    duckdb_prepared_statement p = nullptr;
    if (duckdb_prepare(c_, sql.c_str(), &p) == DuckDBError) {
      const std::string message = p ? duckdb_prepare_error(p) : "out of memory";
      duckdb_destroy_prepare(&p);
      return duckdb_error(duckdb_type_of_message(message), message, where_, "preparing " + sql);
    }
    cache_.emplace(sql, p);
    return p;
  }

  /// Runs a bound statement; `streaming` fetches chunk by chunk on demand.
  result<void> execute(duckdb_prepared_statement p, duckdb_owned_result& r, std::string_view doing,
                       bool streaming = false) {
    const duckdb_state st = streaming ? duckdb_execute_prepared_streaming(p, r.out())
                                      : duckdb_execute_prepared(p, r.out());
    if (st == DuckDBError)
      return duckdb_error(duckdb_result_error_type(r.get()), duckdb_result_error(r.get()), where_,
                          doing);
    return success();
  }

 private:
  duckdb_session(duckdb_connection c, std::string where) : c_(c), where_(std::move(where)) {}

  duckdb_connection c_;
  std::string where_;
  std::unordered_map<std::string, duckdb_prepared_statement> cache_;
};

/// Connections to one database, leased to one thread at a time.
using duckdb_session_pool = connection_pool<duckdb_session>;

/// Opens connections to `db` for a `duckdb_session_pool`; `where` names the
/// database in messages.
inline duckdb_session_pool::opener duckdb_session_opener(duckdb_database db, std::string where) {
  return [db, where = std::move(where)] { return duckdb_session::connect(db, where); };
}

}  // namespace storesync::detail
