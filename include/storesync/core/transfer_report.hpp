#pragma once
/// \file
/// `transfer_report`: what a run that copies entries from a source into a
/// sink (write-back's stages, dual-write's repair) did with each entry it
/// read. Every entry read lands in exactly one outcome, so the counts add up
/// to `read` and a run can prove that it skipped nothing silently.
///
/// \code
///   storesync::transfer_report run;
///   run.read += batch.size();
///   run.same_content += skipped_by_hash;          // the sink held this content already
///   run.count(sink_verdicts);                     // applied / unchanged / stale
///   run.dead_lettered += refused;
///   run.owed += batch.size() - settled;           // the sink was unreachable: next run
///   assert(run.complete());
/// \endcode

#include <cstddef>

#include "storesync/core/entry.hpp"

namespace storesync {

/// Per-outcome counts of a transfer. Unlike `write_report`, which is one
/// store's verdict on a batch, it also counts what was never sent.
struct transfer_report {
  /// Entries read from the source.
  std::size_t read = 0;
  /// Written: the sink held an older version, or none.
  std::size_t applied = 0;
  /// Sent, and the sink held this very version already (a re-run).
  std::size_t unchanged = 0;
  /// Not sent: the sink held the same content hash, at another version.
  std::size_t same_content = 0;
  /// Sent, and the sink held a newer version, which it kept.
  std::size_t stale = 0;
  /// Refused by the sink for good and kept as dead letters.
  std::size_t dead_lettered = 0;
  /// Not settled (the sink was unreachable): owed to the next run.
  std::size_t owed = 0;

  /// Adds a sink's verdicts on entries it took. `accepted` counts as
  /// applied: the sink took the entry, its guard decides later.
  void count(const write_report& sink) noexcept {
    applied += sink.applied + sink.accepted;
    unchanged += sink.unchanged;
    stale += sink.stale;
  }

  /// Entries that reached an outcome.
  std::size_t settled() const noexcept {
    return applied + unchanged + same_content + stale + dead_lettered;
  }

  /// Every entry read has an outcome: nothing is owed and nothing is
  /// unaccounted for.
  bool complete() const noexcept { return owed == 0 && settled() == read; }

  transfer_report& operator+=(const transfer_report& o) noexcept {
    read += o.read;
    applied += o.applied;
    unchanged += o.unchanged;
    same_content += o.same_content;
    stale += o.stale;
    dead_lettered += o.dead_lettered;
    owed += o.owed;
    return *this;
  }

  friend bool operator==(const transfer_report&, const transfer_report&) = default;
};

}  // namespace storesync
