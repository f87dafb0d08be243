#pragma once
/// \file
/// `lookup_by_read`: the fallback for stores that cannot look up the metadata
/// of many keys at once, and `lookup_meta`, which uses a `metadata_store`'s
/// own `lookup` and the fallback otherwise. Both answer exactly what
/// `metadata_store` specifies, so a caller writes one code path for any store.
///
/// \code
///   // Which entries of a batch does the sink already hold with the same content?
///   std::vector<std::string_view> keys;
///   for (const storesync::entry& e : batch) keys.push_back(e.key);
///   BOOST_OUTCOME_TRY(auto held, storesync::lookup_meta(sink, keys));
///   for (std::size_t i = 0; i < batch.size(); ++i)
///     if (held[i] && held[i]->hash == batch[i].hash) { /* same content: skip the row */ }
/// \endcode

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "storesync/core/detail/text.hpp"
#include "storesync/core/store.hpp"

namespace storesync {
namespace detail {

// The check every lookup makes before it asks its backend anything.
inline result<void> check_lookup_keys(std::span<const std::string_view> keys) {
  for (const std::string_view key : keys) {
    if (key.size() > max_key_size)
      return error{errc::invalid_key, "lookup of key " + quoted(key) + ": " +
                                          std::to_string(key.size()) + " bytes; the limit is " +
                                          std::to_string(max_key_size)};
  }
  return success();
}

// Whether any write could store `key`; a lookup reports the others absent
// without asking (some backends cannot even take them as a parameter).
inline bool storable_key(std::string_view key) { return static_cast<bool>(validate_key(key)); }

// One answer per key, in request order, from what a backend found for the
// distinct keys it was asked.
inline std::vector<std::optional<entry_meta>> answers_in_order(
    std::span<const std::string_view> keys,
    const std::unordered_map<std::string_view, entry_meta>& found) {
  std::vector<std::optional<entry_meta>> out(keys.size());
  for (std::size_t i = 0; i < keys.size(); ++i)
    if (const auto it = found.find(keys[i]); it != found.end()) out[i] = it->second;
  return out;
}

}  // namespace detail

/// The metadata of each of `keys`, in order, from one `read` per key: what
/// `metadata_store::lookup` returns, for any `store`. One round trip per key,
/// and every value is shipped, so prefer the store's own `lookup`
/// (`lookup_meta` does).
template <store S>
result<std::vector<std::optional<entry_meta>>> lookup_by_read(S& s,
                                                              std::span<const std::string_view> keys) {
  BOOST_OUTCOME_TRY(detail::check_lookup_keys(keys));
  std::vector<std::optional<entry_meta>> out;
  out.reserve(keys.size());
  for (const std::string_view key : keys) {
    if (!detail::storable_key(key)) {
      out.emplace_back();
      continue;
    }
    BOOST_OUTCOME_TRY(auto got, s.read(key));
    out.push_back(got ? std::optional<entry_meta>{meta_of(*got)} : std::nullopt);
  }
  return out;
}

/// The metadata of each of `keys`, in order: `s.lookup(keys)` when `S`
/// models `metadata_store`, else `lookup_by_read(s, keys)`.
template <store S>
result<std::vector<std::optional<entry_meta>>> lookup_meta(S& s,
                                                           std::span<const std::string_view> keys) {
  if constexpr (metadata_store<S>) return s.lookup(keys);
  else return lookup_by_read(s, keys);
}

}  // namespace storesync
