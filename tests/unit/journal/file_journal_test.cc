#include "storesync/journal/file_journal.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "storesync/journal/detail/crc32c.hpp"
#include "storesync/journal/entry_codec.hpp"
#include "storesync/metrics/registry.hpp"
#include "tests/child_process.hpp"

namespace storesync {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// A fresh directory under $TEST_TMPDIR per test.
std::string fresh_dir(const std::string& name) {
  const char* base = std::getenv("TEST_TMPDIR");
  fs::path p = fs::path(base ? base : "/tmp") / ("file_journal_" + name);
  fs::remove_all(p);
  return p.string();
}

journal_options options_for(const std::string& dir, durability d = durability::process,
                            std::uint64_t segment = 64u << 20) {
  journal_options o;
  o.directory = dir;
  o.durability = d;
  o.segment_size_bytes = segment;
  o.fsync_interval_ms = 20;
  return o;
}

// A payload whose content is a function of `i`, `size` bytes long.
std::string payload(std::uint64_t i, std::size_t size = 200) {
  std::string s = "record-" + std::to_string(i) + ":";
  std::mt19937_64 rng(i);
  while (s.size() < size) s.push_back(static_cast<char>('a' + rng() % 26));
  s.resize(size);
  return s;
}

std::string as_string(std::span<const std::byte> b) {
  return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}

std::map<lsn, std::string> replay_all(file_journal& j, lsn after = 0) {
  std::map<lsn, std::string> out;
  auto n = j.replay(after, [&](lsn at, std::span<const std::byte> rec) -> result<void> {
    EXPECT_TRUE(out.emplace(at, as_string(rec)).second) << "lsn " << at << " replayed twice";
    return success();
  });
  EXPECT_TRUE(n) << n.error().message();
  if (n) {
    EXPECT_EQ(n.value(), out.size());
  }
  return out;
}

std::vector<fs::path> segment_files(const std::string& dir) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".seg") out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

void flip_byte(const fs::path& file, std::uint64_t offset) {
  std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(static_cast<std::streamoff>(offset));
  char c = 0;
  f.get(c);
  f.seekp(static_cast<std::streamoff>(offset));
  f.put(static_cast<char>(c ^ 0x5a));
}

constexpr std::size_t frame = detail::frame_header_size + 200;

// The `n` bytes of `file` at `offset`.
std::string read_bytes(const fs::path& file, std::uint64_t offset, std::size_t n) {
  std::ifstream f(file, std::ios::binary);
  f.seekg(static_cast<std::streamoff>(offset));
  std::string out(n, '\0');
  f.read(out.data(), static_cast<std::streamsize>(n));
  EXPECT_EQ(static_cast<std::size_t>(f.gcount()), n) << file << " at " << offset;
  return out;
}

// Appends a copy of the whole frame at `offset` to the end of `file`: a frame
// with a valid CRC32C whose lsn is out of sequence where it now stands.
void append_copy_of_frame(const fs::path& file, std::uint64_t offset) {
  const std::string bytes = read_bytes(file, offset, frame);
  std::ofstream f(file, std::ios::binary | std::ios::app);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  f.flush();
  ASSERT_TRUE(f.good()) << file;
}

// Overwrites the frame at `to` with a copy of the (same-sized) frame at `from`.
void copy_frame_over(const fs::path& file, std::uint64_t from, std::uint64_t to) {
  const std::string bytes = read_bytes(file, from, frame);
  std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(static_cast<std::streamoff>(to));
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  f.flush();
  ASSERT_TRUE(f.good()) << file;
}

TEST(Crc32c, MatchesTheStandardCheckValue) {
  const std::string s = "123456789";
  const auto bytes = std::as_bytes(std::span(s));
  EXPECT_EQ(detail::crc32c(bytes), 0xE3069283u);
  EXPECT_EQ(detail::crc32c_software(bytes), 0xE3069283u);
}

TEST(Crc32c, HardwareAndSoftwareAgreeAndExtend) {
  const std::string s = payload(7, 1000);
  const auto bytes = std::as_bytes(std::span(s));
  for (std::size_t cut : {0u, 1u, 7u, 8u, 9u, 500u, 999u, 1000u}) {
    const auto whole = detail::crc32c_software(bytes);
    EXPECT_EQ(detail::crc32c(bytes.subspan(cut), detail::crc32c(bytes.first(cut))), whole) << cut;
    EXPECT_EQ(detail::crc32c_software(bytes.subspan(cut), detail::crc32c_software(bytes.first(cut))),
              whole)
        << cut;
  }
}

TEST(FileJournal, ModelsTheJournalConcept) { static_assert(journal<file_journal>); }

