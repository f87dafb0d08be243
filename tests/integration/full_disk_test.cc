// A real full disk: a small tmpfs mounted for each test, filled by a file
// that grows until ENOSPC, then freed. Mounting needs root (the test command
// runs as root, like the e2e tests that stop PostgreSQL); without it the
// tests fail, they never skip.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/mount.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "storesync/journal/file_journal.hpp"
#include "storesync/store/faulty_store.hpp"
#include "storesync/store/memory_store.hpp"
#include "storesync/strategy/write_behind.hpp"

namespace storesync {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// A tmpfs of `size` mounted on a fresh directory under $TEST_TMPDIR for the
// object's lifetime.
class small_disk {
 public:
  small_disk(const std::string& name, const std::string& size) {
    const char* tmp = std::getenv("TEST_TMPDIR");
    path_ = fs::path(tmp ? tmp : "/tmp") / ("disk-" + name);
    fs::remove_all(path_);
    fs::create_directories(path_);
    const std::string options = "size=" + size;
    mounted_ = ::mount("tmpfs", path_.c_str(), "tmpfs", 0, options.c_str()) == 0;
    if (!mounted_) ADD_FAILURE() << "cannot mount a tmpfs on " << path_ << ": " << std::strerror(errno) << " (needs root)";
  }
  ~small_disk() {
    if (mounted_) ::umount2(path_.c_str(), MNT_DETACH);
  }
  bool mounted() const { return mounted_; }
  std::string dir(const std::string& name) const { return (path_ / name).string(); }

  // Fills the disk: a file grows until the next write finds no space.
  void fill() {
    const int fd = ::open((path_ / "filler").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    ASSERT_GE(fd, 0);
    const std::vector<char> block(4096, 'x');
    while (::write(fd, block.data(), block.size()) > 0) {
    }
    EXPECT_EQ(errno, ENOSPC);
    // Then byte by byte, so not even a small frame fits.
    while (::write(fd, block.data(), 1) > 0) {
    }
    ::close(fd);
  }
  void free_space() { fs::remove(path_ / "filler"); }

 private:
  fs::path path_;
  bool mounted_ = false;
};

std::span<const std::byte> bytes_of(const std::string& s) { return std::as_bytes(std::span(s.data(), s.size())); }

class FullDiskJournal : public ::testing::TestWithParam<durability> {};

TEST_P(FullDiskJournal, RefusesAppendsChangesNothingAndRecoversWhenSpaceIsFreed) {
  small_disk disk("journal-" + std::to_string(static_cast<int>(GetParam())), "1m");
  ASSERT_TRUE(disk.mounted());
  const journal_options options{
      .directory = disk.dir("j"), .durability = GetParam(), .fsync_interval_ms = 5, .segment_size_bytes = 64 << 10};
  std::map<lsn, std::string> acknowledged;
  std::mutex mutex;
  auto j = file_journal::open(options);
  ASSERT_TRUE(j) << j.error().message();
  for (int i = 0; i < 100; ++i) {
    const std::string payload = "before-" + std::to_string(i);
    auto at = j.value().append(bytes_of(payload));
    ASSERT_TRUE(at) << at.error().message();
    acknowledged[at.value()] = payload;
  }

  disk.fill();
  // Four producers append far more than the disk could hold.
  std::atomic<int> refused{0};
  std::vector<std::thread> producers;
  for (int t = 0; t < 4; ++t) {
    producers.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        const std::string payload = "full-" + std::to_string(t) + "-" + std::to_string(i) + std::string(2000, 'p');
        auto at = j.value().append(bytes_of(payload));
        if (at) {
          std::lock_guard lock(mutex);
          acknowledged[at.value()] = payload;
        } else {
          ++refused;
          EXPECT_TRUE(at.error() == condition::unavailable) << at.error().message();
          EXPECT_NE(at.error().message().find("No space left"), std::string::npos) << at.error().message();
        }
      }
    });
  }
  for (auto& p : producers) p.join();
  EXPECT_GT(refused.load(), 0) << "the disk never filled";
  EXPECT_GT(j.value().stats().refused_batches, 0u);

  // Space again: the same journal, not reopened, takes appends.
  disk.free_space();
  for (int i = 0; i < 100; ++i) {
    const std::string payload = "after-" + std::to_string(i);
    auto at = j.value().append(bytes_of(payload));
    ASSERT_TRUE(at) << "after space was freed: " << at.error().message();
    acknowledged[at.value()] = payload;
  }
  ASSERT_TRUE(j.value().close());

  // What a restart replays is exactly what was acknowledged: no refused
  // append, no gap, nothing torn.
  auto reopened = file_journal::open(options);
  ASSERT_TRUE(reopened) << reopened.error().message();
  EXPECT_EQ(reopened.value().stats().truncated_tails, 0u);
  std::map<lsn, std::string> replayed;
  auto n = reopened.value().replay(0, [&](lsn at, std::span<const std::byte> rec) -> result<void> {
    replayed[at] = std::string(reinterpret_cast<const char*>(rec.data()), rec.size());
    return success();
  });
  ASSERT_TRUE(n) << n.error().message();
  EXPECT_EQ(replayed.size(), acknowledged.size());
  EXPECT_TRUE(replayed == acknowledged) << "the replay differs from what was acknowledged";
}

