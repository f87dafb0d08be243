#pragma once
/// \file
/// The ConsistencyPolicy: what dual-write does when one logical write reached
/// the primary store but not the secondary. Also the decision vocabulary and
/// the default model `strict_consistency`.
///
/// \code
///   // How a dual write applies a decision: `e` replaced `previous` in the
///   // primary (a restorable_store), then the secondary failed with `err` for
///   // good (its retries spent).
///   const storesync::partial_failure_decision d = policy.on_secondary_failure(err);
///   const bool undone = d.compensate_primary &&
///                       primary.restore(e.key, e.version, previous);  // undo the first write
///   const bool undo_failed = d.compensate_primary && !undone;
///   if (d.record_inconsistency || undo_failed) {                      // into a durable journal
///     BOOST_OUTCOME_TRY(inconsistencies.append(
///         storesync::encode_dead_letter(storesync::make_dead_letter(e, err))));
///   }
///   if (d.report_success && !undo_failed) return storesync::success();
///   return err;
/// \endcode
///
/// Models: `strict_consistency` (here), `best_effort_consistency` and
/// `primary_only_consistency` (their own headers).
///
/// Fixed rules that no policy changes (they belong to dual-write):
/// - a failed primary write is reported as a failure and the secondary is not written;
/// - a compensation that itself fails is recorded in the inconsistency log and
///   reported as a failure, whatever the policy: drift is never silent.

#include <concepts>
#include <string_view>

#include "storesync/core/error.hpp"

namespace storesync {

/// What dual-write does after the primary write succeeded and the secondary
/// write failed (after the retry policy gave up).
struct partial_failure_decision {
  /// Restore the primary to its state before the write (the previous entry,
  /// or a tombstone at a newer version if there was none).
  bool compensate_primary = false;
  /// Append the write and the error to the durable inconsistency log, which
  /// repair consumes.
  bool record_inconsistency = false;
  /// Report success to the caller (otherwise the secondary's error).
  bool report_success = false;

  friend constexpr bool operator==(const partial_failure_decision&,
                                   const partial_failure_decision&) = default;
};

/// Decides what a partial dual-write failure means.
///
/// **Requirements** (`p` a `const P&`, `e` a `const error&`: the secondary's error)
/// | expression                  | returns                                | meaning |
/// |-----------------------------|----------------------------------------|---------|
/// | `p.write_secondary()`       | `bool`, `noexcept`                     | `false`: dual-write skips the secondary (repair fills it) |
/// | `p.on_secondary_failure(e)` | `partial_failure_decision`, `noexcept` | what to do about this failure |
///
/// **Guarantees**:
/// - Decisions are pure functions of the policy's configuration and the
///   error: no I/O, no allocation.
/// - A decision never both reports success and leaves the inconsistency
///   unrecorded and uncompensated (`report_success` implies
///   `record_inconsistency` or `compensate_primary`), so the stores cannot
///   drift apart silently.
/// - `P` is copyable.
///
/// **Errors**: none; dual-write turns the decision into its result.
/// **Thread safety**: `const` calls from any number of threads.
/// **Models**: `strict_consistency`, `best_effort_consistency`,
/// `primary_only_consistency`.
///
/// A type models `consistency_policy` if it is copyable and, through `const`
/// calls that neither throw nor do I/O, says whether the secondary is written
/// and what a secondary's failure means, never reporting success for drift it
/// neither records nor compensates.
template <class P>
concept consistency_policy = std::copy_constructible<P> && requires(const P& p, const error& e) {
  { p.write_secondary() } noexcept -> std::same_as<bool>;
  { p.on_secondary_failure(e) } noexcept -> std::same_as<partial_failure_decision>;
};

namespace detail {
/// The config of the consistency models, which have no knobs: the type is
/// the choice. It exists so every model loads from JSON the same way.
struct no_knobs_config {};
}  // namespace detail

/// Both stores or neither: on a secondary failure, compensate the primary back
/// to its previous state and report the failure. The default.
struct strict_consistency {
  using config = detail::no_knobs_config;
  static constexpr std::string_view name = "strict";

  strict_consistency() = default;
  explicit strict_consistency(const config&) noexcept {}

  bool write_secondary() const noexcept { return true; }
  partial_failure_decision on_secondary_failure(const error&) const noexcept {
    return {.compensate_primary = true, .record_inconsistency = false, .report_success = false};
  }
};
static_assert(consistency_policy<strict_consistency>);

}  // namespace storesync