TEST(FileJournal, AppendReplayRoundTripAcrossSegments) {
  const auto dir = fresh_dir("roundtrip");
  auto j = file_journal::open(options_for(dir, durability::process, 4096));
  ASSERT_TRUE(j) << j.error().message();
  for (std::uint64_t i = 1; i <= 100; ++i) {
    auto at = j.value().append(payload(i));
    ASSERT_TRUE(at) << at.error().message();
    EXPECT_EQ(at.value(), i);
  }
  const auto got = replay_all(j.value());
  ASSERT_EQ(got.size(), 100u);
  for (const auto& [at, rec] : got) EXPECT_EQ(rec, payload(at));

  // 4096-byte segments hold 18 frames of 216 bytes: 100 records need 6.
  const auto s = j.value().stats();
  EXPECT_EQ(s.segments, 6u);
  EXPECT_EQ(s.segments_created, 6u);
  EXPECT_EQ(s.records_appended, 100u);
  EXPECT_EQ(s.bytes_appended, 100 * frame);
  EXPECT_EQ(j.value().size_bytes(), 100 * frame);
  EXPECT_EQ(s.fsyncs, 0u) << "process mode never fsyncs";
  const auto files = segment_files(dir);
  ASSERT_EQ(files.size(), 6u);
  EXPECT_EQ(files[0].filename(), "00000000000000000001.seg");
  EXPECT_EQ(files[1].filename(), "00000000000000000019.seg");
  for (const auto& f : files) EXPECT_LE(fs::file_size(f), 4096u) << f;
  EXPECT_EQ(fs::file_size(files[0]), 18 * frame);

  // Replay after an lsn starts right after it.
  const auto tail = replay_all(j.value(), 95);
  ASSERT_EQ(tail.size(), 5u);
  EXPECT_EQ(tail.begin()->first, 96u);
  ASSERT_TRUE(j.value().close());
  EXPECT_EQ(j.value().append(payload(1)).error(), errc::stopped);
}

TEST(FileJournal, ALargeRecordGetsASegmentOfItsOwn) {
  const auto dir = fresh_dir("large");
  auto j = file_journal::open(options_for(dir, durability::process, 4096));
  ASSERT_TRUE(j);
  ASSERT_TRUE(j.value().append(payload(1)));
  ASSERT_TRUE(j.value().append(payload(2, 10000)));
  ASSERT_TRUE(j.value().append(payload(3)));
  EXPECT_EQ(j.value().stats().segments, 3u);
  const auto got = replay_all(j.value());
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got.at(2), payload(2, 10000));
}

TEST(FileJournal, ReplayStopsAtACallbackError) {
  const auto dir = fresh_dir("stop");
  auto j = file_journal::open(options_for(dir));
  ASSERT_TRUE(j);
  for (int i = 1; i <= 5; ++i) ASSERT_TRUE(j.value().append(payload(i)));
  int seen = 0;
  auto r = j.value().replay(0, [&](lsn at, std::span<const std::byte>) -> result<void> {
    ++seen;
    if (at == 3) return error{errc::invalid_value, "stop at 3"};
    return success();
  });
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), errc::invalid_value);
  EXPECT_EQ(seen, 3);
  // A void callback works too.
  std::size_t count = 0;
  auto all = j.value().replay(0, [&](lsn, std::span<const std::byte>) { ++count; });
  ASSERT_TRUE(all);
  EXPECT_EQ(all.value(), 5u);
  EXPECT_EQ(count, 5u);
}

TEST(FileJournal, CheckpointDeletesFlushedSegmentsAndReopenContinues) {
  const auto dir = fresh_dir("checkpoint");
  {
    auto j = file_journal::open(options_for(dir, durability::process, 4096));
    ASSERT_TRUE(j);
    for (std::uint64_t i = 1; i <= 100; ++i) ASSERT_TRUE(j.value().append(payload(i)));
    EXPECT_EQ(j.value().commit_checkpoint(101).error(), errc::invalid_argument);
    // Segments hold 1-18, 19-36, 37-54, ...: 40 covers the first two.
    ASSERT_TRUE(j.value().commit_checkpoint(40));
    EXPECT_EQ(j.value().load_checkpoint().value(), 40u);
    ASSERT_TRUE(j.value().commit_checkpoint(30)) << "an older checkpoint is a no-op";
    EXPECT_EQ(j.value().load_checkpoint().value(), 40u);
    const auto s = j.value().stats();
    EXPECT_EQ(s.segments, 4u);
    EXPECT_EQ(s.segments_deleted, 2u);
    EXPECT_EQ(j.value().size_bytes(), (100 - 36) * frame);
    EXPECT_EQ(segment_files(dir).front().filename(), "00000000000000000037.seg");
    const auto got = replay_all(j.value(), j.value().load_checkpoint().value());
    ASSERT_EQ(got.size(), 60u);
    EXPECT_EQ(got.begin()->first, 41u);
    ASSERT_TRUE(j.value().close());
  }
  {
    auto j = file_journal::open(options_for(dir, durability::process, 4096));
    ASSERT_TRUE(j) << j.error().message();
    EXPECT_EQ(j.value().load_checkpoint().value(), 40u);
    const auto got = replay_all(j.value(), 40);
    ASSERT_EQ(got.size(), 60u);
    for (const auto& [at, rec] : got) EXPECT_EQ(rec, payload(at));
    EXPECT_EQ(j.value().append(payload(101)).value(), 101u);
    // Everything flushed: only the active segment stays, numbering goes on.
    ASSERT_TRUE(j.value().commit_checkpoint(101));
    EXPECT_EQ(j.value().stats().segments, 1u);
  }
  {
    auto j = file_journal::open(options_for(dir, durability::process, 4096));
    ASSERT_TRUE(j);
    EXPECT_EQ(replay_all(j.value(), 101).size(), 0u);
    EXPECT_EQ(j.value().append(payload(102)).value(), 102u);
  }
}

