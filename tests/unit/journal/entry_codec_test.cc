#include "storesync/journal/entry_codec.hpp"

#include <gtest/gtest.h>

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <future>
#include <string>
#include <system_error>
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

TEST(EntryCodec, AVersionMarkRoundTripsAndRefusesWhatIsNotOne) {
  std::vector<std::byte> mark;
  encode_version_mark(max_entry_version, mark);
  EXPECT_TRUE(is_version_mark(mark));
  EXPECT_EQ(decode_version_mark(mark).value(), max_entry_version);
  for (std::size_t n = 1; n < mark.size(); ++n)
    EXPECT_EQ(decode_version_mark(std::span(mark).first(n)).error(), errc::corrupt) << n << " bytes";
  auto longer = mark;
  longer.push_back(std::byte{0});
  EXPECT_EQ(decode_version_mark(longer).error(), errc::corrupt);
  // A version beyond what an entry may carry is not a mark storesync wrote.
  encode_version_mark(max_entry_version, mark);
  mark[8] = std::byte{0x7f};
  EXPECT_EQ(decode_version_mark(mark).error(), errc::corrupt);
  const auto e = encode_entry(entry::put("k", "1", 1));
  EXPECT_FALSE(is_version_mark(e));
  EXPECT_FALSE(decode_version_mark(e));
  EXPECT_FALSE(is_version_mark({}));
  encode_version_mark(7, mark);
  EXPECT_FALSE(decode_entry(mark));
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

// Little-endian bytes, as the codec writes them.
void put_le(std::vector<std::byte>& out, std::uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(std::byte{static_cast<unsigned char>(v >> (8 * i))});
}
void put_text(std::vector<std::byte>& out, std::string_view s) {
  put_le(out, s.size(), 4);
  for (char c : s) out.push_back(std::byte{static_cast<unsigned char>(c)});
}
// The entry fields: u8 flags, i64 version, u64 hash.lo, u64 hash.hi, key, value.
void put_entry_fields(std::vector<std::byte>& out, const entry& e) {
  put_le(out, e.tombstone ? 1 : 0, 1);
  put_le(out, static_cast<std::uint64_t>(e.version), 8);
  put_le(out, e.hash.lo, 8);
  put_le(out, e.hash.hi, 8);
  put_text(out, e.key);
  put_text(out, e.value);
}

// Where the category byte of a kind-3 record of `e` sits.
std::size_t category_offset(const entry& e) {
  return 1 + 1 + 8 + 8 + 8 + 4 + e.key.size() + 4 + e.value.size() + 8;
}

const auto some_time = std::chrono::system_clock::time_point(std::chrono::nanoseconds(1'700'000'000'123'456'789LL));

dead_letter round_trip(const dead_letter& d) {
  auto back = decode_dead_letter(encode_dead_letter(d));
  EXPECT_TRUE(back) << back.error().message();
  return back ? std::move(back).value() : dead_letter{};
}

TEST(DeadLetterCodec, KeepsAStoresyncCode) {
  const dead_letter d = make_dead_letter(entry::put("user:1", "1", 5), error{errc::invalid_value, "not JSON"}, some_time);
  const dead_letter back = round_trip(d);
  EXPECT_EQ(back, d);
  EXPECT_EQ(back.code, make_error_code(errc::invalid_value));
  EXPECT_EQ(&back.code.category(), &storesync::error_category());
  EXPECT_TRUE(back.code == condition::invalid_input);
}

TEST(DeadLetterCodec, KeepsASystemCode) {
  const dead_letter d = make_dead_letter(entry::put("user:1", "1", 5),
                                         error{std::error_code(ENOSPC, std::system_category()), "/data/x"}, some_time);
  const dead_letter back = round_trip(d);
  EXPECT_EQ(back, d);
  EXPECT_EQ(back.code, std::error_code(ENOSPC, std::system_category()));
  EXPECT_EQ(&back.code.category(), &std::system_category());
  EXPECT_TRUE(back.code == condition::unavailable);
  EXPECT_EQ(back.error, d.error);
}

TEST(DeadLetterCodec, KeepsAGenericCode) {
  const dead_letter d = make_dead_letter(entry::erase("user:2", 9),
                                         error{std::make_error_code(std::errc::invalid_argument), "flag"}, some_time);
  const dead_letter back = round_trip(d);
  EXPECT_EQ(back, d);
  EXPECT_EQ(back.code, std::make_error_code(std::errc::invalid_argument));
  EXPECT_EQ(&back.code.category(), &std::generic_category());
  EXPECT_TRUE(back.code == condition::invalid_input);
}

TEST(DeadLetterCodec, KeepsAForeignCodeAsBackendFailureWithItsMessage) {
  const error why{std::make_error_code(std::future_errc::broken_promise), "worker"};
  const dead_letter d = make_dead_letter(entry::put("k", "1", 1), why, some_time);
  const dead_letter back = round_trip(d);
  EXPECT_EQ(back.code, make_error_code(errc::backend_failure));
  EXPECT_EQ(back.error, why.message());
  EXPECT_EQ(back.item, d.item);
  EXPECT_EQ(back.time, d.time);
}

TEST(DeadLetterCodec, DecodesTheOldKindAsBackendFailure) {
  const entry e = entry::put("user:7", R"({"a":1})", 12);
  std::vector<std::byte> old;
  put_le(old, 2, 1);
  put_entry_fields(old, e);
  put_le(old, 1'700'000'000'123'456'789ULL, 8);
  put_text(old, "constraint violation: column \"a\"");

  auto back = decode_dead_letter(old);
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_EQ(back.value().item, e);
  EXPECT_EQ(back.value().code, make_error_code(errc::backend_failure));
  EXPECT_TRUE(back.value().code == condition::permanent);
  EXPECT_EQ(back.value().error, "constraint violation: column \"a\"");
  EXPECT_EQ(back.value().time, some_time);

  for (std::size_t n = 0; n < old.size(); ++n) {
    auto cut = decode_dead_letter(std::span(old).first(n));
    ASSERT_FALSE(cut) << "prefix of " << n << " bytes decoded";
    EXPECT_EQ(cut.error(), errc::corrupt) << n;
  }
}

TEST(DeadLetterCodec, EveryTruncationOfACodedRecordIsCorrupt) {
  const dead_letter cases[] = {
      make_dead_letter(entry::put("user:1", R"({"bad":true})", 5), error{errc::invalid_value, "x"}, some_time),
      make_dead_letter(entry::erase("user:2", 9), error{std::error_code(ENOSPC, std::system_category())}, some_time),
      make_dead_letter(entry::put("k", "1", 1), error{std::make_error_code(std::errc::io_error), ""}, some_time),
  };
  for (const dead_letter& d : cases) {
    const auto buf = encode_dead_letter(d);
    ASSERT_EQ(std::to_integer<int>(buf[0]), 3) << "a coded dead letter is kind 3";
    for (std::size_t n = 0; n < buf.size(); ++n) {
      auto r = decode_dead_letter(std::span(buf).first(n));
      ASSERT_FALSE(r) << "prefix of " << n << " of " << buf.size() << " bytes decoded";
      EXPECT_EQ(r.error(), errc::corrupt) << n;
    }
    auto longer = buf;
    longer.push_back(std::byte{0});
    auto r = decode_dead_letter(longer);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error(), errc::corrupt);
  }
}

