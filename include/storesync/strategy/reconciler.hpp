#pragma once
/// \file
/// `reconciler<Left, Right>`: proves two stores equal, or finds exactly where
/// they differ, and repairs them.
///
/// \code
///   storesync::reconciler rec(pg, sqlite);                 // left, right
///   BOOST_OUTCOME_TRY(auto found, rec.check({}));          // the whole key space
///   for (const auto& d : found.differences) log(d.key);    // only_left, only_right, differ
///   BOOST_OUTCOME_TRY(auto fixed, rec.repair(found, {.truth = storesync::source_of_truth::left}));
///   // fixed.copied_to_right + fixed.removed_from_right keys now equal on both sides
/// \endcode
///
/// **check(range)** compares the two stores' range checksums (`checksum`
/// where a store has it, else `checksum_by_scan`). Where the checksums
/// differ it cuts the range into parts of about equal row counts, on the
/// side holding more rows, and descends only into the parts that differ,
/// down to ranges of at most `row_threshold` rows, whose rows it streams
/// from both sides in key order and compares. A range of up to
/// `row_threshold` x `split_factor` rows is cut into `split_factor` parts
/// (`split_by_rows`); a larger one into rows x `split_factor` /
/// `row_threshold` parts (at most `max_parts`) at once, as deep as
/// bisection would have gone. When a side can take a sample
/// (`sampling_store`), the checked range, if large enough to sample, is cut
/// at the sample's quantiles into `max_parts` parts first, without
/// checksumming it whole, so a few differences in a large table cost one
/// round of part checksums (`part_checksums`: one call per side where the
/// store has `part_checksum_store`) and then their parts' rows.
/// When more than `stream_fraction` of the parts of a range of at most
/// `row_threshold` x `split_factor` rows differ, descending would checksum
/// nearly every part and then read it anyway, so the range is streamed
/// whole instead (a few differences scattered over a large range make most
/// of its parts differ too, which says nothing about density: larger ranges
/// are always descended into).
/// The search is depth first, in key order, with pages of `page_size` rows:
/// memory stays flat whatever the table size (the differences found are the
/// only thing that grows, and `max_differences` bounds them).
///
/// A check stops early, promptly (between two rounds of checksums or two
/// pages), when it has found `max_differences` differences, has run for
/// `max_time` or is asked to through its `stop` token; `remaining` then
/// holds the part of the range it did not cover, and
/// `check(*report.remaining)` goes on from there. Another thread may watch
/// it through `progress`.
///
/// Two entries are equal when their version, content hash and deleted flag
/// are equal, which is what the checksums sum (`row_hash`). A key one side
/// holds as a tombstone and the other does not hold at all differs. A check
/// compares what the stores keep beside each row: every write through a
/// store, and rows deleted or added by other means, show; a row changed in
/// place by other SQL shows only when its row hash column changes with it
/// (checksums sum that column, and a row is read only where they differ),
/// so a value or version edited alone does not.
///
/// **repair(report, options)** makes each key of a report equal on both
/// sides, reading both again first (a key written since the check is
/// judged as it is now). The winner is the side `truth` names, or with
/// `source_of_truth::newest` the higher version (the left side on a tie).
/// The loser gets the winner's entry under the version guard when it holds
/// an older version or none, written in batches through `delivery` (retry,
/// and refused entries isolated and reported, never dropped). When it holds
/// a newer version (a named truth gets there), `restore` puts the winner's
/// entry back only if the key is still at the version just read, so a
/// concurrent newer write is never clobbered; a key the winner does not hold
/// is removed from the loser the same way. A store that is not a
/// `restorable_store` cannot be repaired backwards: such keys are reported
/// as `refused`. Two sides holding one version with other content (an edit
/// made behind the library's back) cannot be told apart by version: the
/// winner's content is written to both at the next version (`restamped`).
/// `dry_run` counts what would be done and writes nothing.
///
/// **Projection mode** (`project_right`): the right side holds, for each
/// key of the left, an entry of the same key, version and deleted flag
/// whose value the projection made from the left's value (a vector store's
/// embedding, a graph store's extracted entities). Contents differ by
/// design, so a check compares keys, versions and deleted flags only, by
/// streaming both sides (checksums sum content hashes); repair and rebuild
/// write the projection of the left's entry; a key the right side would
/// win is refused (a projection cannot be turned back into its source).
///
/// **rebuild(range, options)** makes the right store equal to the left one
/// over `range`, without checksums: it streams both sides in key order and
/// repairs (the left side wins) each batch of `batch_size` keys as it goes,
/// so memory stays flat. After each batch it hands the last key covered to
/// `on_batch`, which may save it: a rebuild started with that key as
/// `resume_after` goes on from there (after a crash, a cancel or an error).
///
/// Errors: a store error ends a check or repair with that error (nothing is
/// half-reported); a repair's refused entries are in its report, each with
/// its error.
///
/// Thread safety: one call at a time per reconciler; the stores may take
/// writes meanwhile (a check then reports what it saw as it passed). A
/// check asks the two stores for their checksums at once, each from one
/// thread.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <span>
#include <stop_token>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

