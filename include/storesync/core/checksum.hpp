#pragma once
/// \file
/// `checksum_by_scan`: the fallback for stores that cannot checksum a range
/// themselves. It reads the range page by page and computes exactly what a
/// `checksum_store` would, so the result compares with any other store.
///
/// \code
///   auto local  = storesync::checksum_by_scan(files, range);
///   auto remote = postgres.checksum(range);
///   bool equal  = local && remote && local.value() == remote.value();
/// \endcode

#include <cstddef>
#include <string>

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

}  // namespace storesync
