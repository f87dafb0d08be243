#pragma once
/// \file
/// storesync's errors: one code enum, one condition enum, and the `error` value
/// that every fallible call returns inside `result<T>`.
///
/// Callers branch on *conditions*, never on adapter details:
/// \code
///   auto r = store.write(batch);
///   if (!r && r.error() == storesync::condition::transient) { /* retry */ }
///   if (!r) log(r.error().message());   // "invalid key: key \"a\\x0ab\": control character at byte 1"
/// \endcode
/// Adapters map their native errors (SQLSTATE, SQLite result codes, DuckDB
/// states, errno) onto `errc`; each `errc` belongs to exactly one condition.
/// System errors (`std::system_category`, `std::generic_category`) are mapped
/// onto conditions too, so a journal's `ENOSPC` compares equal to `unavailable`.

#include <cerrno>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>

namespace storesync {

/// The error codes storesync and its adapters report.
enum class errc {
  // --- invalid_input: the request is wrong; retrying cannot help -----------
  /// A key is empty, too long, has control characters or is not UTF-8.
  invalid_key = 1,
  /// A value is not valid JSON, or a tombstone carries a value.
  invalid_value,
  /// A version is not positive, or exceeds the range a store can hold.
  invalid_version,
  /// A value violates a constraint of the backend (bad data, SQLSTATE 22/23).
  constraint_violation,
  /// A configuration value or argument is out of range.
  invalid_argument,

  // --- transient: the same call may succeed if repeated ---------------------
  /// The backend aborted the transaction to keep it serializable (40001).
  serialization_failure,
  /// The backend broke a deadlock by aborting this transaction (40P01).
  deadlock,
  /// The backend is busy or a lock is held (SQLite BUSY/LOCKED).
  busy,
  /// The call exceeded its time limit.
  timeout,
  /// A fault injected by `faulty_store` that a retry may clear.
  injected_transient,

  // --- unavailable: the backend cannot be reached right now -----------------
  /// No connection could be established.
  connection_failed,
  /// The connection broke during the call (class 08, 57P01).
  connection_lost,
  /// Reading or writing storage failed (I/O error, disk full).
  storage_failure,
  /// The component was stopped and takes no more calls.
  stopped,
  /// A fault injected by `faulty_store` that models an outage.
  injected_unavailable,

  // --- overloaded: shed load and come back later ----------------------------
  /// A bound on pending work was reached (backpressure).
  queue_full,
  /// The backend ran out of a resource (SQLSTATE class 53).
  resource_exhausted,

  // --- conflict: the operation lost a race it cannot win by retrying --------
  /// A compare-and-restore (`restorable_store::restore`) found the key at
  /// another version than the one it was to undo: a newer write came in
  /// between, the write never landed, or it was already undone. Nothing was
  /// changed; the context names the key and both versions.
  version_conflict,

  // --- permanent: a defect or a state that needs a human --------------------
  /// A table or file exists with a shape storesync cannot use.
  schema_mismatch,
  /// Stored data is damaged (bad checksum, not a database file).
  corrupt,
  /// The store does not support the requested operation.
  unsupported,
  /// A fault injected by `faulty_store` that a retry cannot clear.
  injected_permanent,
  /// Any other backend failure; the message carries the native detail.
  backend_failure,
};

/// What a caller can do about an error. Policies branch on these.
enum class condition {
  /// Retrying the same call may succeed.
  transient = 1,
  /// Retrying cannot help; the cause needs a fix.
  permanent,
  /// A bound was reached; back off before trying again.
  overloaded,
  /// The input is wrong; nothing was changed.
  invalid_input,
  /// The call lost a race against another write; nothing was changed, and
  /// repeating the same call cannot succeed.
  conflict,
  /// A backend or component is down or stopped.
  unavailable,
};

}  // namespace storesync

template <>
struct std::is_error_code_enum<storesync::errc> : std::true_type {};

template <>
struct std::is_error_condition_enum<storesync::condition> : std::true_type {};

namespace storesync {
namespace detail {

inline condition condition_of(errc e) noexcept {
  switch (e) {
    case errc::invalid_key:
    case errc::invalid_value:
    case errc::invalid_version:
    case errc::constraint_violation:
    case errc::invalid_argument:
      return condition::invalid_input;
    case errc::serialization_failure:
    case errc::deadlock:
    case errc::busy:
    case errc::timeout:
    case errc::injected_transient:
      return condition::transient;
    case errc::connection_failed:
    case errc::connection_lost:
    case errc::storage_failure:
    case errc::stopped:
    case errc::injected_unavailable:
      return condition::unavailable;
    case errc::queue_full:
    case errc::resource_exhausted:
      return condition::overloaded;
    case errc::version_conflict:
      return condition::conflict;
    case errc::schema_mismatch:
    case errc::corrupt:
    case errc::unsupported:
    case errc::injected_permanent:
    case errc::backend_failure:
      break;
  }
  return condition::permanent;
}

class error_category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "storesync"; }

