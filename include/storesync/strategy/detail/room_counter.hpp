#pragma once
// Lock-free room counting under two bounds (entries and bytes) for writers
// that reserve room before they add to a structure guarded by a lock.

#include <atomic>
#include <cstddef>

namespace storesync::detail {

/// What the guarded structure holds (published by its owner under its lock)
/// and what writers have reserved but not yet added are separate counters,
/// so a reservation needs no lock. The owner publishes what it holds before
/// a reservation is released, so a concurrent check can count an entry
/// twice, never miss it: the bounds are never exceeded.
class room_counter {
 public:
  room_counter(std::size_t max_entries, std::size_t max_bytes) noexcept
      : max_entries_(max_entries), max_bytes_(max_bytes) {}

  /// Reserves one entry of `cost` bytes if that stays within both bounds.
  bool try_reserve(std::size_t cost) noexcept {
    const std::size_t n = reserved_entries_.fetch_add(1, std::memory_order_acq_rel) + 1;
    const std::size_t b = reserved_bytes_.fetch_add(cost, std::memory_order_acq_rel) + cost;
    if (held_entries_.load(std::memory_order_acquire) + n <= max_entries_ &&
        held_bytes_.load(std::memory_order_acquire) + b <= max_bytes_)
      return true;
    release(cost);
    return false;
  }

  /// Gives back a reservation of `cost` bytes (its entry was added and
  /// published, or the write failed).
  void release(std::size_t cost) noexcept {
    reserved_entries_.fetch_sub(1, std::memory_order_acq_rel);
    reserved_bytes_.fetch_sub(cost, std::memory_order_acq_rel);
  }

  /// Publishes what the structure holds now.
  void hold(std::size_t entries, std::size_t bytes) noexcept {
    held_entries_.store(entries, std::memory_order_release);
    held_bytes_.store(bytes, std::memory_order_release);
  }

  std::size_t max_entries() const noexcept { return max_entries_; }

 private:
  const std::size_t max_entries_;
  const std::size_t max_bytes_;
  std::atomic<std::size_t> held_entries_{0};
  std::atomic<std::size_t> held_bytes_{0};
  std::atomic<std::size_t> reserved_entries_{0};
  std::atomic<std::size_t> reserved_bytes_{0};
};

}  // namespace storesync::detail