// A complete flush leaves the journal nearly empty: the segment being
// appended to goes too once it holds 1 MiB, and numbering goes on in a new
// one. Below 1 MiB it stays (no new file per quiet moment).
TEST(FileJournal, ACheckpointOfEverythingRetiresTheActiveSegment) {
  for (const durability d : {durability::process, durability::interval, durability::always}) {
    const auto dir = fresh_dir("retire");
    constexpr std::size_t size = 64u << 10;
    constexpr std::uint64_t big_frame = detail::frame_header_size + size;
    const std::uint64_t n = (1u << 20) / big_frame + 1;  // just past 1 MiB, in one 64 MiB segment
    {
      auto j = file_journal::open(options_for(dir, d));
      ASSERT_TRUE(j) << j.error().message();
      for (std::uint64_t i = 1; i <= n; ++i) ASSERT_TRUE(j.value().append(payload(i, size)));
      ASSERT_TRUE(j.value().commit_checkpoint(n - 1));
      EXPECT_EQ(segment_files(dir).size(), 1u) << "record n is not checkpointed yet";
      ASSERT_TRUE(j.value().commit_checkpoint(n));
      EXPECT_TRUE(segment_files(dir).empty());
      EXPECT_EQ(j.value().size_bytes(), 0u);
      EXPECT_EQ(j.value().stats().segments_deleted, 1u);
      EXPECT_EQ(j.value().append(payload(n + 1, size)).value(), n + 1);
      ASSERT_EQ(segment_files(dir).size(), 1u);
      EXPECT_EQ(segment_files(dir).front().filename(), detail::segment_name(n + 1));
      EXPECT_EQ(j.value().size_bytes(), big_frame);
      // Below the threshold the active segment stays.
      ASSERT_TRUE(j.value().commit_checkpoint(n + 1));
      EXPECT_EQ(segment_files(dir).size(), 1u);
      EXPECT_EQ(j.value().append(payload(n + 2, size)).value(), n + 2);
      ASSERT_TRUE(j.value().close());
    }
    auto j = file_journal::open(options_for(dir, d));
    ASSERT_TRUE(j) << j.error().message();
    EXPECT_EQ(j.value().load_checkpoint().value(), n + 1);
    const auto got = replay_all(j.value(), n + 1);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got.begin()->second, payload(n + 2, size));
    EXPECT_EQ(j.value().append(payload(n + 3, size)).value(), n + 3);
  }
}

TEST(FileJournal, ReplayMayCommitFromInsideItsCallback) {
  const auto dir = fresh_dir("redrive");
  auto j = file_journal::open(options_for(dir, durability::process, 4096));
  ASSERT_TRUE(j);
  for (std::uint64_t i = 1; i <= 60; ++i) ASSERT_TRUE(j.value().append(payload(i)));
  std::size_t seen = 0;
  auto r = j.value().replay(0, [&](lsn at, std::span<const std::byte> rec) -> result<void> {
    EXPECT_EQ(as_string(rec), payload(at));
    ++seen;
    return j.value().commit_checkpoint(at);  // re-drive: done with this one
  });
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(seen, 60u);
  EXPECT_EQ(j.value().stats().segments, 1u);
}

TEST(FileJournal, ASecondOpenOfTheSameDirectoryIsBusy) {
  const auto dir = fresh_dir("lock");
  auto a = file_journal::open(options_for(dir));
  ASSERT_TRUE(a);
  auto b = file_journal::open(options_for(dir));
  ASSERT_FALSE(b);
  EXPECT_EQ(b.error(), errc::busy);
  ASSERT_TRUE(a.value().close());
  EXPECT_TRUE(file_journal::open(options_for(dir)));
}

TEST(FileJournal, RejectsBadOptions) {
  auto j = file_journal::open(options_for(""));
  ASSERT_FALSE(j);
  EXPECT_EQ(j.error(), condition::invalid_input);
  auto small = file_journal::open(options_for(fresh_dir("small"), durability::process, 100));
  ASSERT_FALSE(small);
  EXPECT_EQ(small.error(), errc::invalid_argument);
}

TEST(FileJournal, FeedsTheMetricsRegistry) {
  const auto dir = fresh_dir("metrics");
  metrics_registry metrics;
  file_journal_hooks hooks;
  hooks.metrics = &metrics;
  hooks.name = "dead_letter";
  auto j = file_journal::open(options_for(dir, durability::process, 4096), hooks);
  ASSERT_TRUE(j);
  for (std::uint64_t i = 1; i <= 40; ++i) ASSERT_TRUE(j.value().append(payload(i)));
  ASSERT_TRUE(j.value().commit_checkpoint(36));
  const auto text = metrics.render_prometheus();
  auto has = [&](const std::string& line) { return ("\n" + text).find("\n" + line + "\n") != std::string::npos; };
  EXPECT_TRUE(has("storesync_journal_records_total{journal=\"dead_letter\"} 40")) << text;
  EXPECT_TRUE(has("storesync_journal_bytes_total{journal=\"dead_letter\"} " + std::to_string(40 * frame))) << text;
  EXPECT_TRUE(has("storesync_journal_segments_created_total{journal=\"dead_letter\"} 3")) << text;
  EXPECT_TRUE(has("storesync_journal_segments_deleted_total{journal=\"dead_letter\"} 2")) << text;
  EXPECT_TRUE(has("storesync_journal_segments{journal=\"dead_letter\"} 1")) << text;
  EXPECT_TRUE(has("storesync_journal_size_bytes{journal=\"dead_letter\"} " + std::to_string(4 * frame))) << text;
  EXPECT_TRUE(has("storesync_journal_last_lsn{journal=\"dead_letter\"} 40")) << text;
  EXPECT_TRUE(has("storesync_journal_checkpoint_lsn{journal=\"dead_letter\"} 36")) << text;
  EXPECT_TRUE(has("storesync_journal_truncated_tails_total{journal=\"dead_letter\"} 0")) << text;
}