#include "storesync/core/checksum.hpp"
#include "storesync/core/detail/text.hpp"
#include "storesync/core/entry.hpp"
#include "storesync/core/key_split.hpp"
#include "storesync/core/result.hpp"
#include "storesync/core/store.hpp"
#include "storesync/policy/aimd_batch_sizer.hpp"
#include "storesync/policy/clock.hpp"
#include "storesync/policy/exponential_backoff.hpp"
#include "storesync/strategy/delivery.hpp"

namespace storesync {

/// Live counters of a check, repair or rebuild, which another thread may
/// read while it runs (a job's status page). Each call adds to them.
struct reconcile_progress {
  /// Ranges a check has settled (equal, compared row by row, or descended into).
  std::atomic<std::size_t> ranges{0};
  /// Range checksums computed, on both sides together.
  std::atomic<std::size_t> checksums{0};
  /// Rows read while streaming, from both sides together.
  std::atomic<std::size_t> rows_read{0};
  /// Differences found.
  std::atomic<std::size_t> differences{0};
  /// Keys a repair or rebuild wrote or removed.
  std::atomic<std::size_t> repaired{0};
};

/// How `reconciler::check` searches.
struct check_options {
  /// Parts a differing range is cut into (at least 2).
  std::size_t split_factor = 16;
  /// A differing range of more than `row_threshold` x `split_factor` rows is
  /// cut into rows x `split_factor` / `row_threshold` parts at once, at most
  /// this many.
  std::size_t max_parts = 2048;
  /// A differing range of at most this many rows (on the larger side) is
  /// compared row by row.
  std::size_t row_threshold = 1000;
  /// When more than this fraction of the parts of a range of at most
  /// `row_threshold` x `split_factor` rows differ, the range is streamed
  /// whole instead of descended into.
  double stream_fraction = 0.5;
  /// Rows per page when streaming.
  std::size_t page_size = 1000;
  /// Stop after finding this many differences (0: no bound).
  std::size_t max_differences = 100'000;
  /// Stop after running this long (zero: no bound).
  std::chrono::milliseconds max_time{0};
  /// Stop when this token is asked to (a cancelled job).
  std::stop_token stop = {};
  /// Counters to update as the check goes (nothing: none).
  reconcile_progress* progress = nullptr;
};

/// How a key differs between the two stores.
enum class difference_kind {
  only_left,   ///< the right store does not hold the key
  only_right,  ///< the left store does not hold the key
  differ,      ///< both hold it, at another version, content or deleted flag
};

/// One key that differs, with what each side held when it was compared.
struct difference {
  std::string key;
  difference_kind kind = difference_kind::differ;
  std::optional<entry_meta> left = {};
  std::optional<entry_meta> right = {};

