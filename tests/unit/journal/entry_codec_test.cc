#include "storesync/journal/entry_codec.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstddef>
#include <vector>

namespace storesync {
namespace {

TEST(EntryCodec, RoundTripsEntriesAndTombstones) {
  const entry cases[] = {
      entry::put("user:42", R"({"name":"Ada","tags":["x","y"]})", 7),
      entry::put("k", "1", 1),
      entry::put("unicode:\xc3\xa9", R"("caf\u00e9")", 9'000'000'000LL),
      entry::erase("user:42", 8),
  };
  std::vector<std::byte> buf;
  for (const entry& e : cases) {
    encode_entry(e, buf);
    auto back = decode_entry(buf);
    ASSERT_TRUE(back) << back.error().message();
    EXPECT_EQ(back.value(), e);
    EXPECT_EQ(decode_entry(encode_entry(e)).value(), e);
  }
}

TEST(EntryCodec, RejectsATruncatedBuffer) {
  const auto buf = encode_entry(entry::put("user:42", R"({"a":1})", 3));
  for (std::size_t n = 0; n < buf.size(); ++n) {
    auto r = decode_entry(std::span(buf).first(n));
    ASSERT_FALSE(r) << "prefix of " << n << " bytes decoded";
    EXPECT_EQ(r.error(), errc::corrupt);
  }
  auto longer = buf;
  longer.push_back(std::byte{0});
  EXPECT_EQ(decode_entry(longer).error(), errc::corrupt);
}

TEST(EntryCodec, TellsEntriesAndDeadLettersApart) {
  const entry e = entry::put("k", "1", 1);
  EXPECT_FALSE(decode_dead_letter(encode_entry(e)));
  EXPECT_FALSE(decode_entry(encode_dead_letter(make_dead_letter(e, errc::constraint_violation))));
}

TEST(DeadLetterCodec, RoundTripsEntryErrorAndTime) {
  const auto when = std::chrono::system_clock::time_point(std::chrono::nanoseconds(1'700'000'000'123'456'789LL));
  const dead_letter d = make_dead_letter(entry::put("user:1", R"({"bad":true})", 5),
                                         error{errc::constraint_violation, "column \"age\" < 0"}, when);
  EXPECT_EQ(d.error, "constraint violation: column \"age\" < 0");
  std::vector<std::byte> buf;
  encode_dead_letter(d, buf);
  auto back = decode_dead_letter(buf);
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_EQ(back.value(), d);

  const dead_letter tomb = make_dead_letter(entry::erase("user:2", 9), errc::schema_mismatch, when);
  EXPECT_EQ(decode_dead_letter(encode_dead_letter(tomb)).value(), tomb);

  for (std::size_t n = 0; n < buf.size(); ++n)
    EXPECT_EQ(decode_dead_letter(std::span(buf).first(n)).error(), errc::corrupt) << n;
}

}  // namespace
}  // namespace storesync
