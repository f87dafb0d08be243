#pragma once
/// \file
/// A tiny seedable random source for jittered delays (internal).

#include <cstdint>
#include <chrono>
#include <random>

namespace storesync::detail {

/// SplitMix64: 8 bytes of state, a few nanoseconds per draw, good enough
/// statistics for jitter. Not for cryptography.
class splitmix64 {
 public:
  explicit splitmix64(std::uint64_t seed) noexcept : state_(seed) {}

  std::uint64_t next() noexcept {
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }

  /// Uniform in [0, bound], both ends included (Lemire's multiply-shift; the
  /// bias is below 2^-64 * bound, far under what jitter cares about).
  std::uint64_t uniform_to(std::uint64_t bound) noexcept {
    if (bound == UINT64_MAX) return next();
    // __extension__: the 128-bit product is a GCC/Clang extension, which
    // -Wpedantic would otherwise report in every host program.
    __extension__ typedef unsigned __int128 wide;
    return static_cast<std::uint64_t>((wide{next()} * (wide{bound} + 1)) >> 64);
  }

 private:
  std::uint64_t state_;
};

/// A seed for "seed = 0" configurations: std::random_device when it works,
/// otherwise the clock (random_device may throw on exotic platforms).
inline std::uint64_t fresh_seed() noexcept {
  try {
    std::random_device rd;
    return (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
  } catch (...) {
    return static_cast<std::uint64_t>(
        std::chrono::steady_clock::now().time_since_epoch().count());
  }
}

}  // namespace storesync::detail