  friend bool operator==(const difference&, const difference&) = default;
};

/// Why a check stopped before covering its whole range.
enum class check_stop { none, max_differences, max_time, cancelled };

/// What `reconciler::check` found.
struct check_report {
  /// The range checked.
  key_range range = {};
  /// Every difference found, in key order.
  std::vector<difference> differences = {};
  /// The part of `range` not covered (nothing when the check was complete).
  std::optional<key_range> remaining = {};
  check_stop stopped = check_stop::none;
  /// Range checksums computed, on both sides together.
  std::size_t checksums = 0;
  /// Rows read from the two stores while streaming, together.
  std::size_t rows_read = 0;
  /// Ranges compared by streaming because most of their parts differed.
  std::size_t streamed_ranges = 0;

  bool complete() const noexcept { return !remaining.has_value(); }
};

/// Which side wins a repair.
enum class source_of_truth {
  left,
  right,
  /// The higher version; the left side on a tie.
  newest,
};

/// How `reconciler::repair` repairs.
struct repair_options {
  source_of_truth truth = source_of_truth::newest;
  /// Count what would be done; write nothing.
  bool dry_run = false;
  /// Counters to update (`repaired`) as the repair goes (nothing: none).
  reconcile_progress* progress = nullptr;
  /// Called before a repair reads its keys again; what it returns is kept
  /// until the repair is written. A writer of the two stores hands out a
  /// lock here (`dual_write::keep_writers_out`), so that no write is
  /// between its two sides while a repair judges and settles its keys.
  std::function<std::shared_ptr<void>()> hold = {};
  /// Stop before the next key when this token is asked to; what was planned
  /// is still written, and `unvisited` counts the keys left.
  std::stop_token stop = {};
};

/// A key a repair could not settle, and why.
struct repair_refusal {
  std::string key;
  error why;
};

/// What `reconciler::repair` did (or, dry, would do).
struct repair_report {
  std::size_t copied_to_left = 0;
  std::size_t copied_to_right = 0;
  std::size_t removed_from_left = 0;
  std::size_t removed_from_right = 0;
  /// Keys whose two sides held one version with other content: the
  /// winner's content went to both at the next version (counted in both
  /// `copied_to_*` as well).
  std::size_t restamped = 0;
  /// Keys equal on both sides by the time they were read again.
  std::size_t already_equal = 0;
  /// Keys that changed between the read and the repair (a concurrent
  /// write); check again to judge them.
  std::size_t raced = 0;
  std::vector<repair_refusal> refused = {};
  /// Keys of the report not looked at: the repair was stopped.
  std::size_t unvisited = 0;

  /// Adds the counts and refusals of `more`.
  repair_report& operator+=(const repair_report& more) {
    copied_to_left += more.copied_to_left;
    copied_to_right += more.copied_to_right;
    removed_from_left += more.removed_from_left;
    removed_from_right += more.removed_from_right;
    restamped += more.restamped;
    already_equal += more.already_equal;
    raced += more.raced;
    refused.insert(refused.end(), more.refused.begin(), more.refused.end());
    unvisited += more.unvisited;
    return *this;
  }
};

/// How `reconciler::rebuild` goes.
struct rebuild_options {
  /// Keys settled per batch (the unit of memory and of checkpoints).
  std::size_t batch_size = 1000;
  /// Start after this key: the last key an earlier rebuild's `on_batch`
  /// was given. Empty: from the start of the range.
  std::string resume_after = {};
  /// Called after each batch with the last key covered so far; an error
  /// ends the rebuild with it. Nothing: no checkpoints.
  std::function<result<void>(std::string_view last_key)> on_batch = {};
  /// Count what would be done; write nothing.
  bool dry_run = false;
  /// Stop after the current batch when this token is asked to.
  std::stop_token stop = {};
  /// Counters to update as the rebuild goes (nothing: none).
  reconcile_progress* progress = nullptr;
  /// As `repair_options::hold`, for each batch.
  std::function<std::shared_ptr<void>()> hold = {};
};

/// What `reconciler::rebuild` did.
struct rebuild_report {
  /// The repairs, of the right side only (the left side is the source; it is
  /// written only to restamp, see `repair_report::restamped`).
  repair_report repaired = {};
  /// Rows read from the two stores together.
  std::size_t rows_read = 0;
  /// The last key covered: where a rebuild resumes (`resume_after`).
  std::string last_key = {};
  /// Whether the rebuild reached the end of its range.
  bool complete = false;
};

/// What the right side holds for a left entry that is not deleted, in
/// projection mode: the value of its entry of the same key and version.
/// An error refuses the entry.
using projection = std::function<result<std::string>(const entry& source)>;

template <scannable_store Left, scannable_store Right, retry_policy Retry = exponential_backoff,
          batch_sizer Sizer = aimd_batch_sizer, clock Clock = system_clock>
class reconciler {
 public:
  reconciler(Left& left, Right& right, Retry retry = {}, Sizer sizer = {}, Clock clock = {})
      : left_(left), right_(right), retry_(std::move(retry)), sizer_(std::move(sizer)), clock_(std::move(clock)) {}