// How write-behind keeps dead letters: append with the error, list, re-drive.
TEST(FileJournal, DeadLetterJournalListsAndRedrives) {
  const auto dir = fresh_dir("dead_letters");
  std::vector<std::byte> buf;
  {
    auto dead = file_journal::open(options_for(dir, durability::always));
    ASSERT_TRUE(dead);
    for (int i = 1; i <= 3; ++i) {
      encode_dead_letter(make_dead_letter(entry::put("k" + std::to_string(i), "1", i),
                                          error{errc::constraint_violation, "row " + std::to_string(i)}),
                         buf);
      ASSERT_TRUE(dead.value().append(buf));
    }
  }
  auto dead = file_journal::open(options_for(dir, durability::always));
  ASSERT_TRUE(dead);
  std::vector<std::string> listed;
  auto from = dead.value().load_checkpoint();
  ASSERT_TRUE(from);
  ASSERT_TRUE(dead.value().replay(from.value(), [&](lsn, std::span<const std::byte> rec) -> result<void> {
    BOOST_OUTCOME_TRY(auto d, decode_dead_letter(rec));
    listed.push_back(d.item.key + ": " + d.error);
    return success();
  }));
  EXPECT_EQ(listed, (std::vector<std::string>{"k1: constraint violation: row 1",
                                              "k2: constraint violation: row 2",
                                              "k3: constraint violation: row 3"}));
  // Re-drive the first two (say they now succeed), then stop.
  auto redriven = dead.value().replay(from.value(), [&](lsn at, std::span<const std::byte>) -> result<void> {
    if (at > 2) return error{errc::stopped, "enough"};
    return dead.value().commit_checkpoint(at);
  });
  EXPECT_FALSE(redriven);
  std::size_t left = 0;
  ASSERT_TRUE(dead.value().replay(dead.value().load_checkpoint().value(),
                                  [&](lsn, std::span<const std::byte>) { ++left; }));
  EXPECT_EQ(left, 1u);
}

// ---- recovery ----------------------------------------------------------------

struct recovered {
  std::vector<std::string> log;
  std::uint64_t metric = 0;
};

void write_records(const std::string& dir, std::uint64_t n, std::uint64_t segment = 64u << 20) {
  auto j = file_journal::open(options_for(dir, durability::process, segment));
  ASSERT_TRUE(j);
  for (std::uint64_t i = 1; i <= n; ++i) ASSERT_TRUE(j.value().append(payload(i)));
  ASSERT_TRUE(j.value().close());
}

void expect_recovers_first(const std::string& dir, std::uint64_t intact) {
  metrics_registry metrics;
  std::vector<std::string> log;
  file_journal_hooks hooks;
  hooks.metrics = &metrics;
  hooks.log = [&](std::string_view line) { log.emplace_back(line); };
  auto j = file_journal::open(options_for(dir), hooks);
  ASSERT_TRUE(j) << j.error().message();
  const auto got = replay_all(j.value());
  ASSERT_EQ(got.size(), intact);
  for (const auto& [at, rec] : got) EXPECT_EQ(rec, payload(at));
  EXPECT_EQ(j.value().stats().truncated_tails, 1u);
  EXPECT_EQ(metrics.counter("journal_truncated_tails_total", "", {{"journal", "main"}}).value(), 1u);
  ASSERT_EQ(log.size(), 1u);
  EXPECT_NE(log[0].find("torn or corrupt tail"), std::string::npos) << log[0];
  EXPECT_NE(log[0].find(".seg"), std::string::npos) << log[0];
  // The lost lsn is handed out again: nothing acknowledged used it after the crash.
  EXPECT_EQ(j.value().append(payload(intact + 1)).value(), intact + 1);
  ASSERT_TRUE(j.value().close());

  // A second reopen finds a clean journal.
  auto again = file_journal::open(options_for(dir));
  ASSERT_TRUE(again);
  EXPECT_EQ(again.value().stats().truncated_tails, 0u);
  EXPECT_EQ(replay_all(again.value()).size(), intact + 1);
}

TEST(FileJournalRecovery, TruncatesATornTailMidFrame) {
  const auto dir = fresh_dir("torn");
  write_records(dir, 10);
  const auto file = segment_files(dir).back();
  fs::resize_file(file, fs::file_size(file) - 5);
  expect_recovers_first(dir, 9);
}

TEST(FileJournalRecovery, TruncatesATornHeader) {
  const auto dir = fresh_dir("torn_header");
  write_records(dir, 10);
  const auto file = segment_files(dir).back();
  fs::resize_file(file, 9 * frame + 7);
  expect_recovers_first(dir, 9);
}