TEST(DeadLetterCodec, AnUnknownCategoryByteIsCorrupt) {
  const dead_letter d = make_dead_letter(entry::put("user:1", "1", 5), errc::invalid_value, some_time);
  const auto buf = encode_dead_letter(d);
  const std::size_t at = category_offset(d.item);
  ASSERT_LT(at, buf.size());
  ASSERT_EQ(std::to_integer<int>(buf[at]), 0) << "the storesync category is 0";
  for (int category : {1, 2}) {
    auto changed = buf;
    changed[at] = std::byte{static_cast<unsigned char>(category)};
    EXPECT_TRUE(decode_dead_letter(changed)) << "category " << category << " is known";
  }
  for (int category : {3, 4, 127, 255}) {
    auto changed = buf;
    changed[at] = std::byte{static_cast<unsigned char>(category)};
    auto r = decode_dead_letter(changed);
    ASSERT_FALSE(r) << "category " << category << " decoded";
    EXPECT_EQ(r.error(), errc::corrupt);
  }
}

TEST(DeadLetterCodec, AnUnknownKindIsCorrupt) {
  auto buf = encode_dead_letter(make_dead_letter(entry::put("k", "1", 1), errc::invalid_value, some_time));
  for (int kind : {0, 1, 4, 255}) {
    buf[0] = std::byte{static_cast<unsigned char>(kind)};
    auto r = decode_dead_letter(buf);
    ASSERT_FALSE(r) << "kind " << kind << " decoded";
    EXPECT_EQ(r.error(), errc::corrupt);
  }
}

}  // namespace
}  // namespace storesync