  /// From now on the right side holds projections of the left's entries
  /// (see the file comment); an empty `project` ends projection mode.
  void project_right(projection project) { project_ = std::move(project); }

  /// Finds the differences within `range` (see the file comment).
  result<check_report> check(const key_range& range, check_options options = {}) {
    options.split_factor = std::max<std::size_t>(options.split_factor, 2);
    options.page_size = std::max<std::size_t>(options.page_size, 1);
    search s{*this, options, clock_.now(), {}};
    s.report.range = range;
    BOOST_OUTCOME_TRY(s.run(range));
    return std::move(s.report);
  }

  /// Makes each key of `found` equal on both sides (see the file comment).
  result<repair_report> repair(const check_report& found, repair_options options = {}) {
    const std::shared_ptr<void> held = options.hold ? options.hold() : nullptr;
    repair_report out;
    std::vector<entry> to_left, to_right;
    for (std::size_t i = 0; i < found.differences.size(); ++i) {
      if (options.stop.stop_requested()) {
        out.unvisited = found.differences.size() - i;
        break;
      }
      const difference& d = found.differences[i];
      BOOST_OUTCOME_TRY(auto l, left_.read(d.key));
      BOOST_OUTCOME_TRY(auto r, right_.read(d.key));
      if (same(l, r)) {
        ++out.already_equal;
        continue;
      }
      // In projection mode a key the left does not hold is the left's to
      // decide: its projection goes.
      const bool left_wins = options.truth == source_of_truth::left ||
                             (options.truth == source_of_truth::newest && version_of(l) >= version_of(r)) ||
                             (project_ && !l);
      if (project_ && !left_wins) {
        out.refused.push_back({d.key, error{errc::invalid_argument,
                                            "key " + detail::quoted(d.key) +
                                                ": the right side holds a projection, which cannot be copied back"}});
        continue;
      }
      auto projected = for_right(l);
      if (!projected) {
        out.refused.push_back({d.key, projected.error()});
        continue;
      }
      if (l && r && l->version == r->version) {
        const entry& w = left_wins ? *l : *r;
        if (options.dry_run) {
          ++out.restamped;
          ++out.copied_to_left;
          ++out.copied_to_right;
          continue;
        }
        const entry next = w.tombstone ? entry::erase(w.key, w.version + 1) : entry::put(w.key, w.value, w.version + 1);
        auto next_right = for_right(next);
        if (!next_right) {
          out.refused.push_back({d.key, next_right.error()});
          continue;
        }
        ++out.restamped;
        to_left.push_back(next);
        to_right.push_back(std::move(*next_right.value()));
        continue;
      }
      if (left_wins) {
        BOOST_OUTCOME_TRY(settle(right_, d.key, projected.value(), r, options.dry_run, to_right, out.copied_to_right,
                                 out.removed_from_right, out));
      } else {
        BOOST_OUTCOME_TRY(settle(left_, d.key, r, l, options.dry_run, to_left, out.copied_to_left,
                                 out.removed_from_left, out));
      }
    }
    BOOST_OUTCOME_TRY(deliver(right_, to_right, out.copied_to_right, out));
    BOOST_OUTCOME_TRY(deliver(left_, to_left, out.copied_to_left, out));
    if (options.progress) {
      // A restamped key is counted on both sides; once is enough here.
      const std::size_t changed =
          out.copied_to_left + out.copied_to_right + out.removed_from_left + out.removed_from_right;
      options.progress->repaired += changed - std::min(changed, out.restamped);
    }
    return out;
  }