TEST(FileJournalRecovery, TruncatesACorruptLastRecord) {
  const auto dir = fresh_dir("flipped");
  write_records(dir, 10);
  const auto file = segment_files(dir).back();
  flip_byte(file, fs::file_size(file) - 3);
  flip_byte(file, fs::file_size(file) - 100);
  expect_recovers_first(dir, 9);
}

TEST(FileJournalRecovery, TruncatesTheTailOfTheLastOfSeveralSegments) {
  const auto dir = fresh_dir("torn_multi");
  write_records(dir, 40, 4096);  // segments 1-18, 19-36, 37-40
  const auto file = segment_files(dir).back();
  flip_byte(file, 3 * frame + 20);  // inside record 40
  expect_recovers_first(dir, 39);
}

TEST(FileJournalRecovery, CorruptionInAnEarlierSegmentIsAnErrorNamingTheFile) {
  const auto dir = fresh_dir("corrupt_middle");
  write_records(dir, 60, 4096);
  const auto first = segment_files(dir).front();
  const auto size = fs::file_size(first);
  flip_byte(first, 5 * frame + 50);
  auto j = file_journal::open(options_for(dir));
  ASSERT_FALSE(j);
  EXPECT_EQ(j.error(), errc::corrupt);
  EXPECT_EQ(j.error(), condition::permanent);
  EXPECT_NE(j.error().message().find(first.string()), std::string::npos) << j.error().message();
  EXPECT_NE(j.error().message().find("offset " + std::to_string(5 * frame)), std::string::npos)
      << j.error().message();
  EXPECT_EQ(fs::file_size(first), size) << "nothing was truncated";
}

TEST(FileJournalRecovery, CutsAWholeFrameWithAnOutOfSequenceLsnOffTheLastSegment) {
  const auto dir = fresh_dir("stale_lsn_tail");
  write_records(dir, 10);
  const auto file = segment_files(dir).back();
  append_copy_of_frame(file, 2 * frame);  // lsn 3 where 11 is expected, CRC intact
  ASSERT_EQ(fs::file_size(file), 11 * frame);
  {
    std::vector<std::string> log;
    file_journal_hooks hooks;
    hooks.log = [&](std::string_view line) { log.emplace_back(line); };
    auto j = file_journal::open(options_for(dir), hooks);
    ASSERT_TRUE(j) << j.error().message();
    EXPECT_EQ(fs::file_size(file), 10 * frame) << "cut at the out-of-sequence frame";
    const auto s = j.value().stats();
    EXPECT_EQ(s.truncated_tails, 1u);
    EXPECT_EQ(s.truncated_bytes, frame);
    EXPECT_EQ(s.last_lsn, 10u);
    ASSERT_EQ(log.size(), 1u);
    EXPECT_NE(log[0].find("offset " + std::to_string(10 * frame)), std::string::npos) << log[0];

    const auto got = replay_all(j.value());
    ASSERT_EQ(got.size(), 10u);
    EXPECT_EQ(got.begin()->first, 1u);
    EXPECT_EQ(got.rbegin()->first, 10u);
    for (const auto& [at, rec] : got) EXPECT_EQ(rec, payload(at));

    // The dropped frame is not counted.
    EXPECT_EQ(j.value().size_bytes(), fs::file_size(file));
    EXPECT_EQ(s.size_bytes, fs::file_size(file));

    auto at = j.value().append(payload(11));
    ASSERT_TRUE(at) << at.error().message();
    EXPECT_EQ(at.value(), 11u);
    EXPECT_EQ(j.value().size_bytes(), 11 * frame);
    EXPECT_EQ(fs::file_size(file), 11 * frame);
    ASSERT_TRUE(j.value().close());
  }
  auto again = file_journal::open(options_for(dir));
  ASSERT_TRUE(again) << again.error().message();
  EXPECT_EQ(again.value().stats().truncated_tails, 0u);
  EXPECT_EQ(again.value().size_bytes(), 11 * frame);
  const auto got = replay_all(again.value());
  ASSERT_EQ(got.size(), 11u);
  EXPECT_EQ(got.rbegin()->first, 11u);
  for (const auto& [at, rec] : got) EXPECT_EQ(rec, payload(at));
  EXPECT_EQ(again.value().append(payload(12)).value(), 12u);
}

TEST(FileJournalRecovery, AnOutOfSequenceLsnInAnEarlierSegmentIsCorrupt) {
  const auto dir = fresh_dir("stale_lsn_middle");
  write_records(dir, 60, 4096);  // segments 1-18, 19-36, 37-54, 55-60
  const auto files = segment_files(dir);
  ASSERT_EQ(files.size(), 4u);
  const auto second = files[1];
  append_copy_of_frame(second, 2 * frame);  // lsn 21 where 37 is expected, CRC intact
  const auto size = fs::file_size(second);
  ASSERT_EQ(size, 19 * frame);
  std::vector<std::string> log;
  file_journal_hooks hooks;
  hooks.log = [&](std::string_view line) { log.emplace_back(line); };
  auto j = file_journal::open(options_for(dir, durability::process, 4096), hooks);
  ASSERT_FALSE(j) << "an out-of-sequence frame outside the last segment was accepted";
  EXPECT_EQ(j.error(), errc::corrupt);
  EXPECT_EQ(j.error(), condition::permanent);
  const auto msg = j.error().message();
  EXPECT_NE(msg.find(second.string()), std::string::npos) << msg;
  EXPECT_NE(msg.find("offset " + std::to_string(18 * frame)), std::string::npos) << msg;
  EXPECT_EQ(fs::file_size(second), size) << "nothing was truncated";
  EXPECT_EQ(segment_files(dir).size(), 4u) << "nothing was deleted";
  EXPECT_TRUE(log.empty()) << log.front();
}

