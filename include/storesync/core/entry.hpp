#pragma once
/// \file
/// The unit every store moves: an `entry` (key, JSON value or tombstone,
/// version, content hash), the rules that make an entry valid, and the
/// **version guard** that makes every write idempotent and order-safe.
///
/// \code
///   auto e = storesync::entry::put("user:42", R"({"name":"Ada"})", 7);
///   auto d = storesync::entry::erase("user:42", 8);     // a tombstone
///   if (auto ok = storesync::validate(e); !ok) std::puts(ok.error().message().c_str());
/// \endcode
///
/// The version guard: a store applies an incoming entry only when its version
/// is newer than the stored one. An equal version is a no-op; an older one is
/// ignored. Tombstones keep their version, so an older write can never
/// resurrect a deleted key. Retries, journal replays and resumed runs are
/// therefore at-least-once inside and exactly-once in effect.

#include <compare>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "storesync/core/detail/murmur3.hpp"
#include "storesync/core/detail/text.hpp"
#include "storesync/core/result.hpp"
#include "storesync/core/value_rules.hpp"

namespace storesync {

/// A version: positive, growing per key. 0 means "never written".
using version_type = std::int64_t;

/// Longest key every adapter accepts, in bytes.
inline constexpr std::size_t max_key_size = 512;

/// Largest version an entry may carry (2^62). Every store holds up to 2^63 - 1;
/// the rest is headroom, so versions handed out above everything stored
/// (version_clock) never run out, whatever a caller wrote.
inline constexpr version_type max_entry_version = version_type{1} << 62;

/// 128-bit hash of a value's bytes, computed client-side when the entry is
/// made and stored beside the value so stores can tell real change from a
/// rewrite. Tombstones hash to 0.
///
/// The hash identifies the value *as first written*: a store may normalise the
/// JSON text (PostgreSQL's jsonb does) and still returns the original hash, so
/// checksums agree across stores. It is therefore carried, never re-derived.
struct content_hash {
  std::uint64_t lo = 0;
  std::uint64_t hi = 0;

  friend constexpr bool operator==(const content_hash&, const content_hash&) = default;
};

/// The content hash of a value (MurmurHash3 x64/128, seed 0).
inline content_hash hash_content(std::string_view value) noexcept {
  const auto h = detail::murmur3_128(value, 0);
  return {h.lo, h.hi};
}

/// A key with a value (JSON text) or a tombstone, at a version.
struct entry {
  std::string key;
  /// JSON text; empty for a tombstone.
  std::string value;
  version_type version = 0;
  content_hash hash;
  bool tombstone = false;

  /// An entry that stores `value` (JSON text) at `version`.
  static entry put(std::string key, std::string value, version_type version) {
    const auto h = hash_content(value);
    return entry{std::move(key), std::move(value), version, h, false};
  }

  /// A tombstone: `key` is deleted as of `version`.
  static entry erase(std::string key, version_type version) {
    return entry{std::move(key), {}, version, {}, true};
  }