  /// Makes the right store equal to the left one over `range` (see the
  /// file comment).
  result<rebuild_report> rebuild(const key_range& range, rebuild_options options = {}) {
    options.batch_size = std::max<std::size_t>(options.batch_size, 1);
    rebuild_report out;
    out.last_key = options.resume_after;
    merge m{{left_, range, {}, 0, options.resume_after},
            {right_, range, {}, 0, options.resume_after},
            static_cast<bool>(project_)};
    check_report batch;
    std::size_t covered = 0;  // keys merged since the last checkpoint
    auto settle_batch = [&]() -> result<void> {
      BOOST_OUTCOME_TRY(auto fixed,
                        repair(batch, {.truth = source_of_truth::left, .dry_run = options.dry_run,
                                       .progress = options.progress, .hold = options.hold}));
      out.repaired += fixed;
      batch.differences.clear();
      covered = 0;
      if (options.on_batch && !options.dry_run && !out.last_key.empty()) {
        BOOST_OUTCOME_TRY(options.on_batch(out.last_key));
      }
      return success();
    };
    for (;;) {
      if (options.stop.stop_requested()) break;
      std::size_t read = 0;
      BOOST_OUTCOME_TRY(const auto key, m.peek(options.batch_size, read));
      out.rows_read += read;
      if (options.progress) options.progress->rows_read += read;
      if (!key) {
        out.complete = true;
        break;
      }
      auto step = m.take();
      out.last_key = std::move(step.key);
      if (step.diff) {
        if (options.progress) ++options.progress->differences;
        batch.differences.push_back(std::move(*step.diff));
      }
      if (++covered >= options.batch_size) {
        BOOST_OUTCOME_TRY(settle_batch());
      }
    }
    if (covered > 0) {
      BOOST_OUTCOME_TRY(settle_batch());
    }
    return out;
  }

 private:
  /// One check in progress: a depth-first search in key order.
  struct search {
    reconciler& self;
    const check_options& options;
    typename Clock::time_point started;
    check_report report;

    /// A range still to look at, and its checksums when already known.
    struct pending {
      key_range range;
      std::optional<std::pair<range_checksum, range_checksum>> sums;
    };

    result<void> run(const key_range& whole) {
      // Projections have other contents than their sources: only a row by
      // row comparison of versions tells.
      if (self.project_) return compare_rows(whole);
      std::vector<pending> stack;
      // A range large enough to sample is cut at once, without its own
      // checksums: the parts' sums say all they would.
      BOOST_OUTCOME_TRY(auto points, sample_whole(whole));
      if (points.empty()) stack.push_back({whole, std::nullopt});
      else {
        BOOST_OUTCOME_TRY(descend(whole, points, std::nullopt, stack));
      }
      while (!stack.empty() && report.stopped == check_stop::none) {
        pending p = std::move(stack.back());
        stack.pop_back();
        if (const auto why = interrupted()) return stop(*why, p.range.first);
        if (options.progress) ++options.progress->ranges;
        if (!p.sums) {
          BOOST_OUTCOME_TRY(auto sums, checksums(p.range));
          p.sums = sums;
        }
        const auto& [l, r] = *p.sums;
        if (l == r) continue;
        const std::size_t rows = std::max(l.count, r.count);
        if (rows <= options.row_threshold) {
          BOOST_OUTCOME_TRY(compare_rows(p.range));
        } else {
          BOOST_OUTCOME_TRY(auto cuts, l.count >= r.count ? cut(self.left_, p.range, rows)
                                                          : cut(self.right_, p.range, rows));
          BOOST_OUTCOME_TRY(descend(p.range, cuts, rows, stack));
        }
      }
      return success();
    }