TEST(FileJournalRecovery, AMissingSegmentIsAnError) {
  const auto dir = fresh_dir("gap");
  write_records(dir, 60, 4096);
  fs::remove(segment_files(dir)[1]);
  auto j = file_journal::open(options_for(dir));
  ASSERT_FALSE(j);
  EXPECT_EQ(j.error(), errc::corrupt);
}

TEST(FileJournalRecovery, AStrayTempCheckpointLeavesTheOldOne) {
  const auto dir = fresh_dir("checkpoint_tmp");
  {
    auto j = file_journal::open(options_for(dir));
    ASSERT_TRUE(j);
    for (std::uint64_t i = 1; i <= 20; ++i) ASSERT_TRUE(j.value().append(payload(i)));
    ASSERT_TRUE(j.value().commit_checkpoint(7));
  }
  // A crash between writing the new checkpoint's temp file and the rename.
  {
    std::ofstream tmp(fs::path(dir) / "checkpoint.tmp", std::ios::binary);
    tmp << "half-written";
  }
  auto j = file_journal::open(options_for(dir));
  ASSERT_TRUE(j) << j.error().message();
  EXPECT_EQ(j.value().load_checkpoint().value(), 7u);
  EXPECT_FALSE(fs::exists(fs::path(dir) / "checkpoint.tmp"));
  EXPECT_EQ(replay_all(j.value(), 7).size(), 13u);
}

TEST(FileJournalRecovery, ADamagedCheckpointIsCorrupt) {
  const auto dir = fresh_dir("checkpoint_bad");
  {
    auto j = file_journal::open(options_for(dir));
    ASSERT_TRUE(j);
    ASSERT_TRUE(j.value().append(payload(1)));
    ASSERT_TRUE(j.value().commit_checkpoint(1));
  }
  flip_byte(fs::path(dir) / "checkpoint", 10);
  auto j = file_journal::open(options_for(dir));
  ASSERT_FALSE(j);
  EXPECT_EQ(j.error(), errc::corrupt);
  EXPECT_NE(j.error().message().find("checkpoint"), std::string::npos);
}

// ---- replay: damage found after open, callback errors ---------------------------

// Collects the lsns a replay from 0 delivers until it fails; the failure.
struct partial_replay {
  std::vector<lsn> seen;
  result<std::size_t> r = std::size_t{0};
};

partial_replay replay_until_failure(file_journal& j) {
  partial_replay p;
  p.r = j.replay(0, [&](lsn at, std::span<const std::byte> rec) -> result<void> {
    EXPECT_EQ(as_string(rec), payload(at)) << "lsn " << at;
    p.seen.push_back(at);
    return success();
  });
  return p;
}

std::vector<lsn> lsns(lsn first, lsn last) {
  std::vector<lsn> out;
  for (lsn at = first; at <= last; ++at) out.push_back(at);
  return out;
}

TEST(FileJournalReplay, ACorruptByteInAnEarlierSegmentAfterOpenIsCorrupt) {
  const auto dir = fresh_dir("replay_flipped");
  write_records(dir, 60, 4096);  // segments 1-18, 19-36, 37-54, 55-60
  auto j = file_journal::open(options_for(dir, durability::process, 4096));
  ASSERT_TRUE(j) << j.error().message();
  ASSERT_EQ(replay_all(j.value()).size(), 60u);  // recovered clean

  const auto second = segment_files(dir)[1];
  flip_byte(second, 4 * frame + 50);  // inside record 23's payload
  const auto p = replay_until_failure(j.value());
  ASSERT_FALSE(p.r) << "replayed " << p.r.value() << " records past damage";
  EXPECT_EQ(p.r.error(), errc::corrupt);
  EXPECT_EQ(p.r.error(), condition::permanent);
  const auto msg = p.r.error().message();
  EXPECT_NE(msg.find(second.string()), std::string::npos) << msg;
  EXPECT_NE(msg.find("offset " + std::to_string(4 * frame)), std::string::npos) << msg;
  EXPECT_EQ(p.seen, lsns(1, 22)) << "only the records before the damage";
}

TEST(FileJournalReplay, AnOutOfSequenceFrameInAnEarlierSegmentAfterOpenIsCorrupt) {
  const auto dir = fresh_dir("replay_stale_lsn");
  write_records(dir, 60, 4096);
  auto j = file_journal::open(options_for(dir, durability::process, 4096));
  ASSERT_TRUE(j) << j.error().message();
  ASSERT_EQ(replay_all(j.value()).size(), 60u);

  // Record 24 overwritten by a whole copy of record 20: its CRC is valid, its lsn is not.
  const auto second = segment_files(dir)[1];
  copy_frame_over(second, 1 * frame, 5 * frame);
  const auto p = replay_until_failure(j.value());
  ASSERT_FALSE(p.r) << "replayed " << p.r.value() << " records past damage";
  EXPECT_EQ(p.r.error(), errc::corrupt);
  const auto msg = p.r.error().message();
  EXPECT_NE(msg.find(second.string()), std::string::npos) << msg;
  EXPECT_NE(msg.find("offset " + std::to_string(5 * frame)), std::string::npos) << msg;
  EXPECT_EQ(p.seen, lsns(1, 23)) << "only the records before the damage";
}

