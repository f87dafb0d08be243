// The journal's record codec (storesync/journal/entry_codec.hpp) on any
// bytes: a record that decodes is exactly the bytes its encoding gives back
// (so replay cannot turn one record into another), and nothing else decodes.
#include "storesync/journal/entry_codec.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "tests/fuzz/fuzz_support.hpp"
#include "tests/printable.hpp"

namespace storesync {
namespace {

bool same_bytes(std::span<const std::byte> a, std::span<const std::byte> b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin());
}

}  // namespace
}  // namespace storesync

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace storesync;
  const auto in = std::as_bytes(std::span(data, size));
  const std::string_view shown = fuzz::as_text(data, size);

  if (auto e = decode_entry(in)) {
    STORESYNC_FUZZ_CHECK(same_bytes(encode_entry(e.value()), in),
                         "an entry does not re-encode to its record: " + testing::printable(shown));
  } else {
    STORESYNC_FUZZ_CHECK(e.error() == errc::corrupt, e.error().message());
  }

  if (auto d = decode_dead_letter(in)) {
    const std::vector<std::byte> again = encode_dead_letter(d.value());
    // Kind 2 records (no error code) are re-encoded as kind 3, the current
    // format; what they hold must survive that.
    if (!in.empty() && std::to_integer<std::uint8_t>(in[0]) == detail::record_kind_dead_letter) {
      auto back = decode_dead_letter(again);
      STORESYNC_FUZZ_CHECK(back && back.value() == d.value(),
                           "a kind 2 dead letter changes when re-encoded: " + testing::printable(shown));
    } else {
      STORESYNC_FUZZ_CHECK(same_bytes(again, in),
                           "a dead letter does not re-encode to its record: " + testing::printable(shown));
    }
  } else {
    STORESYNC_FUZZ_CHECK(d.error() == errc::corrupt, d.error().message());
  }
  return 0;
}
