#pragma once
/// \file
/// `checksum_by_scan`: the fallback for stores that cannot checksum a range
/// themselves. It reads the range page by page and computes exactly what a
/// `checksum_store` would, so the result compares with any other store.
/// `checksum_of` and `part_checksums` pick the cheapest way a store has.
///
/// \code
///   auto local  = storesync::checksum_by_scan(files, range);
///   auto remote = postgres.checksum(range);
///   bool equal  = local && remote && local.value() == remote.value();
/// \endcode

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "storesync/core/store.hpp"

namespace storesync {

/// The range checksum of `range`, computed from a scan in pages of `page`
/// rows. Memory stays bounded by one page.
template <scannable_store S>
result<range_checksum> checksum_by_scan(S& s, const key_range& range, std::size_t page = 1000) {
  if (page == 0) page = 1;
  range_checksum sum;
  std::string after;
  for (;;) {
    BOOST_OUTCOME_TRY(auto rows, s.scan(range, after, page));
    for (const entry& e : rows) sum.add(row_hash(e));
    if (rows.size() < page) return sum;
    after = rows.back().key;
  }
}

/// The range checksum of `range`: the store's own `checksum` where it has
/// one, else `checksum_by_scan`.
template <class S>
  requires checksum_store<S> || scannable_store<S>
result<range_checksum> checksum_of(S& s, const key_range& range) {
  if constexpr (checksum_store<S>) return s.checksum(range);
  else return checksum_by_scan(s, range);
}

/// The checksums of the `points.size() + 1` parts that `points` (strictly
/// ascending inside `range`, after its first key) cut `range` into: in one
/// call where the store can (`part_checksum_store`), else part by part.
template <class S>
  requires checksum_store<S> || scannable_store<S>
result<std::vector<range_checksum>> part_checksums(S& s, const key_range& range,
                                                   std::span<const std::string> points) {
  if constexpr (part_checksum_store<S>) {
    return s.checksums(range, points);
  } else {
    std::vector<range_checksum> out;
    out.reserve(points.size() + 1);
    for (std::size_t i = 0; i <= points.size(); ++i) {
      const key_range part{i == 0 ? range.first : points[i - 1],
                           i < points.size() ? std::optional<std::string>(points[i]) : range.last};
      BOOST_OUTCOME_TRY(auto sum, checksum_of(s, part));
      out.push_back(sum);
    }
    return out;
  }
}

}  // namespace storesync
