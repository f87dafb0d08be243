// The file journal's frame decoder and recovery on a segment it did not
// write: `file_journal::open` of a directory holding one segment, then
// replay. Recovery must hand back exactly the whole, valid frames at the
// head of the segment (as restated below from the format in
// detail/frame.hpp), cut the file after the last of them, and leave a
// journal that appends and reopens cleanly.
//
// Input: one mode byte, then
// - mode 0: the segment's bytes;
// - mode 1: a real segment (samples.hpp), cut to a u16 length, then
//   (u16 offset, u8 xor) pairs applied to it: torn writes and bit rot.
#include "storesync/journal/file_journal.hpp"

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "storesync/journal/detail/crc32c.hpp"
#include "tests/fuzz/fuzz_support.hpp"
#include "tests/fuzz/samples.hpp"
#include "tests/printable.hpp"

namespace storesync::fuzz {
namespace {

struct record {
  lsn at = 0;
  std::string payload;
  friend bool operator==(const record&, const record&) = default;
};

std::uint64_t little_endian(std::string_view bytes) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < bytes.size(); ++i) v |= std::uint64_t(std::uint8_t(bytes[i])) << (8 * i);
  return v;
}

/// The frames recovery keeps from a first segment: u32 length (at most
/// 64 MiB), u32 CRC32C over payload, length and lsn, u64 lsn (1, 2, ...),
/// payload; up to the first that is short or fails. `end` is where they end.
std::vector<record> whole_frames(std::string_view segment, std::size_t& end) {
  std::vector<record> out;
  end = 0;
  for (;;) {
    const std::string_view rest = segment.substr(end);
    if (rest.size() < 16) return out;
    const std::uint64_t length = little_endian(rest.substr(0, 4));
    const std::uint64_t at = little_endian(rest.substr(8, 8));
    if (length > (64u << 20) || rest.size() - 16 < length || at != out.size() + 1) return out;
    std::string covered(rest.substr(16, length));
    covered += rest.substr(0, 4);
    covered += rest.substr(8, 8);
    if (detail::crc32c(std::as_bytes(std::span(covered))) != little_endian(rest.substr(4, 4))) return out;
    out.push_back({at, std::string(rest.substr(16, length))});
    end += 16 + length;
  }
}

result<file_journal> open_journal(const std::string& dir) {
  file_journal_hooks quiet;
  quiet.log = [](std::string_view) {};  // every damaged input logs a cut
  return file_journal::open({.directory = dir, .durability = durability::process}, std::move(quiet));
}

std::vector<record> replay_all(file_journal& j) {
  std::vector<record> out;
  auto n = j.replay(0, [&](lsn at, std::span<const std::byte> payload) {
    out.push_back({at, std::string(reinterpret_cast<const char*>(payload.data()), payload.size())});
  });
  STORESYNC_FUZZ_CHECK(n && n.value() == out.size(), n ? "replay miscounted" : n.error().message());
  return out;
}

std::string damaged_sample(input& in) {
  static const std::string sample = sample_segment();
  std::string segment = sample.substr(0, in.u16() % (sample.size() + 1));
  while (!in.empty() && !segment.empty()) {
    const std::size_t at = in.u16() % segment.size();
    segment[at] = static_cast<char>(segment[at] ^ static_cast<char>(in.u8()));
  }
  return segment;
}

}  // namespace
}  // namespace storesync::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace storesync;
  using namespace storesync::fuzz;
  input in(data, size);
  const std::string segment = in.u8() % 2 == 0 ? std::string(in.rest()) : damaged_sample(in);
  const std::string shown = testing::printable(segment);

  const std::string dir = fresh_dir("journal");
  const std::string path = dir + "/" + std::string(first_segment);
  std::ofstream(path, std::ios::binary) << segment;
  std::size_t end = 0;
  std::vector<record> expected = whole_frames(segment, end);

  {
    // A lone segment has no earlier one to contradict: any damage is a torn
    // tail, which recovery cuts off; it never refuses to open.
    auto j = open_journal(dir);
    STORESYNC_FUZZ_CHECK(j, "open: " + j.error().message() + "\n  segment: " + shown);
    STORESYNC_FUZZ_CHECK(replay_all(j.value()) == expected, "replay differs from the whole frames of " + shown);
    STORESYNC_FUZZ_CHECK(std::filesystem::file_size(path) == end,
                         "recovery left " + std::to_string(std::filesystem::file_size(path)) + " bytes, not " +
                             std::to_string(end) + ", of " + shown);
    STORESYNC_FUZZ_CHECK(j.value().stats().truncated_tails == (end < segment.size() ? 1u : 0u),
                         "truncated_tails is wrong for " + shown);
    auto at = j.value().append(std::string_view("after recovery"));
    STORESYNC_FUZZ_CHECK(at && at.value() == expected.size() + 1,
                         at ? "append after recovery got lsn " + std::to_string(at.value()) : at.error().message());
    expected.push_back({at.value(), "after recovery"});
  }
  auto again = open_journal(dir);
  STORESYNC_FUZZ_CHECK(again, "reopen: " + again.error().message());
  STORESYNC_FUZZ_CHECK(replay_all(again.value()) == expected, "the recovered journal changed on reopen: " + shown);
  return 0;
}