    /// Points from a sample of `whole` for `max_parts` parts, when a side
    /// can take one (the left first) and `whole` is large enough; else none.
    result<std::vector<std::string>> sample_whole(const key_range& whole) {
      if constexpr (sampling_store<Left>) {
        return self.left_.sample_points(whole, std::max(options.max_parts, options.split_factor));
      } else if constexpr (sampling_store<Right>) {
        return self.right_.sample_points(whole, std::max(options.max_parts, options.split_factor));
      } else {
        return std::vector<std::string>{};
      }
    }

    /// Checksums the parts `points` cut `range` (of `rows` rows, when known)
    /// into on both sides, and pushes those that differ onto `stack`, in
    /// key order; or streams `range` whole when most of its parts differ
    /// and it is small enough (see the file comment).
    result<void> descend(const key_range& range, const std::vector<std::string>& points,
                         std::optional<std::size_t> rows, std::vector<pending>& stack) {
      auto [left_result, right_result] = both([&] { return part_checksums(self.left_, range, points); },
                                              [&] { return part_checksums(self.right_, range, points); });
      BOOST_OUTCOME_TRY(auto left_sums, std::move(left_result));
      BOOST_OUTCOME_TRY(auto right_sums, std::move(right_result));
      report.checksums += 2 * left_sums.size();
      if (options.progress) options.progress->checksums += 2 * left_sums.size();
      if (const auto why = interrupted()) return stop(*why, range.first);
      const std::size_t parts = points.size() + 1;
      std::vector<pending> differing;
      for (std::size_t i = 0; i < parts; ++i) {
        if (left_sums[i] == right_sums[i]) continue;
        differing.push_back({key_range{i == 0 ? range.first : points[i - 1],
                                       i < points.size() ? std::optional(points[i]) : range.last},
                             std::pair{left_sums[i], right_sums[i]}});
      }
      const bool dense = rows &&
                         static_cast<double>(differing.size()) > options.stream_fraction * static_cast<double>(parts) &&
                         *rows <= options.row_threshold * options.split_factor;
      if (parts <= 1 || dense) {
        ++report.streamed_ranges;
        return compare_rows(range);
      }
      for (auto it = differing.rbegin(); it != differing.rend(); ++it) stack.push_back(std::move(*it));
      return success();
    }

    /// The points that cut `range`, of `rows` rows on the side `s`, into
    /// parts: `split_factor` of them, or, for a range of more than
    /// `row_threshold` x `split_factor` rows, rows x `split_factor` /
    /// `row_threshold` (at most `max_parts`): the parts bisection would
    /// reach levels later, at once.
    template <class S>
    result<std::vector<std::string>> cut(S& s, const key_range& range, std::size_t rows) {
      std::size_t parts = options.split_factor;
      if (rows > options.row_threshold * options.split_factor)
        parts = std::clamp(rows * options.split_factor / std::max<std::size_t>(options.row_threshold, 1), parts,
                           std::max(options.max_parts, parts));
      BOOST_OUTCOME_TRY(auto ranges, split_by_rows(s, range, parts));
      std::vector<std::string> points;
      points.reserve(ranges.size());
      for (std::size_t i = 1; i < ranges.size(); ++i) points.push_back(std::move(ranges[i].first));
      return points;
    }

    result<std::pair<range_checksum, range_checksum>> checksums(const key_range& range) {
      auto [left_result, right_result] = both([&] { return checksum_of(self.left_, range); },
                                              [&] { return checksum_of(self.right_, range); });
      BOOST_OUTCOME_TRY(auto l, std::move(left_result));
      BOOST_OUTCOME_TRY(auto r, std::move(right_result));
      report.checksums += 2;
      if (options.progress) options.progress->checksums += 2;
      return std::pair{l, r};
    }