  std::string message(int value) const override {
    switch (static_cast<errc>(value)) {
      case errc::invalid_key: return "invalid key";
      case errc::invalid_value: return "invalid value";
      case errc::invalid_version: return "invalid version";
      case errc::constraint_violation: return "constraint violation";
      case errc::invalid_argument: return "invalid argument";
      case errc::serialization_failure: return "serialization failure";
      case errc::deadlock: return "deadlock detected";
      case errc::busy: return "store busy";
      case errc::timeout: return "timed out";
      case errc::injected_transient: return "injected transient fault";
      case errc::connection_failed: return "connection failed";
      case errc::connection_lost: return "connection lost";
      case errc::storage_failure: return "storage failure";
      case errc::stopped: return "stopped";
      case errc::injected_unavailable: return "injected outage";
      case errc::queue_full: return "pending queue full";
      case errc::resource_exhausted: return "backend out of resources";
      case errc::version_conflict: return "version conflict";
      case errc::schema_mismatch: return "schema mismatch";
      case errc::corrupt: return "data corrupt";
      case errc::unsupported: return "operation not supported";
      case errc::injected_permanent: return "injected permanent fault";
      case errc::backend_failure: return "backend failure";
    }
    return "unknown storesync error";
  }

  std::error_condition default_error_condition(int value) const noexcept override;
};

class condition_category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "storesync.condition"; }

  std::string message(int value) const override {
    switch (static_cast<condition>(value)) {
      case condition::transient: return "transient";
      case condition::permanent: return "permanent";
      case condition::overloaded: return "overloaded";
      case condition::invalid_input: return "invalid input";
      case condition::conflict: return "conflict";
      case condition::unavailable: return "unavailable";
    }
    return "unknown condition";
  }

  /// Maps foreign codes (errno from files and sockets) onto conditions, so
  /// policies treat a full disk like any other outage.
  bool equivalent(const std::error_code& code, int value) const noexcept override;
};

}  // namespace detail

inline const std::error_category& error_category() noexcept {
  static const detail::error_category instance;
  return instance;
}

inline const std::error_category& condition_category() noexcept {
  static const detail::condition_category instance;
  return instance;
}

inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), error_category()};
}

inline std::error_condition make_error_condition(condition c) noexcept {
  return {static_cast<int>(c), condition_category()};
}

inline std::error_condition detail::error_category::default_error_condition(
    int value) const noexcept {
  return make_error_condition(condition_of(static_cast<errc>(value)));
}

inline bool detail::condition_category::equivalent(const std::error_code& code,
                                                   int value) const noexcept {
  if (code.category() == storesync::error_category())
    return static_cast<int>(condition_of(static_cast<errc>(code.value()))) == value;
  if (code.category() != std::system_category() && code.category() != std::generic_category())
    return false;
  const auto c = static_cast<condition>(value);
  switch (code.value()) {
    case EINTR:
    case EAGAIN:
    case ETIMEDOUT:
      return c == condition::transient;
    case ENOSPC:
    case EIO:
    case EDQUOT:
    case EROFS:
    case ECONNREFUSED:
    case ECONNRESET:
    case EHOSTUNREACH:
    case ENETUNREACH:
      return c == condition::unavailable;
    case ENOMEM:
    case EMFILE:
    case ENFILE:
      return c == condition::overloaded;
    case EINVAL:
    case ENAMETOOLONG:
      return c == condition::invalid_input;
    default:
      return c == condition::permanent;
  }
}

/// The error half of every `result<T>`: a `std::error_code` plus the context a
/// human needs (which key, which file, which column). Compares equal to a
/// `condition` or an `errc` through its code.
class error {
 public:
  error(errc e) : code_(make_error_code(e)) {}  // NOLINT: implicit by design
  error(errc e, std::string context) : code_(make_error_code(e)), context_(std::move(context)) {}
  error(std::error_code code, std::string context = {})  // NOLINT: implicit by design
      : code_(code), context_(std::move(context)) {}

  const std::error_code& code() const noexcept { return code_; }
  /// What the code alone does not say: the key, file or native message.
  const std::string& context() const noexcept { return context_; }
  /// "<code message>: <context>", or the code message alone.
  std::string message() const {
    return context_.empty() ? code_.message() : code_.message() + ": " + context_;
  }

  friend bool operator==(const error& e, condition c) noexcept { return e.code_ == c; }
  friend bool operator==(const error& e, errc c) noexcept { return e.code_ == make_error_code(c); }

 private:
  std::error_code code_;
  std::string context_;
};

/// Lets Boost.Outcome treat `error` as an error code (for `.value()` on a
/// failed result, which throws `std::system_error` in caller code; storesync
/// itself never calls it unchecked).
inline std::error_code make_error_code(const error& e) noexcept { return e.code(); }

/// Boost.Outcome's hook for `.value()` on a failed `result`: keep the context.
[[noreturn]] inline void outcome_throw_as_system_error_with_payload(const error& e) {
  throw std::system_error(e.code(), e.context());
}

/// The error from the current `errno`, with context (usually a file name).
inline error errno_error(std::string context) {
  return error{std::error_code(errno, std::system_category()), std::move(context)};
}

}  // namespace storesync
