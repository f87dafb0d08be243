#pragma once
/// \file
/// The BatchSizer: how many items the next batch should hold, learned from
/// the outcome of each batch. Also `batch_outcome`, the default model
/// `fixed_batch_sizer`, and `run_batch()`, which sizes, times and reports one
/// batch.
///
/// \code
///   storesync::aimd_batch_sizer sizer{{.max_size = 5000, .target_duration = 200ms}};
///   storesync::system_clock clock;
///   while (!pending.empty()) {
///     storesync::batch_outcome o = storesync::run_batch(sizer, clock, pending.size(),
///         [&](std::size_t n) -> std::size_t {          // write n items, return how many failed
///           auto r = sink.write(std::span(pending).first(n));
///           return r ? 0 : n;
///         });
///     pending.erase(pending.begin(), pending.begin() + o.size);
///   }
/// \endcode

#include <algorithm>
#include <chrono>
#include <concepts>
#include <cstddef>
#include <functional>
#include <type_traits>

#include "storesync/core/result.hpp"
#include "storesync/policy/clock.hpp"

namespace storesync {

/// What happened to one batch: how many items it held, how long the write
/// took, and how many of its items failed (all of them when an atomic batch
/// write failed as a whole).
struct batch_outcome {
  std::size_t size = 0;
  std::chrono::nanoseconds duration{0};
  std::size_t failed = 0;

  /// `failed / size`, 0 for an empty batch.
  double failure_rate() const noexcept {
    return size == 0 ? 0.0 : static_cast<double>(failed) / static_cast<double>(size);
  }
  friend constexpr bool operator==(const batch_outcome&, const batch_outcome&) = default;
};

/// Chooses the size of the next batch from the outcomes of earlier ones.
///
/// **Requirements** (`s` an `S&`, `cs` a `const S&`, `o` a `const batch_outcome&`)
/// | expression       | returns                      | meaning |
/// |------------------|------------------------------|---------|
/// | `cs.next_size()` | `std::size_t`, `noexcept`    | the size to use for the next batch, at least 1 |
/// | `s.record(o)`    | any (discarded), `noexcept`  | feeds back the outcome of the batch just written |
///
/// **Guarantees**:
/// - `next_size() >= 1`.
/// - Neither call allocates or blocks.
/// - A strategy may write fewer items than `next_size()` (not enough
///   pending) and reports the size it really used.
/// - `S` is copyable.
///
/// **Errors**: none; a failed batch is an input (`o.failed`), not an error.
/// **Thread safety**: none required: a strategy never calls one sizer from
/// two threads at once (it calls from one thread, or under a lock). Models
/// are not thread-safe unless documented.
/// **Models**: `fixed_batch_sizer`, `aimd_batch_sizer`.
///
/// A type models `batch_sizer` if it is copyable and `next_size` proposes, at
/// least 1 and without throwing, the size of the next batch, learning from
/// each outcome that `record` feeds it.
template <class S>
concept batch_sizer = std::copy_constructible<S> && requires(S& s, const S& cs, const batch_outcome& o) {
  { cs.next_size() } noexcept -> std::same_as<std::size_t>;
  { s.record(o) } noexcept;
};

/// Always the same size, whatever happens.
class fixed_batch_sizer {
 public:
  struct config {
    /// Items per batch (values below 1 count as 1).
    std::size_t size = 1000;

    result<void> validate() const {
      if (size < 1) return error{errc::invalid_argument, "fixed_batch_sizer: size must be >= 1"};
      return success();
    }
  };

  fixed_batch_sizer() = default;
  explicit fixed_batch_sizer(const config& c) noexcept : config_(c) {}
  explicit fixed_batch_sizer(std::size_t size) noexcept : config_{size} {}

  std::size_t next_size() const noexcept { return std::max<std::size_t>(config_.size, 1); }
  void record(const batch_outcome&) noexcept {}

  config& configuration() noexcept { return config_; }
  const config& configuration() const noexcept { return config_; }

 private:
  config config_;
};
static_assert(batch_sizer<fixed_batch_sizer>);

/// Sizes one batch from `sizer` (at most `available` items), runs
/// `write(n)` (which writes `n` items and returns how many of them failed),
/// times it on `clock`, feeds the outcome back to `sizer` and returns it.
/// Returns an outcome of size 0 without calling `write` when `available` is 0.
template <class Sizer, class Clock, class Write>
  requires batch_sizer<std::remove_cvref_t<Sizer>> && clock<std::remove_cvref_t<Clock>> &&
           std::is_invocable_r_v<std::size_t, Write&, std::size_t>
batch_outcome run_batch(Sizer&& sizer, Clock&& clock, std::size_t available, Write&& write) {
  if (available == 0) return {};
  const std::size_t n = std::min(sizer.next_size(), available);
  const auto start = clock.now();
  const std::size_t failed = std::invoke(write, n);
  const batch_outcome o{n, std::chrono::duration_cast<std::chrono::nanoseconds>(clock.now() - start),
                        std::min(failed, n)};
  sizer.record(o);
  return o;
}

}  // namespace storesync