    /// Streams both sides of `range` in key order and records every key
    /// that differs.
    result<void> compare_rows(const key_range& range) {
      merge m{{self.left_, range}, {self.right_, range}, static_cast<bool>(self.project_)};
      for (;;) {
        std::size_t read = 0;
        BOOST_OUTCOME_TRY(const auto key, m.peek(options.page_size, read));
        report.rows_read += read;
        if (options.progress) options.progress->rows_read += read;
        if (!key) return success();
        if (const auto why = interrupted()) return stop(*why, std::string(*key));
        auto step = m.take();
        if (step.diff) {
          report.differences.push_back(std::move(*step.diff));
          if (options.progress) ++options.progress->differences;
        }
        if (options.max_differences != 0 && report.differences.size() >= options.max_differences)
          return stop(check_stop::max_differences, successor(step.key));
      }
    }

    /// Why the check must stop now, if it must.
    std::optional<check_stop> interrupted() const {
      if (options.stop.stop_requested()) return check_stop::cancelled;
      if (options.max_time.count() > 0 && self.clock_.now() - started >= options.max_time)
        return check_stop::max_time;
      return std::nullopt;
    }

    /// Records that the check stopped with every key from `first` to the
    /// end of the checked range not covered.
    result<void> stop(check_stop why, std::string first) {
      report.stopped = why;
      report.remaining = key_range{std::move(first), report.range.last};
      return success();
    }
  };

  /// Pages of one side's scan of a range, read as needed.
  template <class S>
  struct page {
    S& store;
    key_range range;
    std::vector<entry> rows = {};
    std::size_t at = 0;
    std::string after = {};
    bool done = false;

    result<void> fill(std::size_t size, std::size_t& rows_read) {
      if (at < rows.size() || done) return success();
      BOOST_OUTCOME_TRY(auto next, store.scan(range, after, size));
      rows_read += next.size();
      done = next.size() < size;
      if (!next.empty()) after = next.back().key;
      rows = std::move(next);
      at = 0;
      return success();
    }
    const entry* front() const { return at < rows.size() ? &rows[at] : nullptr; }
    void pop() { ++at; }
  };

  /// `left()` here and `right()` on a thread of its own, at once: a check
  /// waits for the slower side, not for the two in turn. In turn when no
  /// thread can be started.
  template <class L, class R>
  static auto both(L&& left, R&& right) {
    std::future<std::invoke_result_t<R>> other;
    try {
      other = std::async(std::launch::async, right);
    } catch (const std::system_error&) {
      auto l = left();
      return std::pair{std::move(l), right()};
    }
    auto l = left();
    return std::pair{std::move(l), other.get()};
  }

  /// Both sides of a range, streamed in key order and merged key by key.
  struct merge {
    page<Left> l;
    page<Right> r;
    /// Compare as projections (version and deleted flag only).
    bool projected = false;

    /// One key either side holds, and how the sides differ on it.
    struct step {
      std::string key;
      std::optional<difference> diff;
    };

    /// The next key either side holds (nothing at the end of the range),
    /// reading pages of `page_size` as needed (counted in `rows_read`).
    result<std::optional<std::string_view>> peek(std::size_t page_size, std::size_t& rows_read) {
      BOOST_OUTCOME_TRY(l.fill(page_size, rows_read));
      BOOST_OUTCOME_TRY(r.fill(page_size, rows_read));
      const entry* a = l.front();
      const entry* b = r.front();
      if (a == nullptr && b == nullptr) return std::optional<std::string_view>();
      if (a == nullptr) return std::optional<std::string_view>(b->key);
      if (b == nullptr) return std::optional<std::string_view>(a->key);
      return std::optional<std::string_view>(std::min<std::string_view>(a->key, b->key));
    }