TEST(FileJournalReplay, ACallbackErrorIsReturnedAsIsAndStopsTheReplay) {
  const auto dir = fresh_dir("replay_callback_error");
  auto j = file_journal::open(options_for(dir, durability::process, 4096));
  ASSERT_TRUE(j);
  for (std::uint64_t i = 1; i <= 60; ++i) ASSERT_TRUE(j.value().append(payload(i)));
  ASSERT_EQ(j.value().stats().segments, 4u);  // 1-18, 19-36, 37-54, 55-60

  // Mid-segment, on the last record of a segment, and after a non-zero `after`.
  struct stop_case {
    lsn after, stop_at;
  };
  for (const auto c : {stop_case{0, 25}, stop_case{0, 18}, stop_case{20, 40}}) {
    SCOPED_TRACE("after " + std::to_string(c.after) + ", stop at " + std::to_string(c.stop_at));
    const error sent{errc::invalid_value, "callback refused lsn " + std::to_string(c.stop_at)};
    std::vector<lsn> seen;
    auto r = j.value().replay(c.after, [&](lsn at, std::span<const std::byte> rec) -> result<void> {
      EXPECT_EQ(as_string(rec), payload(at));
      seen.push_back(at);
      if (at == c.stop_at) return sent;
      return success();
    });
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error(), errc::invalid_value);
    EXPECT_EQ(r.error().code(), sent.code());
    EXPECT_EQ(r.error().context(), sent.context()) << "the callback's error, not a wrapped one";
    EXPECT_EQ(seen, lsns(c.after + 1, c.stop_at)) << "no call after the error";
  }
  // A stopped replay leaves nothing behind: the next one sees everything.
  EXPECT_EQ(replay_all(j.value()).size(), 60u);
}

// ---- durability ---------------------------------------------------------------

TEST(FileJournalDurability, AlwaysModeGroupCommitsConcurrentAppends) {
  const auto dir = fresh_dir("always");
  constexpr int threads = 8;
  constexpr int per_thread = 150;
  std::mutex mu;
  std::map<lsn, std::string> acked;
  {
    metrics_registry metrics;
    file_journal_hooks hooks;
    hooks.metrics = &metrics;
    auto j = file_journal::open(options_for(dir, durability::always, 16384), hooks);
    ASSERT_TRUE(j);
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t)
      pool.emplace_back([&, t] {
        for (int i = 0; i < per_thread; ++i) {
          const std::string rec = payload(static_cast<std::uint64_t>(t * 100000 + i), 100 + i % 200);
          auto at = j.value().append(rec);
          ASSERT_TRUE(at) << at.error().message();
          // Acknowledged in always mode means fsynced.
          EXPECT_GE(j.value().stats().durable_lsn, at.value());
          std::lock_guard lock(mu);
          EXPECT_TRUE(acked.emplace(at.value(), rec).second);
        }
      });
    for (auto& th : pool) th.join();
    const auto s = j.value().stats();
    EXPECT_EQ(s.records_appended, std::uint64_t{threads * per_thread});
    EXPECT_GT(s.fsyncs, 0u);
    EXPECT_LT(s.fsyncs, s.records_appended) << "group commit shares fsyncs";
    EXPECT_EQ(metrics.counter("journal_fsyncs_total", "", {{"journal", "main"}}).value(), s.fsyncs);
    EXPECT_EQ(metrics.histogram("journal_fsync_seconds", "", {{"journal", "main"}}).count(), s.fsyncs);
  }
  ASSERT_EQ(acked.size(), std::size_t{threads * per_thread});
  EXPECT_EQ(acked.rbegin()->first, acked.size()) << "lsns are dense";
  auto j = file_journal::open(options_for(dir, durability::always, 16384));
  ASSERT_TRUE(j);
  EXPECT_EQ(replay_all(j.value()), acked);
}

TEST(FileJournalDurability, IntervalModeFsyncsWithinTheInterval) {
  const auto dir = fresh_dir("interval");
  auto o = options_for(dir, durability::interval);
  o.fsync_interval_ms = 10;
  auto j = file_journal::open(o);
  ASSERT_TRUE(j);
  std::chrono::nanoseconds worst{};
  for (int round = 0; round < 5; ++round) {
    auto at = j.value().append(payload(round + 1));
    ASSERT_TRUE(at);
    const auto t0 = std::chrono::steady_clock::now();
    while (j.value().stats().durable_lsn < at.value() && std::chrono::steady_clock::now() - t0 < 10s)
      std::this_thread::sleep_for(1ms);
    worst = std::max(worst, std::chrono::steady_clock::now() - t0);
    ASSERT_GE(j.value().stats().durable_lsn, at.value());
  }
  // 10 ms promised; 50x slack for a loaded test machine.
  EXPECT_LT(worst, 500ms);
  EXPECT_GE(j.value().stats().fsyncs, 5u);

  // Idle: no data, no fsyncs.
  const auto before = j.value().stats().fsyncs;
  std::this_thread::sleep_for(60ms);
  EXPECT_EQ(j.value().stats().fsyncs, before);
}