  friend bool operator==(const entry&, const entry&) = default;
};

/// The 64-bit row hash of an entry, the unit of every range checksum.
///
/// Non-linear in each of (key, version, content hash, tombstone), so a sum of
/// row hashes does not cancel the way an XOR of CRCs does. Adapters store it
/// beside each row and sum it in the backend; its definition is part of the
/// storage format and never changes.
inline std::uint64_t row_hash(std::string_view key, version_type version, content_hash hash,
                              bool tombstone) noexcept {
  constexpr std::uint64_t key_seed = 0x73746f726573796eULL;  // "storesyn"
  constexpr std::uint64_t tombstone_mark = 0x9e3779b97f4a7c15ULL;
  std::uint64_t r = detail::murmur3_128(key, key_seed).lo;
  r = detail::fmix64(r ^ detail::fmix64(static_cast<std::uint64_t>(version) + 1));
  r = detail::fmix64(r ^ hash.lo);
  r = detail::fmix64(r ^ hash.hi ^ (tombstone ? tombstone_mark : 0));
  return r;
}

inline std::uint64_t row_hash(const entry& e) noexcept {
  return row_hash(e.key, e.version, e.hash, e.tombstone);
}

/// Checks a key: 1 to `max_key_size` bytes of valid UTF-8 without control
/// characters. The error names the key and the offending byte.
inline result<void> validate_key(std::string_view key) {
  if (key.empty()) return error{errc::invalid_key, "key is empty"};
  if (key.size() > max_key_size)
    return error{errc::invalid_key, "key " + detail::quoted(key) + " is " +
                                        std::to_string(key.size()) + " bytes; the limit is " +
                                        std::to_string(max_key_size)};
  for (std::size_t i = 0; i < key.size(); ++i) {
    const auto c = static_cast<unsigned char>(key[i]);
    if (c < 0x20 || c == 0x7f)
      return error{errc::invalid_key, "key " + detail::quoted(key) +
                                          ": control character at byte " + std::to_string(i)};
  }
  if (const auto at = detail::invalid_utf8_at(key); at != std::string_view::npos)
    return error{errc::invalid_key,
                 "key " + detail::quoted(key) + ": invalid UTF-8 at byte " + std::to_string(at)};
  return success();
}

/// Checks everything a store relies on: the key, a version from 1 to
/// `max_entry_version`, and a
/// value that is JSON within `rules` (or, for a tombstone, no value and a
/// zero hash).
inline result<void> validate(const entry& e, const value_rules& rules = {}) {
  BOOST_OUTCOME_TRY(validate_key(e.key));
  if (e.version <= 0)
    return error{errc::invalid_version, "key " + detail::quoted(e.key) + ": version " +
                                            std::to_string(e.version) + " is not positive"};
  if (e.version > max_entry_version)
    return error{errc::invalid_version, "key " + detail::quoted(e.key) + ": version " +
                                            std::to_string(e.version) + " is above the largest, " +
                                            std::to_string(max_entry_version)};
  if (e.tombstone) {
    if (!e.value.empty() || e.hash != content_hash{})
      return error{errc::invalid_value,
                   "key " + detail::quoted(e.key) + ": a tombstone carries no value"};
    return success();
  }
  return validate_value(e.key, e.value, rules);
}

/// Validates every entry of a batch; the first invalid one names the error.
inline result<void> validate_batch(std::span<const entry> batch, const value_rules& rules = {}) {
  for (const entry& e : batch) {
    if (auto ok = validate(e, rules); !ok) return ok.error();
  }
  return success();
}

/// What the version guard did with one incoming entry.
enum class guard_outcome {
  /// Newer than the stored version (or nothing stored): written.
  applied,
  /// Same version as stored: a replay, nothing to do.
  unchanged,
  /// Older than the stored version: ignored.
  stale,
};

/// The version guard. `stored` is the stored version, or nothing when the key
/// was never written. A tombstone is a stored version like any other.
constexpr guard_outcome version_guard(version_type incoming,
                                      std::optional<version_type> stored) noexcept {
  if (!stored || incoming > *stored) return guard_outcome::applied;
  return incoming == *stored ? guard_outcome::unchanged : guard_outcome::stale;
}

/// How many entries of a batch the version guard applied, found unchanged
/// (same version already stored) or ignored as stale (older version).
/// `accepted` is write-behind's: acknowledged and durable in its journal, but
/// the slow store may hold a newer version it has not seen, so the guard's
/// verdict comes when the entry is flushed (see write_behind.hpp). A store
/// never reports it.
struct write_report {
  std::size_t applied = 0;
  std::size_t unchanged = 0;
  std::size_t stale = 0;
  std::size_t accepted = 0;

  void count(guard_outcome o) noexcept {
    (o == guard_outcome::applied ? applied : o == guard_outcome::unchanged ? unchanged : stale)++;
  }
  std::size_t total() const noexcept { return applied + unchanged + stale + accepted; }
  write_report& operator+=(const write_report& o) noexcept {
    applied += o.applied;
    unchanged += o.unchanged;
    stale += o.stale;
    accepted += o.accepted;
    return *this;
  }
  friend bool operator==(const write_report&, const write_report&) = default;
};

}  // namespace storesync
