// The write-back simulator (tests/simulation/sim_runner.hpp has the flags).
//
//   bazel run //tests/simulation:write_back_sim -- --seed=42 --steps=10000 --trace

#include "tests/simulation/sim_runner.hpp"
#include "tests/simulation/write_back_world.hpp"

int main(int argc, char** argv) {
  return storesync::sim::run_simulator<storesync::sim::write_back_world>(argc, argv, "write_back_sim");
}
