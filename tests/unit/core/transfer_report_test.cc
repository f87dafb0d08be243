#include "storesync/core/transfer_report.hpp"

#include <gtest/gtest.h>

namespace storesync {
namespace {

TEST(TransferReport, EveryEntryReadNeedsAnOutcomeToBeComplete) {
  transfer_report r;
  r.read = 10;
  r.count(write_report{.applied = 3, .unchanged = 1, .stale = 1, .accepted = 1});
  r.same_content = 2;
  r.dead_lettered = 1;
  EXPECT_EQ(r.applied, 4u);
  EXPECT_EQ(r.settled(), 9u);
  EXPECT_FALSE(r.complete()) << "one entry has no outcome";
  ++r.unchanged;
  EXPECT_TRUE(r.complete());
  r.owed = 1;
  ++r.read;
  EXPECT_FALSE(r.complete()) << "an owed entry keeps the run incomplete";
}

TEST(TransferReport, SumsRuns) {
  transfer_report a{.read = 5, .applied = 2, .unchanged = 1, .same_content = 1, .stale = 0, .dead_lettered = 1, .owed = 0};
  transfer_report b{.read = 3, .applied = 1, .unchanged = 0, .same_content = 0, .stale = 1, .dead_lettered = 0, .owed = 1};
  a += b;
  EXPECT_EQ(a, (transfer_report{.read = 8, .applied = 3, .unchanged = 1, .same_content = 1, .stale = 1,
                                .dead_lettered = 1, .owed = 1}));
  EXPECT_FALSE(a.complete());
}

}  // namespace
}  // namespace storesync
