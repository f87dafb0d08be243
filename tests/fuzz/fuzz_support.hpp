#pragma once
// What every fuzz target shares: a check that aborts (libFuzzer then keeps
// the input as a crash, and the corpus test fails), scratch directories, and
// a cursor that cuts a fuzz input into the fields a target needs.
//
//   extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
//     storesync::fuzz::input in(data, size);
//     const std::uint8_t mode = in.u8();
//     const std::string_view text = in.rest();
//     STORESYNC_FUZZ_CHECK(parse(text) == parse(text), "parse is not deterministic");
//     return 0;
//   }

#include <stdlib.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>

namespace storesync::fuzz {

[[noreturn]] inline void fail(const char* file, int line, const char* condition, const std::string& message) {
  std::fprintf(stderr, "%s:%d: fuzz check failed: %s\n  %s\n", file, line, condition, message.c_str());
  std::fflush(stderr);
  std::abort();
}

/// Aborts with `message` unless `condition` holds. An abort, unlike a test
/// assertion, is what libFuzzer records as a crash with its input.
#define STORESYNC_FUZZ_CHECK(condition, message)                                     \
  do {                                                                               \
    if (!(condition)) ::storesync::fuzz::fail(__FILE__, __LINE__, #condition, (message)); \
  } while (0)

/// A directory of this process's own, made on first use under $TEST_TMPDIR
/// (Bazel's), $TMPDIR or /tmp; a fuzz run makes millions of files, so each
/// process keeps them apart and scripts/fuzz.sh removes its TMPDIR after.
inline const std::filesystem::path& process_dir() {
  static const std::filesystem::path dir = [] {
    const char* base = std::getenv("TEST_TMPDIR");
    if (!base) base = std::getenv("TMPDIR");
    std::string pattern = std::string(base ? base : "/tmp") + "/storesync-fuzz-XXXXXX";
    if (!::mkdtemp(pattern.data())) fail(__FILE__, __LINE__, "mkdtemp", "cannot make " + pattern);
    return std::filesystem::path(pattern);
  }();
  return dir;
}

/// `process_dir()/name`, emptied: what one run of a target works in.
inline std::string fresh_dir(std::string_view name) {
  const std::filesystem::path dir = process_dir() / name;
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  std::filesystem::create_directories(dir, ec);
  if (ec) fail(__FILE__, __LINE__, "create_directories", dir.string() + ": " + ec.message());
  return dir.string();
}

/// A fuzz input as the text most targets parse.
inline std::string_view as_text(const std::uint8_t* data, std::size_t size) noexcept {
  return {reinterpret_cast<const char*>(data), size};
}

/// Reads fields off the front of a fuzz input; past its end, numbers are 0
/// and texts empty, so every input means something.
class input {
 public:
  input(const std::uint8_t* data, std::size_t size) noexcept
      : rest_(as_text(data, size)) {}

  std::uint8_t u8() noexcept { return static_cast<std::uint8_t>(take(1).empty() ? 0 : taken_[0]); }

  std::uint16_t u16() noexcept {
    const std::string_view b = take(2);
    std::uint16_t v = 0;
    for (std::size_t i = 0; i < b.size(); ++i) v = static_cast<std::uint16_t>(v | (std::uint8_t(b[i]) << (8 * i)));
    return v;
  }

  /// The next `n` bytes (fewer at the end).
  std::string_view bytes(std::size_t n) noexcept { return take(n); }

  /// Everything not read yet.
  std::string_view rest() noexcept { return take(rest_.size()); }

  bool empty() const noexcept { return rest_.empty(); }

 private:
  std::string_view take(std::size_t n) noexcept {
    taken_ = rest_.substr(0, n);
    rest_.remove_prefix(taken_.size());
    return taken_;
  }

  std::string_view rest_;
  std::string_view taken_;
};

}  // namespace storesync::fuzz
