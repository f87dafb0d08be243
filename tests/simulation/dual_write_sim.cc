// The dual-write simulator (tests/simulation/sim_runner.hpp has the flags).
//
//   bazel run //tests/simulation:dual_write_sim -- --seed=42 --steps=10000 --trace

#include "tests/simulation/dual_write_world.hpp"
#include "tests/simulation/sim_runner.hpp"

int main(int argc, char** argv) {
  return storesync::sim::run_simulator<storesync::sim::dual_write_world>(argc, argv, "dual_write_sim");
}
