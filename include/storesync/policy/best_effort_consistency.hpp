#pragma once
/// \file
/// `best_effort_consistency`: the caller's write succeeds once the primary has
/// it; a secondary failure is recorded durably and repaired later.
///
/// \code
///   storesync::best_effort_consistency policy;
///   auto d = policy.on_secondary_failure(err);   // the graph store is down
///   // d.report_success: the caller's write succeeds on the primary alone;
///   // d.record_inconsistency: the inconsistency log tells repair what to copy.
/// \endcode
/// JSON (policy/config.hpp): `{}` (no knobs).

#include <string_view>

#include "storesync/policy/consistency_policy.hpp"

namespace storesync {

/// Report success, record the inconsistency for repair.
struct best_effort_consistency {
  using config = detail::no_knobs_config;
  static constexpr std::string_view name = "best_effort";

  best_effort_consistency() = default;
  explicit best_effort_consistency(const config&) noexcept {}

  bool write_secondary() const noexcept { return true; }
  partial_failure_decision on_secondary_failure(const error&) const noexcept {
    return {.compensate_primary = false, .record_inconsistency = true, .report_success = true};
  }
};
static_assert(consistency_policy<best_effort_consistency>);

}  // namespace storesync
