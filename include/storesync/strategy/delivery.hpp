#pragma once
/// \file
/// `delivery<Sink, Retry, Sizer, Clock>`: writes batches to a store the way
/// every strategy must, so that none of them grows its own copy:
/// - each batch is written under the RetryPolicy;
/// - a batch the store refuses (a permanent error, invalid input, a
///   conflict) is split in halves until the refused entries stand alone, and
///   each of those is handed to the caller to dead-letter with its error,
///   while the rest of the batch goes on;
/// - when the store stays unreachable through the retries (the error is
///   still transient, unavailable or overloaded), delivery stops and says
///   how far it got: an outage never creates dead letters;
/// - every write attempt feeds the BatchSizer, whose next size any thread
///   may read.
///
/// \code
///   storesync::delivery<storesync::postgres_store> to_pg(pg, {}, {}, clock);
///   const auto done = to_pg.deliver(
///       batch,
///       [&](std::size_t first, std::span<const storesync::entry> part, const storesync::write_report& verdicts) {
///         progress += part.size();            // `part` is batch[first, first + part.size())
///       },
///       [&](std::size_t at, const storesync::error& why) -> storesync::result<void> {
///         return letters.add(batch[at], why);  // failing here stops delivery at `at`
///       });
///   if (done.settled < batch.size()) requeue(batch.subspan(done.settled));  // unreachable: try later
/// \endcode
///
/// A sink that models `checkpoint_store` can take a checkpoint with each
/// write (`deliver(batch, checkpoint_at, ...)`): every part it takes, the
/// whole batch or a half of a split one, commits in the same transaction
/// the checkpoint that holds once the batch is settled up to that part's
/// end. So the store never holds an entry past its committed checkpoint,
/// wherever delivery stops (a write-back that resumes from the checkpoint
/// finds nothing above it that it did not write).
///
/// Thread safety: `deliver` is called by one thread at a time (it drives
/// the RetryPolicy and the BatchSizer, which need not be thread-safe);
/// `batch_size`, `retries` and `failing_attempts` may be read from any
/// thread.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "storesync/core/entry.hpp"
#include "storesync/core/result.hpp"
#include "storesync/core/store.hpp"
#include "storesync/metrics/registry.hpp"
#include "storesync/policy/aimd_batch_sizer.hpp"
#include "storesync/policy/batch_sizer.hpp"
#include "storesync/policy/clock.hpp"
#include "storesync/policy/exponential_backoff.hpp"
#include "storesync/policy/retry_policy.hpp"

namespace storesync {

/// What `delivery::deliver` did with a batch.
struct delivery_report {
  /// Leading entries settled: written, or refused and dead-lettered. Fewer
  /// than the batch means delivery stopped (see `stopped_by`); the rest is
  /// still owed and nothing of it was written or dead-lettered.
  std::size_t settled = 0;
  /// Entries the store took, and its version guard's verdicts on them.
  write_report written;
  /// Entries refused alone and accepted by the dead-letter callback.
  std::size_t dead_lettered = 0;
  /// Why delivery stopped before the end: the store stayed unreachable, or
  /// the dead-letter callback failed.
  std::optional<error> stopped_by;
  /// The checkpoint given with the batch was committed (always false for a
  /// delivery without one).
  bool checkpointed = false;
};

/// Where a `delivery` counts what it does: `<prefix>_flushed_total`,
/// `<prefix>_dead_lettered_total`, `<prefix>_retries_total` and
/// `<prefix>_batch_seconds` in `registry`.
struct delivery_metrics {
  metrics_registry& registry;
  std::string_view prefix;
};

template <store Sink, retry_policy Retry = exponential_backoff, batch_sizer Sizer = aimd_batch_sizer,
          clock Clock = system_clock>
class delivery {
 public:
  using sink_type = Sink;

  /// Writes to `sink`, which must outlive this object, as must `clock`.
  delivery(Sink& sink, Retry retry, Sizer sizer, Clock& clock, std::optional<delivery_metrics> metrics = {})
      : sink_(sink), retry_(std::move(retry)), sizer_(std::move(sizer)), clock_(clock) {
    batch_size_.store(sizer_.next_size(), std::memory_order_relaxed);
    if (!metrics) return;
    const std::string p(metrics->prefix);
    written_total_ = metrics->registry.counter(p + "_flushed_total", "Entries written to the store.");
    dead_lettered_total_ = metrics->registry.counter(p + "_dead_lettered_total",
                                                     "Entries the store refused, sent to dead letters.");
    retries_total_ = metrics->registry.counter(p + "_retries_total",
                                               "Write attempts repeated after a retryable failure.");
    batch_seconds_ = metrics->registry.histogram(p + "_batch_seconds",
                                                 "Time to write one batch to the store, retries included.");
  }

  delivery(const delivery&) = delete;
  delivery& operator=(const delivery&) = delete;

  /// Writes `batch` as described above. Calls `written(first, part,
  /// verdicts)` after the store took `batch[first, first + part.size())`,
  /// and `refused(index, why) -> result<void>` for an entry the store
  /// refused alone; when `refused` fails, delivery stops at `index` with
  /// that error (the entry is still owed).
  template <class Written, class Refused>
  delivery_report deliver(std::span<const entry> batch, Written&& written, Refused&& refused) {
    delivery_report report;
    report.settled = deliver_part(batch, 0, batch.size(), nullptr, written, refused, report);
    return report;
  }