    /// Consumes the key `peek` returned.
    step take() {
      const entry* a = l.front();
      const entry* b = r.front();
      if (b == nullptr || (a != nullptr && a->key < b->key)) {
        l.pop();
        return {a->key, difference{a->key, difference_kind::only_left, meta_of(*a), std::nullopt}};
      }
      if (a == nullptr || b->key < a->key) {
        r.pop();
        return {b->key, difference{b->key, difference_kind::only_right, std::nullopt, meta_of(*b)}};
      }
      step out{a->key, std::nullopt};
      if (!agree(meta_of(*a), meta_of(*b), projected))
        out.diff = difference{a->key, difference_kind::differ, meta_of(*a), meta_of(*b)};
      l.pop();
      r.pop();
      return out;
    }
  };

  /// The smallest key after `key`: keys hold no control characters, so none
  /// falls between `key` and `key + " "`.
  static std::string successor(std::string_view key) { return std::string(key) + ' '; }

  static entry_meta meta_of(const entry& e) { return {e.version, e.hash, e.tombstone}; }
  /// Whether two sides agree: on all of the metadata, or, comparing
  /// projections, on the version and deleted flag.
  static bool agree(const entry_meta& a, const entry_meta& b, bool projected) {
    return projected ? a.version == b.version && a.tombstone == b.tombstone : a == b;
  }
  bool same(const std::optional<entry>& a, const std::optional<entry>& b) const {
    if (!a || !b) return !a && !b;
    return agree(meta_of(*a), meta_of(*b), static_cast<bool>(project_));
  }
  /// `e` as the right side holds it: its projection in projection mode.
  result<std::optional<entry>> for_right(const std::optional<entry>& e) const {
    if (!project_ || !e || e->tombstone) return e;
    BOOST_OUTCOME_TRY(std::string value, project_(*e));
    return std::optional<entry>(entry::put(e->key, std::move(value), e->version));
  }
  static version_type version_of(const std::optional<entry>& e) { return e ? e->version : 0; }

  /// Plans (or, dry, counts) making `loser` hold `winner` for `key`.
  template <class S>
  result<void> settle(S& loser_store, const std::string& key, const std::optional<entry>& winner,
                      const std::optional<entry>& loser, bool dry, std::vector<entry>& writes, std::size_t& copied,
                      std::size_t& removed, repair_report& out) {
    if (winner && (!loser || loser->version < winner->version)) {
      if (dry) ++copied;
      else writes.push_back(*winner);
      return success();
    }
    // The loser holds a newer version, or the winner holds nothing: only a
    // compare-and-restore can put the winner's state back.
    if constexpr (restorable_store<S>) {
      std::size_t& counter = winner ? copied : removed;
      if (dry) {
        ++counter;
        return success();
      }
      auto restored = loser_store.restore(key, loser->version, winner);
      if (restored) {
        ++counter;
      } else if (restored.error() == errc::version_conflict) {
        ++out.raced;
      } else if (restored.error() == condition::invalid_input || restored.error() == condition::permanent) {
        out.refused.push_back({key, restored.error()});
      } else {
        return restored.error();
      }
    } else {
      out.refused.push_back({key, error{errc::invalid_argument,
                                        "key " + detail::quoted(key) +
                                            ": the store to repair holds a newer version and cannot restore an "
                                            "older one (not a restorable_store)"}});
    }
    return success();
  }

  /// Writes `batch` to `s` through `delivery`, counting what it applied.
  template <class S>
  result<void> deliver(S& s, const std::vector<entry>& batch, std::size_t& copied, repair_report& out) {
    if (batch.empty()) return success();
    delivery<S, Retry, Sizer, Clock> to(s, retry_, sizer_, clock_);
    const delivery_report done = to.deliver(
        batch, [](std::size_t, std::span<const entry>, const write_report&) {},
        [&](std::size_t at, const error& why) -> result<void> {
          out.refused.push_back({batch[at].key, why});
          return success();
        });
    copied += done.written.applied;
    out.raced += done.written.unchanged + done.written.stale;
    if (done.stopped_by) return *done.stopped_by;
    return success();
  }

  Left& left_;
  Right& right_;
  Retry retry_;
  Sizer sizer_;
  Clock clock_;
  projection project_;
};

}  // namespace storesync
