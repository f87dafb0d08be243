#pragma once
// The simulators' command line: runs seeds of a world and reports the first
// broken invariant with the command that replays it.
//
//   bazel run //tests/simulation:<strategy>_sim -- --seed=42 --steps=10000 --trace
//   bazel run //tests/simulation:<strategy>_sim -- --seed=1 --seeds=100000 --steps=1000
//   ... --regressions=FILE    first runs each "SEED STEPS" line of FILE (# comments)
//   ... --determinism=N       runs the first N seeds twice: both runs must
//                             trace the same lines and count the same
//
// A World is made from (seed, directory, trace), where `directory` is an
// empty place for its files, and has `run(steps)` (the first broken
// invariant, or nothing) and `counts()` (sim_world.hpp).

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>  // mkdtemp
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tests/simulation/sim_world.hpp"

namespace storesync::sim {

struct sim_arguments {
  std::uint64_t seed = 1;
  std::uint64_t seeds = 1;
  std::uint64_t steps = 10'000;
  bool trace = false;
  std::string regressions;
  std::uint64_t determinism = 0;
};

inline bool parse_sim_arguments(int argc, char** argv, sim_arguments& a) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    const auto number = [&](std::string_view flag, std::uint64_t& out) {
      if (!arg.starts_with(flag)) return false;
      char* end = nullptr;
      const std::string text(arg.substr(flag.size()));
      out = std::strtoull(text.c_str(), &end, 10);
      return !text.empty() && *end == '\0';
    };
    if (number("--seed=", a.seed) || number("--seeds=", a.seeds) || number("--steps=", a.steps) ||
        number("--determinism=", a.determinism))
      continue;
    if (arg == "--trace") a.trace = true;
    else if (arg.starts_with("--regressions=")) a.regressions = arg.substr(14);
    else {
      std::fprintf(stderr, "unknown or malformed argument: %s\n", argv[i]);
      return false;
    }
  }
  return true;
}

/// (seed, steps): the regressions of `file` with their own step counts.
inline bool read_regressions(const std::string& file, std::vector<std::pair<std::uint64_t, std::uint64_t>>& runs) {
  std::ifstream in(file);
  if (!in) {
    std::fprintf(stderr, "cannot read %s\n", file.c_str());
    return false;
  }
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    unsigned long long seed = 0, steps = 0;
    if (std::sscanf(line.c_str(), "%llu %llu", &seed, &steps) != 2) {
      std::fprintf(stderr, "%s: not \"SEED STEPS\": %s\n", file.c_str(), line.c_str());
      return false;
    }
    runs.emplace_back(seed, steps);
  }
  return true;
}

/// The main of simulator `name` (its Bazel target's name).
template <class World>
int run_simulator(int argc, char** argv, const char* name) {
  sim_arguments a;
  if (!parse_sim_arguments(argc, argv, a)) {
    std::fprintf(stderr,
                 "usage: %s [--seed=N] [--seeds=M] [--steps=K] [--trace] [--regressions=FILE] [--determinism=N]\n",
                 name);
    return 2;
  }
  std::vector<std::pair<std::uint64_t, std::uint64_t>> runs;
  if (!a.regressions.empty() && !read_regressions(a.regressions, runs)) return 2;
  for (std::uint64_t s = a.seed; s < a.seed + a.seeds; ++s) runs.emplace_back(s, a.steps);

  // The worlds' files live in memory (/dev/shm) where there is one: their
  // fsyncs would otherwise set the pace, and a simulated crash keeps the
  // files anyway (a process crash, not a power cut).
  const char* tmp = std::getenv("TEST_TMPDIR");
  const std::filesystem::path base = std::filesystem::is_directory("/dev/shm") ? "/dev/shm" : tmp ? tmp : "/tmp";
  std::string made = (base / (std::string(name) + ".XXXXXX")).string();
  if (!::mkdtemp(made.data())) {
    std::perror(made.c_str());
    return 2;
  }
  const auto directory = std::filesystem::path(made) / "world";
  run_counts total;
  std::uint64_t failed = 0;
  const auto started = std::chrono::steady_clock::now();
  for (const auto& [seed, steps] : runs) {
    std::optional<failure> broken;
    run_counts counts;
    std::uint64_t fingerprint = 0;
    {
      World w(seed, directory, a.trace);
      broken = w.run(steps);
      counts = w.counts();
      fingerprint = w.fingerprint();
      for (const auto& [what, n] : counts) total[what] += n;
    }
    if (!broken && seed >= a.seed && seed < a.seed + a.determinism) {
      World again(seed, directory, false);
      const auto second = again.run(steps);
      if (second || again.counts() != counts || again.fingerprint() != fingerprint)
        broken = failure{steps, "a second run of the seed traced or counted differently (" +
                                    std::to_string(counts["steps"]) + " steps, then " +
                                    std::to_string(again.counts().count("steps") ? again.counts().at("steps") : 0) +
                                    "): the run is not a function of its seed"};
    }
    if (broken) {
      ++failed;
      std::printf("seed %llu broke an invariant at step %llu: %s\n  replay: bazel run //tests/simulation:%s -- "
                  "--seed=%llu --steps=%llu --trace\n",
                  static_cast<unsigned long long>(seed), static_cast<unsigned long long>(broken->step),
                  broken->what.c_str(), name, static_cast<unsigned long long>(seed),
                  static_cast<unsigned long long>(steps));
    }
  }
  std::filesystem::remove_all(made);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::string figures;
  for (const auto& [what, n] : total) figures += ", " + std::to_string(n) + " " + what;
  std::printf("%zu runs (regressions, then seeds x %llu steps): %llu failed%s; %.1f s, %.0f steps/s\n", runs.size(),
              static_cast<unsigned long long>(a.steps), static_cast<unsigned long long>(failed), figures.c_str(),
              seconds, static_cast<double>(total["steps"]) / seconds);
  return failed == 0 ? 0 : 1;
}

}  // namespace storesync::sim
