// main() for test binaries with crash children (see child_process.hpp).
#include <gtest/gtest.h>

#include "tests/child_process.hpp"

int main(int argc, char** argv) {
  if (const auto status = storesync::testing::run_child(argc, argv)) return *status;
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
