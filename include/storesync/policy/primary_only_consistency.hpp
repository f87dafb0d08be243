#pragma once
/// \file
/// `primary_only_consistency`: dual-write writes the primary only; the
/// secondary is filled by the reconciler's repair (range checksums find what
/// differs). For a secondary that is being built, or is down for a long time.
///
/// \code
///   storesync::primary_only_consistency policy;
///   bool both = policy.write_secondary();   // false: a dual write touches the primary only
///   // Later, repair copies what the secondary lacks, found by comparing
///   // range checksums of the two stores (see checksum_store).
/// \endcode
/// JSON (policy/config.hpp): `{}` (no knobs).

#include <string_view>

#include "storesync/policy/consistency_policy.hpp"

namespace storesync {

/// Skip the secondary; repair fills it.
struct primary_only_consistency {
  using config = detail::no_knobs_config;
  static constexpr std::string_view name = "primary_only";

  primary_only_consistency() = default;
  explicit primary_only_consistency(const config&) noexcept {}

  bool write_secondary() const noexcept { return false; }
  /// Not reached by dual-write (the secondary is never written); should a
  /// caller ask anyway, the answer keeps the primary and records the gap.
  partial_failure_decision on_secondary_failure(const error&) const noexcept {
    return {.compensate_primary = false, .record_inconsistency = true, .report_success = true};
  }
};
static_assert(consistency_policy<primary_only_consistency>);

}  // namespace storesync
