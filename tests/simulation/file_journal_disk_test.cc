// file_journal on the simulated disk (sim_file_system.hpp): what an
// example-based test can only reach with a failing disk.

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "storesync/journal/file_journal.hpp"
#include "tests/simulation/sim_file_system.hpp"

namespace storesync::sim {
namespace {

journal_options synced(const std::filesystem::path& dir) {
  return {.directory = dir.string(), .durability = durability::always, .segment_size_bytes = 4096};
}

std::vector<std::string> records(const std::filesystem::path& dir) {
  auto j = file_journal::open(synced(dir));
  EXPECT_TRUE(j) << j.error().message();
  std::vector<std::string> out;
  if (!j) return out;
  auto n = j.value().replay(0, [&](lsn, std::span<const std::byte> r) {
    out.emplace_back(reinterpret_cast<const char*>(r.data()), r.size());
  });
  EXPECT_TRUE(n) << n.error().message();
  return out;
}

// After a failed fdatasync the pages stay readable but are marked clean: a
// restart must not replay, nor append behind, what the disk never took, or
// a power cut later leaves a hole before records that were acknowledged.
TEST(FileJournalOnTheSimulatedDisk, AFailedSyncIsCutSoAPowerCutKeepsEveryAcknowledgedRecord) {
  const std::filesystem::path dir = std::filesystem::path(std::getenv("TEST_TMPDIR")) / "journal";
  sim_file_system& disk = sim_file_system::instance();
  disk.attach(dir.string(), 1);
  std::vector<std::string> acknowledged;
  {
    auto j = file_journal::open(synced(dir));
    ASSERT_TRUE(j) << j.error().message();
    for (int i = 0; i < 10; ++i) {
      acknowledged.push_back("before " + std::to_string(i));
      ASSERT_TRUE(j.value().append(acknowledged.back()));
    }
    disk.set_fsync_failure_rate(1.0);
    const auto failed = j.value().append(std::string_view("never acknowledged"));
    ASSERT_FALSE(failed);
    EXPECT_NE(failed.error().message().find("fdatasync"), std::string::npos) << failed.error().message();
    disk.set_fsync_failure_rate(0);
  }
  ASSERT_GT(disk.intercepted(), 0u) << "the test must be linked statically (sim_file_system.hpp)";
  // A restart replays exactly what was acknowledged, and appends behind it.
  EXPECT_EQ(records(dir), acknowledged);
  {
    auto j = file_journal::open(synced(dir));
    ASSERT_TRUE(j) << j.error().message();
    for (int i = 0; i < 5; ++i) {
      acknowledged.push_back("after " + std::to_string(i));
      ASSERT_TRUE(j.value().append(acknowledged.back()));
    }
  }
  disk.power_loss();
  EXPECT_EQ(records(dir), acknowledged) << "a power cut took acknowledged records";
  disk.detach();
}

}  // namespace
}  // namespace storesync::sim
