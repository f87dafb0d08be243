#pragma once
/// \file
/// `aimd_batch_sizer`: batch sizes that grow while batches are fast and clean,
/// shrink multiplicatively when the failure rate or the duration passes its
/// target, and walk down toward 1 after failed batches so one poison record
/// ends up alone in a batch.
///
/// \code
///   using namespace std::chrono_literals;
///   storesync::aimd_batch_sizer sizer{{.min_size = 10, .max_size = 20'000, .initial_size = 500,
///                                      .target_duration = 250ms}};
///   std::size_t n = sizer.next_size();
///   sizer.record({.size = n, .duration = took, .failed = failed});
/// \endcode
///
/// The rule, applied to each outcome `o` (size `n`, duration `d`, target `T`):
/// - **failure rate above the threshold** (a failed atomic batch counts every
///   item as failed): `size = floor(min(size, n) * multiplicative_decrease)`,
///   at least one smaller, down to 1 (not `min_size`: isolating a poison record
///   needs a batch of one). Growth then waits for two clean batches in a row:
///   the strategy retries the failed items in order, so with halving and a
///   pause this is a binary search that reaches the poison record in at most
///   log2(size) failed batches.
/// - **clean but slower than the target**: shrink to the size the measured
///   per-item time predicts would take `T` (`n * T / d`), by at most the
///   multiplicative decrease, never below `min_size`.
/// - **clean and faster than the target**: grow by `additive_step`, or by half
///   the distance to the predicted target size `n * T / d` when that is larger,
///   never beyond that prediction nor `max_size` (a zero duration carries no
///   timing information: plain additive increase). For a sink whose duration is
///   linear in the batch size this approaches the largest size meeting the
///   target geometrically from below instead of oscillating around it, which a
///   pure additive-increase/halve rule would do.
///
/// JSON (policy/config.hpp; all optional): `{"min_size": 1, "max_size": 10000, "initial_size": 100,
/// "target_duration_ms": 500, "failure_rate_threshold": 0.1, "additive_step": 100,
/// "multiplicative_decrease": 0.5}`

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>

#include "storesync/core/result.hpp"
#include "storesync/policy/batch_sizer.hpp"

namespace storesync {

/// Additive-increase / multiplicative-decrease batch sizing (see the file
/// comment for the exact rule). A plain value; not thread-safe (one flusher
/// owns it).
class aimd_batch_sizer {
 public:
  struct config {
    /// Smallest size for duration-driven shrinking (failures go down to 1).
    std::size_t min_size = 1;
    /// Largest size ever returned.
    std::size_t max_size = 10'000;
    /// The first batch's size (clamped into [min_size, max_size]).
    std::size_t initial_size = 100;
    /// A batch should take at most this long.
    std::chrono::milliseconds target_duration{500};
    /// A batch whose failed/size exceeds this counts as failed.
    double failure_rate_threshold = 0.1;
    /// The least a clean, fast batch grows the size by.
    std::size_t additive_step = 100;
    /// The factor applied on failure (and the deepest cut for slowness), in (0, 1).
    double multiplicative_decrease = 0.5;

    result<void> validate() const {
      auto bad = [](const char* what) { return error{errc::invalid_argument, what}; };
      if (min_size < 1) return bad("aimd_batch_sizer: min_size must be >= 1");
      if (max_size < min_size) return bad("aimd_batch_sizer: max_size must be >= min_size");
      if (target_duration.count() <= 0) return bad("aimd_batch_sizer: target_duration_ms must be > 0");
      if (!(failure_rate_threshold >= 0 && failure_rate_threshold < 1))
        return bad("aimd_batch_sizer: failure_rate_threshold must be in [0, 1)");
      if (additive_step < 1) return bad("aimd_batch_sizer: additive_step must be >= 1");
      if (!(multiplicative_decrease > 0 && multiplicative_decrease < 1))
        return bad("aimd_batch_sizer: multiplicative_decrease must be in (0, 1)");
      return success();
    }
  };

  /// Clean batches in a row needed after a failed one before growth resumes.
  static constexpr std::uint32_t clean_batches_before_growth = 2;

  aimd_batch_sizer() : aimd_batch_sizer(config{}) {}
  /// Out-of-range numbers are clamped; `config::validate` / `load_config` reject them.
  explicit aimd_batch_sizer(const config& c) : config_(c) {
    config_.min_size = std::max<std::size_t>(config_.min_size, 1);
    config_.max_size = std::max(config_.max_size, config_.min_size);
    config_.additive_step = std::max<std::size_t>(config_.additive_step, 1);
    config_.target_duration = std::max(config_.target_duration, std::chrono::milliseconds(1));
    if (!(config_.multiplicative_decrease > 0 && config_.multiplicative_decrease < 1))
      config_.multiplicative_decrease = 0.5;
    size_ = std::clamp(config_.initial_size, config_.min_size, config_.max_size);
  }

  std::size_t next_size() const noexcept { return std::min(size_, config_.max_size); }

  void record(const batch_outcome& o) noexcept {
    if (o.size == 0) return;
    const double decrease = config_.multiplicative_decrease;
    if (o.failure_rate() > config_.failure_rate_threshold) {
      const std::size_t base = std::min(size_, o.size);
      auto next = static_cast<std::size_t>(static_cast<double>(base) * decrease);
      if (next >= base) next = base - 1;
      size_ = std::max<std::size_t>(next, 1);
      clean_streak_ = 0;
      return;
    }
    if (clean_streak_ < clean_batches_before_growth) ++clean_streak_;

    const double target = static_cast<double>(std::chrono::nanoseconds(config_.target_duration).count());
    const double took = static_cast<double>(o.duration.count());
    const double max = static_cast<double>(config_.max_size);
    // The size the measured per-item time predicts would take exactly the target.
    const double predicted = took > 0 ? std::min(max, static_cast<double>(o.size) * target / took) : max;
    const double current = static_cast<double>(size_);

    if (took > target) {
      const double next = std::max(predicted, current * decrease);
      const std::size_t lower = std::max<std::size_t>(std::min(config_.min_size, size_), 1);
      const std::size_t smaller = size_ > 1 ? size_ - 1 : 1;
      size_ = std::max(std::min(smaller, static_cast<std::size_t>(next)), lower);
      return;
    }
    if (clean_streak_ < clean_batches_before_growth) return;  // recovering from a failure
    if (size_ < config_.min_size) {
      size_ = config_.min_size;
      return;
    }
    if (took <= 0) {  // no timing information: plain additive increase
      size_ = std::min(size_ + config_.additive_step, config_.max_size);
      return;
    }
    if (predicted <= current) return;  // at the target already
    const double step = std::max(static_cast<double>(config_.additive_step), (predicted - current) / 2);
    const double next = std::min(current + step, predicted);
    size_ = std::clamp(static_cast<std::size_t>(next), size_, config_.max_size);
  }

  /// The numbers in use; may be retuned between batches (`next_size` never
  /// exceeds the current `max_size`).
  config& configuration() noexcept { return config_; }
  const config& configuration() const noexcept { return config_; }

 private:
  config config_;
  std::size_t size_ = 1;
  std::uint32_t clean_streak_ = clean_batches_before_growth;
};
static_assert(batch_sizer<aimd_batch_sizer>);

}  // namespace storesync
