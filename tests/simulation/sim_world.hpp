#pragma once
// What every simulated world shares: the seeded simulation, the step
// counter, the first broken invariant, named counts and a trace. A world
// (write_behind_world, dual_write_world, write_back_world) adds its stores,
// its workload and its invariants, and is run by run_simulator
// (sim_runner.hpp).

#include <cstdint>
#include <cstdio>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <utility>

#include "storesync/policy/simulation.hpp"

namespace storesync::sim {

/// The first step that broke an invariant.
struct failure {
  std::uint64_t step = 0;
  std::string what;
};

/// Named counts over a run (steps, acknowledged writes, crashes, ...),
/// summed over a sweep for the figures.
using run_counts = std::map<std::string, std::uint64_t>;

class world_base {
 public:
  const run_counts& counts() const noexcept { return counts_; }

  /// A hash of every line the run traced (traced or not): two runs of one
  /// seed must agree on it, or the run is not a function of its seed.
  std::uint64_t fingerprint() const noexcept { return fingerprint_; }

 protected:
  world_base(std::uint64_t seed, bool trace, const char* name)
      : seed_(seed), trace_(trace), sim_(seed, std::string(name) + " seed " + std::to_string(seed)) {}

  /// Uniform in [0, n).
  std::uint64_t draw(std::uint64_t n) { return std::uniform_int_distribution<std::uint64_t>(0, n - 1)(sim_.random()); }
  bool chance(double p) { return std::uniform_real_distribution<double>(0, 1)(sim_.random()) < p; }

  void log(const std::string& line) const {
    // FNV-1a over the step and the line.
    const auto mix = [this](unsigned char byte) { fingerprint_ = (fingerprint_ ^ byte) * 0x100000001b3ull; };
    for (int shift = 0; shift < 64; shift += 8) mix(static_cast<unsigned char>(step_ >> shift));
    for (const char ch : line) mix(static_cast<unsigned char>(ch));
    if (trace_) std::printf("[%llu] %s\n", static_cast<unsigned long long>(step_), line.c_str());
  }
  /// Keeps the first broken invariant.
  void fail(std::string what) {
    if (!failed_) failed_ = failure{step_, std::move(what)};
  }

  std::uint64_t seed_;
  bool trace_;
  simulation sim_;
  std::uint64_t step_ = 0;
  std::optional<failure> failed_;
  run_counts counts_;
  mutable std::uint64_t fingerprint_ = 0xcbf29ce484222325ull;
};

}  // namespace storesync::sim