  /// As `deliver`, and each part the store takes commits, in the same
  /// transaction, `checkpoint_at(end)`: the checkpoint that holds once
  /// `batch[0, end)` is settled, `end` being the part's end (the whole
  /// batch's, `batch.size()`, when the store takes it whole). When the batch
  /// ends in refused entries, or is empty, `checkpoint_at(batch.size())` is
  /// committed alone after them (under the RetryPolicy too). `checkpointed`
  /// says whether the batch's own checkpoint was committed; when delivery
  /// stops early, or the store stays unreachable for it, it was not
  /// (`stopped_by` says why), and the last part written committed its own.
  template <class Written, class Refused>
    requires checkpoint_store<Sink>
  delivery_report deliver(std::span<const entry> batch, const std::function<checkpoint(std::size_t)>& checkpoint_at,
                          Written&& written, Refused&& refused) {
    delivery_report report;
    if (!batch.empty()) report.settled = deliver_part(batch, 0, batch.size(), &checkpoint_at, written, refused, report);
    if (report.settled < batch.size() || report.checkpointed) return report;
    const checkpoint cp = checkpoint_at(batch.size());
    auto r = write_retried([&] { return sink_.write_with_checkpoint({}, cp); });
    if (r.outcome) report.checkpointed = true;
    else report.stopped_by = std::move(r.outcome).error();
    return report;
  }

  /// The BatchSizer's next size; any thread may call it.
  std::size_t batch_size() const noexcept { return batch_size_.load(std::memory_order_relaxed); }

  /// Write attempts repeated under the RetryPolicy so far, counted as each
  /// starts; any thread may call it.
  std::uint64_t retries() const noexcept { return retries_.load(std::memory_order_relaxed); }

  /// Retryable failures so far of the write in progress (a batch, or a part
  /// of one being split): 0 unless a write is being retried now. Any thread
  /// may call it.
  std::uint32_t failing_attempts() const noexcept { return failing_.load(std::memory_order_relaxed); }

  /// The policies, to inspect or retune between deliveries.
  Retry& retry() noexcept { return retry_; }
  Sizer& sizer() noexcept { return sizer_; }
  Sink& sink() noexcept { return sink_; }

 private:
  // `write` under the RetryPolicy, counting the attempts it repeats.
  template <class Write>
  auto write_retried(Write&& write) {
    bool first = true;
    auto r = storesync::retry(retry_, clock_, [&] {
      if (!std::exchange(first, false)) {
        retries_.fetch_add(1, std::memory_order_relaxed);
        retries_total_.inc();
      }
      auto attempt = write();
      if (!attempt && is_retryable(attempt.error())) failing_.fetch_add(1, std::memory_order_relaxed);
      return attempt;
    });
    failing_.store(0, std::memory_order_relaxed);
    return r;
  }

  // Writes `part`, batch[first, first + part.size()) of a batch of `total`
  // entries, with `checkpoint_at(first + part.size())` when given.
  template <class Written, class Refused>
  std::size_t deliver_part(std::span<const entry> part, std::size_t first, std::size_t total,
                           const std::function<checkpoint(std::size_t)>* checkpoint_at, Written& written,
                           Refused& refused, delivery_report& report) {
    const std::size_t end = first + part.size();
    std::optional<checkpoint> cp;
    if (checkpoint_at != nullptr) cp = (*checkpoint_at)(end);
    const auto start = clock_.now();
    auto r = write_retried([&] {
      if constexpr (checkpoint_store<Sink>) {
        if (cp) return sink_.write_with_checkpoint(part, *cp);
      }
      return sink_.write(part);
    });
    const auto took = std::chrono::duration_cast<std::chrono::nanoseconds>(clock_.now() - start);
    batch_seconds_.observe(took);
    sizer_.record({part.size(), took, r.outcome ? 0 : part.size()});
    batch_size_.store(sizer_.next_size(), std::memory_order_relaxed);
    if (r.outcome) {
      const write_report& verdicts = r.outcome.value();
      report.written += verdicts;
      if (cp && end == total) report.checkpointed = true;
      written_total_.inc(part.size());
      written(first, part, verdicts);
      return part.size();
    }
    if (is_retryable(r.outcome.error())) {
      report.stopped_by = std::move(r.outcome).error();
      return 0;
    }
    if (part.size() == 1) {
      if (auto kept = refused(first, r.outcome.error()); !kept) {
        report.stopped_by = std::move(kept).error();
        return 0;
      }
      ++report.dead_lettered;
      dead_lettered_total_.inc();
      return 1;
    }
    // Refused: split until the refused entries stand alone.
    const std::size_t half = part.size() / 2;
    const std::size_t left = deliver_part(part.first(half), first, total, checkpoint_at, written, refused, report);
    if (left < half) return left;
    return half + deliver_part(part.subspan(half), first + half, total, checkpoint_at, written, refused, report);
  }

  Sink& sink_;
  [[no_unique_address]] Retry retry_;
  [[no_unique_address]] Sizer sizer_;
  Clock& clock_;
  std::atomic<std::size_t> batch_size_{1};
  std::atomic<std::uint64_t> retries_{0};
  std::atomic<std::uint32_t> failing_{0};
  counter written_total_;
  counter dead_lettered_total_;
  counter retries_total_;
  histogram batch_seconds_;
};

}  // namespace storesync
