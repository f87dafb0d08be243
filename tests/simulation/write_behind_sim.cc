// The write-behind simulator: runs seeds of tests/simulation/write_behind_world
// and reports the first broken invariant with the seed that replays it.
//
//   bazel run //tests/simulation:write_behind_sim -- --seed=42 --steps=10000 --trace
//   bazel run //tests/simulation:write_behind_sim -- --seed=1 --seeds=100000 --steps=1000
//   ... --regressions=FILE    first runs each "SEED STEPS" line of FILE (# comments)

#include <chrono>
#include <cstdio>
#include <cstdlib>  // mkdtemp
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tests/simulation/write_behind_world.hpp"

namespace {

struct arguments {
  std::uint64_t seed = 1;
  std::uint64_t seeds = 1;
  std::uint64_t steps = 10'000;
  bool trace = false;
  std::string regressions;
};

bool parse(int argc, char** argv, arguments& a) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    const auto number = [&](std::string_view flag, std::uint64_t& out) {
      if (!arg.starts_with(flag)) return false;
      char* end = nullptr;
      const std::string text(arg.substr(flag.size()));
      out = std::strtoull(text.c_str(), &end, 10);
      return !text.empty() && *end == '\0';
    };
    if (number("--seed=", a.seed) || number("--seeds=", a.seeds) || number("--steps=", a.steps)) continue;
    if (arg == "--trace") a.trace = true;
    else if (arg.starts_with("--regressions=")) a.regressions = arg.substr(14);
    else {
      std::fprintf(stderr, "unknown or malformed argument: %s\n", argv[i]);
      return false;
    }
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  arguments a;
  if (!parse(argc, argv, a)) {
    std::fprintf(stderr, "usage: write_behind_sim [--seed=N] [--seeds=M] [--steps=K] [--trace] [--regressions=FILE]\n");
    return 2;
  }
  // (seed, steps): the regressions with their own step counts, then the range.
  std::vector<std::pair<std::uint64_t, std::uint64_t>> runs;
  if (!a.regressions.empty()) {
    std::ifstream in(a.regressions);
    if (!in) {
      std::fprintf(stderr, "cannot read %s\n", a.regressions.c_str());
      return 2;
    }
    for (std::string line; std::getline(in, line);) {
      if (line.empty() || line[0] == '#') continue;
      unsigned long long seed = 0, steps = 0;
      if (std::sscanf(line.c_str(), "%llu %llu", &seed, &steps) != 2) {
        std::fprintf(stderr, "%s: not \"SEED STEPS\": %s\n", a.regressions.c_str(), line.c_str());
        return 2;
      }
      runs.emplace_back(seed, steps);
    }
  }
  for (std::uint64_t s = a.seed; s < a.seed + a.seeds; ++s) runs.emplace_back(s, a.steps);

  // The journals live in memory (/dev/shm) where there is one: their
  // checkpoints' fsyncs would otherwise set the pace, and a simulated crash
  // keeps the files anyway (a process crash, not a power cut).
  const char* tmp = std::getenv("TEST_TMPDIR");
  const std::filesystem::path base = std::filesystem::is_directory("/dev/shm") ? "/dev/shm" : tmp ? tmp : "/tmp";
  std::string made = (base / "write_behind_sim.XXXXXX").string();
  if (!::mkdtemp(made.data())) {
    std::perror(made.c_str());
    return 2;
  }
  const auto directory = std::filesystem::path(made) / "journals";
  storesync::sim::run_counts total;
  std::uint64_t failed = 0;
  const auto started = std::chrono::steady_clock::now();
  for (const auto& [seed, steps] : runs) {
    storesync::sim::world w(seed, directory, a.trace);
    const auto broken = w.run(steps);
    const auto& c = w.counts();
    total.steps += c.steps;
    total.acknowledged += c.acknowledged;
    total.crashes += c.crashes;
    total.restarts += c.restarts;
    total.outages += c.outages;
    total.complete_flushes += c.complete_flushes;
    total.switches += c.switches;
    if (broken) {
      ++failed;
      std::printf("seed %llu broke an invariant at step %llu: %s\n  replay: bazel run //tests/simulation:write_behind_sim -- --seed=%llu --steps=%llu --trace\n",
                  static_cast<unsigned long long>(seed), static_cast<unsigned long long>(broken->step),
                  broken->what.c_str(), static_cast<unsigned long long>(seed), static_cast<unsigned long long>(steps));
    }
  }
  std::filesystem::remove_all(made);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::printf("%zu runs (regressions, then seeds x %llu steps): %llu failed; %llu steps, %llu writes acknowledged, %llu crashes, %llu restarts, "
              "%llu outage changes, %llu complete flushes, %llu thread hand-overs; %.1f s, %.0f steps/s\n",
              runs.size(), static_cast<unsigned long long>(a.steps), static_cast<unsigned long long>(failed),
              static_cast<unsigned long long>(total.steps), static_cast<unsigned long long>(total.acknowledged),
              static_cast<unsigned long long>(total.crashes), static_cast<unsigned long long>(total.restarts),
              static_cast<unsigned long long>(total.outages), static_cast<unsigned long long>(total.complete_flushes),
              static_cast<unsigned long long>(total.switches), seconds, total.steps / seconds);
  return failed == 0 ? 0 : 1;
}
