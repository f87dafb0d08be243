#include "storesync/core/watermark_codec.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "storesync/core/detail/json_scan.hpp"
#include "storesync/core/detail/text.hpp"
#include "storesync/core/entry.hpp"
#include "storesync/core/store.hpp"

namespace storesync {
namespace {

constexpr version_type largest_version = std::numeric_limits<version_type>::max();

// Encodes, checks the text is fit for a TEXT column, decodes and compares.
void expect_round_trip(const watermark& mark) {
  const std::string text = encode_watermark(mark);
  EXPECT_TRUE(text.starts_with("v1:")) << text;
  EXPECT_EQ(detail::invalid_utf8_at(text), std::string_view::npos) << text;
  for (const char c : text)
    EXPECT_FALSE(static_cast<unsigned char>(c) < 0x20 || c == 0x7f) << detail::quoted(text);
  auto decoded = decode_watermark(text);
  ASSERT_TRUE(decoded) << decoded.error().message();
  EXPECT_EQ(decoded.value().version, mark.version) << text;
  EXPECT_EQ(decoded.value().key, mark.key) << text;
  EXPECT_TRUE(decoded.value() == mark);
}

// A code point a key may hold, drawn so that every UTF-8 length and the
// characters a delimiter-based format would trip on (':' and digits) all
// turn up often.
std::uint32_t random_code_point(std::mt19937_64& rng) {
  static constexpr std::string_view tricky = ":0123456789%v\\\"";
  switch (std::uniform_int_distribution<int>(0, 4)(rng)) {
    case 0:
      return static_cast<unsigned char>(
          tricky[std::uniform_int_distribution<std::size_t>(0, tricky.size() - 1)(rng)]);
    case 1:
      return std::uniform_int_distribution<std::uint32_t>(0x20, 0x7e)(rng);
    case 2:
      return std::uniform_int_distribution<std::uint32_t>(0x80, 0x7ff)(rng);
    case 3: {
      // Skip the UTF-16 surrogates, which UTF-8 may not encode.
      const auto cp = std::uniform_int_distribution<std::uint32_t>(0x800, 0xffff - 0x800)(rng);
      return cp < 0xd800 ? cp : cp + 0x800;
    }
    default:
      return std::uniform_int_distribution<std::uint32_t>(0x10000, 0x10ffff)(rng);
  }
}

// A valid key of 1 to max_key_size bytes: a third short (the common case),
// a third of any length, a third exactly at the limit.
std::string random_key(std::mt19937_64& rng) {
  const int shape = std::uniform_int_distribution<int>(0, 2)(rng);
  const std::size_t target =
      shape == 0   ? std::uniform_int_distribution<std::size_t>(1, 16)(rng)
      : shape == 1 ? std::uniform_int_distribution<std::size_t>(1, max_key_size)(rng)
                   : max_key_size;
  std::string key;
  while (key.size() < target) {
    std::string next;
    detail::append_utf8(next, random_code_point(rng));
    // Where a multibyte code point would overshoot, fill with ':' instead.
    if (key.size() + next.size() > target) next = ":";
    key += next;
  }
  return key;
}

TEST(WatermarkCodec, RoundTripsTheDefaultWatermark) {
  EXPECT_EQ(encode_watermark(watermark{}), "v1:0:0:");
  expect_round_trip(watermark{});
}

TEST(WatermarkCodec, WritesTheDocumentedFormat) {
  EXPECT_EQ(encode_watermark({42, "user:42"}), "v1:42:7:user:42");
  EXPECT_EQ(encode_watermark({1, "caf\xc3\xa9"}), "v1:1:5:caf\xc3\xa9");  // length in bytes
  EXPECT_EQ(encode_watermark({max_entry_version, "k"}), "v1:4611686018427387904:1:k");
}

TEST(WatermarkCodec, RoundTripsEdgeVersions) {
  expect_round_trip({1, "k"});
  expect_round_trip({max_entry_version, "k"});
  expect_round_trip({largest_version, "k"});
  expect_round_trip({7, ""});
  expect_round_trip({0, "k"});
}

TEST(WatermarkCodec, RoundTripsKeysADelimiterWouldBreak) {
  std::string multibyte_max;
  while (multibyte_max.size() < max_key_size) multibyte_max += "\xf0\x9f\x98\x80";  // 😀
  ASSERT_EQ(multibyte_max.size(), max_key_size);
  for (const std::string& key :
       {std::string(":"), std::string("::"), std::string("a:b:c"), std::string(":1:"),
        std::string("123"), std::string("0"), std::string("007"), std::string("-1"),
        std::string("%"), std::string("%3A%25"), std::string("caf\xc3\xa9"),
        std::string("\xf0\x9f\x98\x80"), std::string("\xc3\xa9:\xf0\x9f\x98\x80:9"),
        std::string("v1:"), std::string("v1:0:0:"), std::string(" "), std::string("\"\\"),
        std::string(max_key_size, 'k'), std::string(max_key_size, ':'), multibyte_max}) {
    ASSERT_TRUE(validate_key(key)) << key;
    expect_round_trip({1, key});
    expect_round_trip({max_entry_version, key});
  }
}

TEST(WatermarkCodec, KeyThatLooksLikeAnEncodingStaysAKey) {
  const watermark mark{7, "v1:5:3:abc"};
  const std::string text = encode_watermark(mark);
  EXPECT_EQ(text, "v1:7:10:v1:5:3:abc");
  auto decoded = decode_watermark(text);
  ASSERT_TRUE(decoded) << decoded.error().message();
  EXPECT_EQ(decoded.value().version, 7);
  EXPECT_EQ(decoded.value().key, "v1:5:3:abc");
  // The inner text is itself an encoding, and decodes to something else.
  auto inner = decode_watermark(mark.key);
  ASSERT_TRUE(inner) << inner.error().message();
  EXPECT_EQ(inner.value(), (watermark{5, "abc"}));
}

TEST(WatermarkCodec, RoundTripsRandomKeys) {
  std::mt19937_64 rng(20240614);
  std::size_t multibyte = 0, with_colon = 0, at_limit = 0;
  for (int i = 0; i < 4000; ++i) {
    const std::string key = random_key(rng);
    ASSERT_TRUE(validate_key(key)) << "generator made an invalid key: " << detail::quoted(key);
    const auto version = std::uniform_int_distribution<version_type>(0, max_entry_version)(rng);
    const watermark mark{version, key};
    expect_round_trip(mark);
    if (HasFatalFailure() || HasNonfatalFailure()) FAIL() << "key " << detail::quoted(key);

    // One byte more or one byte less is never the same watermark.
    const std::string text = encode_watermark(mark);
    EXPECT_FALSE(decode_watermark(text + "x")) << text;
    EXPECT_FALSE(decode_watermark(std::string_view(text).substr(0, text.size() - 1))) << text;

    multibyte += std::any_of(key.begin(), key.end(),
                             [](char c) { return static_cast<unsigned char>(c) >= 0x80; });
    with_colon += key.find(':') != std::string::npos;
    at_limit += key.size() == max_key_size;
  }
  // The generator really covers what the format has to survive.
  EXPECT_GT(multibyte, 1000u);
  EXPECT_GT(with_colon, 1000u);
  EXPECT_GT(at_limit, 1000u);
}

TEST(WatermarkCodec, RejectsMalformedTextNamingTheProblem) {
  struct bad {
    std::string text;
    std::string says;
  };
  const std::string long_key(max_key_size + 1, 'k');
  const std::vector<bad> cases = {
      // The prefix.
      {"", "does not start with \"v1:\""},
      {"v1", "does not start with \"v1:\""},
      {"V1:5:3:abc", "does not start with \"v1:\""},
      {"5:3:abc", "does not start with \"v1:\""},
      {" v1:5:3:abc", "does not start with \"v1:\""},
      {"v2:5:3:abc", "format \"v2\" is not supported"},
      {"v10:5:3:abc", "format \"v10\" is not supported"},
      // Missing parts.
      {"v1:", "no ':' after the version"},
      {"v1:5", "no ':' after the version"},
      {"v1:5:", "no ':' after the key length"},
      {"v1:5:3", "no ':' after the key length"},
      {"v1::3:abc", "version is empty"},
      {"v1:5::abc", "key length is empty"},
      {"v1:::", "version is empty"},
      // Signs, a negative version included.
      {"v1:-5:3:abc", "version \"-5\" is negative"},
      {"v1:+5:3:abc", "version \"+5\" has a sign"},
      {"v1:5:-3:abc", "key length \"-3\" is negative"},
      {"v1:5:+3:abc", "key length \"+3\" has a sign"},
      // Non-digits.
      {"v1:5a:3:abc", "version \"5a\" is not a decimal number"},
      {"v1: 5:3:abc", "version \" 5\" is not a decimal number"},
      {"v1:0x5:3:abc", "version \"0x5\" is not a decimal number"},
      {"v1:1e3:3:abc", "version \"1e3\" is not a decimal number"},
      {"v1:\xd9\xa5:3:abc", "version \"\xd9\xa5\" is not a decimal number"},  // Arabic-Indic 5
      {"v1:5:3 :abc", "key length \"3 \" is not a decimal number"},
      {"v1:5:three:abc", "key length \"three\" is not a decimal number"},
      // Leading zeros.
      {"v1:05:3:abc", "version \"05\" has a leading zero"},
      {"v1:00:0:", "version \"00\" has a leading zero"},
      {"v1:5:03:abc", "key length \"03\" has a leading zero"},
      {"v1:5:00:", "key length \"00\" has a leading zero"},
      // Overflow.
      {"v1:9223372036854775808:3:abc", "version \"9223372036854775808\" is out of range"},
      {"v1:18446744073709551616:3:abc", "version \"18446744073709551616\" is out of range"},
      {"v1:99999999999999999999999:3:abc", "is out of range (the largest is 9223372036854775807)"},
      {"v1:5:18446744073709551619:abc", "key length \"18446744073709551619\" is out of range"},
      {"v1:5:513:" + long_key, "key length \"513\" is out of range (the largest is 512)"},
      // A length that does not match what follows.
      {"v1:5:4:abc", "key is cut short: its length is 4, only 3 bytes left"},
      {"v1:5:3:ab", "key is cut short: its length is 3, only 2 bytes left"},
      {"v1:5:2:a", "key is cut short: its length is 2, only 1 byte left"},
      {"v1:5:3:", "key is cut short: its length is 3, only 0 bytes left"},
      {"v1:5:2:\xc3\xa9\xc3", "trailing garbage after the 2-byte key: 1 byte too many"},
      // Trailing garbage.
      {"v1:5:3:abcd", "trailing garbage after the 3-byte key: 1 byte too many"},
      {"v1:5:3:abc\n", "trailing garbage after the 3-byte key: 1 byte too many"},
      {"v1:5:0:abc", "trailing garbage after the 0-byte key: 3 bytes too many"},
      {"v1:0:0:v1:0:0:", "trailing garbage after the 0-byte key: 7 bytes too many"},
      // A key no valid watermark holds.
      {std::string("v1:5:3:a\0b", 10), "key has a control character at byte 1"},
      {"v1:5:3:a\tb", "key has a control character at byte 1"},
      {"v1:5:1:\x7f", "key has a control character at byte 0"},
      {"v1:5:2:\xc3\x28", "key is not valid UTF-8 at byte 0"},
      {"v1:5:3:ab\xc3", "key is not valid UTF-8 at byte 2"},
      {"v1:5:3:\xed\xa0\x80", "key is not valid UTF-8 at byte 0"},  // a surrogate
      {"v1:5:2:\xc0\xaf", "key is not valid UTF-8 at byte 0"},      // overlong '/'
  };
  for (const bad& b : cases) {
    auto r = decode_watermark(b.text);
    ASSERT_FALSE(r) << detail::quoted(b.text) << " decoded; expected: " << b.says;
    EXPECT_TRUE(r.error() == errc::corrupt) << r.error().message();
    EXPECT_TRUE(r.error() == condition::permanent) << r.error().message();
    const std::string message = r.error().message();
    EXPECT_NE(message.find(b.says), std::string::npos)
        << "text " << detail::quoted(b.text) << "\n  message: " << message
        << "\n  expected: " << b.says;
    // The message quotes the offending text, escaped so it is safe to log.
    EXPECT_NE(message.find("watermark " + detail::quoted(b.text) + ": "), std::string::npos)
        << message;
    EXPECT_EQ(detail::invalid_utf8_at(message), std::string_view::npos) << message;
    EXPECT_EQ(message.find('\0'), std::string::npos) << message;
  }
}

TEST(WatermarkCodec, AcceptsTheLargestNumbers) {
  auto version = decode_watermark("v1:9223372036854775807:1:k");
  ASSERT_TRUE(version) << version.error().message();
  EXPECT_EQ(version.value().version, largest_version);
  const std::string key(max_key_size, 'k');
  auto length = decode_watermark("v1:1:512:" + key);
  ASSERT_TRUE(length) << length.error().message();
  EXPECT_EQ(length.value().key, key);
}

TEST(WatermarkCodec, NeverReadsPastTheInput) {
  // Each view is followed, in the same buffer, by bytes that would change the
  // verdict if the decoder looked at them.
  const std::string buffer = "v1:5:3:abcdef";
  const std::string_view all(buffer);

  auto exact = decode_watermark(all.substr(0, 10));  // "v1:5:3:abc"
  ASSERT_TRUE(exact) << exact.error().message();
  EXPECT_EQ(exact.value(), (watermark{5, "abc"}));

  auto short_key = decode_watermark(all.substr(0, 9));  // "v1:5:3:ab", 'c' follows
  ASSERT_FALSE(short_key);
  EXPECT_NE(short_key.error().message().find("cut short"), std::string::npos)
      << short_key.error().message();

  auto no_length = decode_watermark(all.substr(0, 4));  // "v1:5", ':' follows
  ASSERT_FALSE(no_length);
  EXPECT_NE(no_length.error().message().find("no ':' after the version"), std::string::npos)
      << no_length.error().message();

  auto no_key = decode_watermark(all.substr(0, 6));  // "v1:5:3", ':' follows
  ASSERT_FALSE(no_key);
  EXPECT_NE(no_key.error().message().find("no ':' after the key length"), std::string::npos)
      << no_key.error().message();

  auto no_prefix = decode_watermark(all.substr(0, 2));  // "v1", ':' follows
  ASSERT_FALSE(no_prefix);
  EXPECT_FALSE(decode_watermark(all.substr(0, 0)));

  // A digit follows the version: reading on would make it 12, not 1.
  const std::string digits = "v1:12:1:k";
  EXPECT_FALSE(decode_watermark(std::string_view(digits).substr(0, 4)));

  // A view in the middle of a buffer: bytes before and after are ignored.
  const std::string framed = "v1:9:1:x" + encode_watermark({5, "abc"}) + "v1:9:1:y";
  auto middle = decode_watermark(std::string_view(framed).substr(8, 10));
  ASSERT_TRUE(middle) << middle.error().message();
  EXPECT_EQ(middle.value(), (watermark{5, "abc"}));

  // No proper prefix of an encoding decodes, though the rest of it follows.
  for (const watermark& mark :
       {watermark{}, watermark{5, "abc"}, watermark{max_entry_version, "v1:5:3:abc"},
        watermark{12, "\xf0\x9f\x98\x80:\xc3\xa9"}}) {
    const std::string text = encode_watermark(mark);
    const std::string_view view(text);
    for (std::size_t n = 0; n < text.size(); ++n)
      EXPECT_FALSE(decode_watermark(view.substr(0, n))) << detail::quoted(view.substr(0, n));
    auto whole = decode_watermark(view);
    ASSERT_TRUE(whole) << whole.error().message();
    EXPECT_EQ(whole.value(), mark);
  }
}

TEST(WatermarkCodec, DecodesFromExactlySizedBuffers) {
  // Each prefix sits alone in a heap block of its own size, so a read past
  // the end leaves the allocation (AddressSanitizer reports it).
  for (const watermark& mark : {watermark{}, watermark{5, "abc"}, watermark{12, "\xc3\xa9:9"}}) {
    const std::string text = encode_watermark(mark);
    for (std::size_t n = 0; n <= text.size(); ++n) {
      const auto block = std::make_unique<char[]>(n);
      std::copy_n(text.data(), n, block.get());
      auto r = decode_watermark(std::string_view(block.get(), n));
      EXPECT_EQ(static_cast<bool>(r), n == text.size()) << detail::quoted(text.substr(0, n));
      if (r) {
        EXPECT_EQ(r.value(), mark);
      }
    }
  }
}

TEST(WatermarkCodec, LongTextIsQuotedShortInTheMessage) {
  const std::string text = "v1:1:512:" + std::string(max_key_size, 'k') + "!";
  auto r = decode_watermark(text);
  ASSERT_FALSE(r);
  const std::string message = r.error().message();
  EXPECT_NE(message.find("(522 bytes)"), std::string::npos) << message;
  EXPECT_LT(message.size(), 200u) << message;
  EXPECT_NE(message.find("trailing garbage after the 512-byte key: 1 byte too many"),
            std::string::npos)
      << message;
}

}  // namespace
}  // namespace storesync