INSTANTIATE_TEST_SUITE_P(Durability, FullDiskJournal,
                         ::testing::Values(durability::process, durability::interval, durability::always),
                         [](const auto& info) { return std::string(to_string(info.param)); });

using slow_store = faulty_store<memory_store>;
using engine = write_behind<memory_store, slow_store>;

std::optional<version_type> version_in(auto& store, std::string_view key) {
  auto held = store.read(key);
  EXPECT_TRUE(held) << held.error().message();
  return held && held.value() ? std::optional(held.value()->version) : std::nullopt;
}

TEST(FullDiskWriteBehind, APutThatCannotBeJournalledIsTakenBackAndWritesResumeWhenSpaceIsFreed) {
  small_disk disk("write-behind", "1m");
  ASSERT_TRUE(disk.mounted());
  memory_store fast;
  slow_store slow;
  write_behind_options o;
  o.directory = disk.dir("wb");
  o.flush_interval = 5ms;
  o.outage_pause = 5ms;
  auto opened = engine::open(fast, slow, o);
  ASSERT_TRUE(opened) << opened.error().message();
  auto& wb = *opened.value();

  ASSERT_TRUE(wb.put(entry::put("durable", "1", 1)));
  ASSERT_TRUE(wb.flush(1h).value().complete);
  slow.set_faults({.unavailable_rate = 1.0});  // "owed" stays owed
  ASSERT_TRUE(wb.put(entry::put("owed", "2", 2)));

  disk.fill();
  // Larger than a page: a write into the last page of a file that has room
  // needs no new space, even on a full disk.
  const std::string large = "\"" + std::string(8192, 'r') + "\"";
  for (const auto& [key, version] : {std::pair{"owed", 4}, std::pair{"durable", 3}, std::pair{"fresh", 5}}) {
    auto refused = wb.put(entry::put(key, large, version));
    ASSERT_FALSE(refused) << key << " was acknowledged on a full disk";
    EXPECT_TRUE(refused.error() == condition::unavailable) << refused.error().message();
  }
  // The fast store holds no refused write: the owed value went back in its
  // place, the others left it.
  EXPECT_EQ(version_in(fast, "owed"), 2);
  EXPECT_EQ(version_in(fast, "durable"), std::nullopt);
  EXPECT_EQ(version_in(fast, "fresh"), std::nullopt);
  EXPECT_EQ(version_in(wb, "owed"), 2);
  slow.heal();
  EXPECT_EQ(version_in(wb, "durable"), 1);
  EXPECT_EQ(version_in(wb, "fresh"), std::nullopt);

  // Space again: the same engine takes writes, and everything acknowledged
  // reaches the slow store.
  disk.free_space();
  auto after = wb.put(entry::put("durable", "6", 6));
  ASSERT_TRUE(after) << after.error().message();
  ASSERT_TRUE(wb.flush(1h).value().complete);
  EXPECT_EQ(version_in(slow.inner(), "durable"), 6);
  EXPECT_EQ(version_in(slow.inner(), "owed"), 2);
  EXPECT_EQ(version_in(slow.inner(), "fresh"), std::nullopt);
  EXPECT_EQ(wb.status().dead_letters, 0u);
}

}  // namespace
}  // namespace storesync