TEST(FileJournalDurability, SyncMakesEverythingDurable) {
  const auto dir = fresh_dir("sync");
  auto j = file_journal::open(options_for(dir));
  ASSERT_TRUE(j);
  for (int i = 1; i <= 10; ++i) ASSERT_TRUE(j.value().append(payload(i)));
  EXPECT_EQ(j.value().stats().fsyncs, 0u);
  ASSERT_TRUE(j.value().sync());
  EXPECT_EQ(j.value().stats().durable_lsn, 10u);
  EXPECT_EQ(j.value().stats().fsyncs, 1u);
}

TEST(FileJournalDurability, ConcurrentProcessModeAppendsAreBatched) {
  const auto dir = fresh_dir("batched");
  auto j = file_journal::open(options_for(dir));
  ASSERT_TRUE(j);
  std::vector<std::thread> pool;
  for (int t = 0; t < 4; ++t)
    pool.emplace_back([&] {
      for (int i = 0; i < 2000; ++i) ASSERT_TRUE(j.value().append(payload(i)));
    });
  for (auto& th : pool) th.join();
  const auto s = j.value().stats();
  EXPECT_EQ(s.records_appended, 8000u);
  EXPECT_LE(s.writes, s.records_appended);
  EXPECT_EQ(replay_all(j.value()).size(), 8000u);
}

// ---- crash safety: SIGKILL a writer at random moments -------------------------

// The child appends from two threads until killed and reports (lsn, CRC32C
// of the payload) for every acknowledged append. Arguments: the journal's
// directory and a seed.
STORESYNC_TEST_CHILD(append_until_killed) {
  if (args.size() != 2) return 1;
  const std::uint64_t seed = std::stoull(args[1]);
  auto j = file_journal::open(options_for(args[0], durability::process, 8192));
  if (!j) return 2;
  std::mutex pipe_mu;
  // A failure ends the whole process at once, so the parent sees an exit,
  // not the SIGKILL it waits to send.
  auto work = [&](std::uint64_t salt) {
    std::mt19937_64 rng(seed ^ salt);
    for (int i = 0; i < 200000; ++i) {
      const std::string rec = payload(rng(), 1 + rng() % 600);
      auto at = j.value().append(rec);
      if (!at) std::_Exit(3);
      std::byte msg[12];
      detail::put_u64(msg, at.value());
      detail::put_u32(msg + 8, detail::crc32c(std::as_bytes(std::span(rec))));
      std::lock_guard lock(pipe_mu);
      if (::write(testing::report_fd, msg, sizeof msg) != static_cast<ssize_t>(sizeof msg)) std::_Exit(4);
    }
  };
  std::thread second(work, 1);
  work(2);
  second.join();
  return 0;
}

TEST(FileJournalCrash, EveryAcknowledgedRecordSurvivesSigkill) {
  const auto dir = fresh_dir("crash");
  const auto seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  std::map<lsn, std::uint32_t> acked;  // across all rounds
  for (int round = 0; round < 6; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    testing::child_process child("append_until_killed", {dir, std::to_string(seed + static_cast<std::uint64_t>(round))});
    ASSERT_TRUE(child.started());
    // Kill after a random number of acknowledgements (0: right away).
    const std::size_t kill_after = round == 0 ? 0 : std::uniform_int_distribution<std::size_t>(1, 5000)(rng);
    std::size_t seen = 0;
    std::vector<std::byte> buf;
    std::byte chunk[4096];
    bool killed = false;
    for (;;) {
      if (!killed && seen >= kill_after) {
        child.kill();
        killed = true;
      }
      const ssize_t r = ::read(child.reports(), chunk, sizeof chunk);
      if (r <= 0) break;  // EOF: the child is gone
      buf.insert(buf.end(), chunk, chunk + r);
      seen = buf.size() / 12;
    }
    ASSERT_TRUE(child.killed_by_sigkill()) << "child status " << child.wait();
    for (std::size_t i = 0; i + 12 <= buf.size(); i += 12)
      EXPECT_TRUE(acked.emplace(detail::get_u64(buf.data() + i), detail::get_u32(buf.data() + i + 8)).second);

    std::vector<std::string> log;
    file_journal_hooks hooks;
    hooks.log = [&](std::string_view line) { log.emplace_back(line); };
    auto j = file_journal::open(options_for(dir, durability::process, 8192), hooks);
    ASSERT_TRUE(j) << j.error().message();
    std::map<lsn, std::uint32_t> replayed;
    auto n = j.value().replay(0, [&](lsn at, std::span<const std::byte> rec) -> result<void> {
      replayed.emplace(at, detail::crc32c(rec));
      return success();
    });
    ASSERT_TRUE(n) << n.error().message();
    std::size_t missing = 0;
    for (const auto& [at, crc] : acked) {
      auto it = replayed.find(at);
      if (it == replayed.end()) {
        ++missing;
        continue;
      }
      EXPECT_EQ(it->second, crc) << "lsn " << at;
    }
    EXPECT_EQ(missing, 0u) << "acknowledged records lost after SIGKILL";
    if (!replayed.empty()) {
      EXPECT_EQ(replayed.begin()->first, 1u);
      EXPECT_EQ(replayed.rbegin()->first, replayed.size()) << "lsns are dense";
    }
    ASSERT_TRUE(j.value().close());
  }
  EXPECT_GT(acked.size(), 0u);
}

}  // namespace
}  // namespace storesync
