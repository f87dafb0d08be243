#include "storesync/store/table_mapping.hpp"
#include "storesync/store/table_mapping_json.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "storesync/core/entry.hpp"
#include "storesync/core/value_rules.hpp"
#include "storesync/store/detail/typed_value.hpp"

namespace storesync {
namespace {

using detail::cell;
using detail::typed_row;

constexpr std::int64_t int64_min = std::numeric_limits<std::int64_t>::min();
constexpr std::int64_t int64_max = std::numeric_limits<std::int64_t>::max();
constexpr std::int64_t int32_min = std::numeric_limits<std::int32_t>::min();
constexpr std::int64_t int32_max = std::numeric_limits<std::int32_t>::max();

table_mapping keyed(std::vector<key_column> key) {
  table_mapping m;
  m.key = std::move(key);
  return m;
}

const key_column text_key{"name", column_type::text};
const key_column bigint_key{"id", column_type::bigint};
const key_column integer_key{"n", column_type::integer};

// --- key codec -------------------------------------------------------------

// The encoded key, or "refused: <context>" (and the error must be invalid_key).
std::string encoded(const table_mapping& m, std::vector<std::string_view> parts) {
  auto r = encode_key(m, std::span<const std::string_view>(parts));
  if (!r) {
    EXPECT_TRUE(r.error() == errc::invalid_key) << r.error().message();
    return "refused: " + r.error().context();
  }
  return std::move(r).value();
}

std::vector<std::string> decoded(const table_mapping& m, std::string_view key) {
  auto r = decode_key(m, key);
  if (!r) {
    ADD_FAILURE() << "decode_key(" << key << "): " << r.error().message();
    return {};
  }
  return std::move(r).value();
}

// Why decode_key refuses `key` ("accepted" when it does not).
std::string decode_refusal(const table_mapping& m, std::string_view key) {
  auto r = decode_key(m, key);
  if (r) return "accepted";
  EXPECT_TRUE(r.error() == errc::invalid_key) << r.error().message();
  return r.error().context();
}

TEST(KeyCodec, RoundTripsOneTextColumnAsTheKeyItself) {
  const auto m = keyed({text_key});
  EXPECT_TRUE(m.key_is_column());
  EXPECT_EQ(encoded(m, {"a b!c ~"}), "a b!c ~");
  EXPECT_EQ(decoded(m, "a b!c ~"), std::vector<std::string>{"a b!c ~"});
  EXPECT_EQ(decoded(m, "!"), std::vector<std::string>{"!"});  // the last column is never escaped
}

TEST(KeyCodec, RoundTripsOneBigintColumn) {
  const auto m = keyed({bigint_key});
  EXPECT_FALSE(m.key_is_column());
  const std::vector<std::pair<std::string_view, std::string_view>> cases{
      {"42", "0000000000000000042"},
      {"0", "0000000000000000000"},
      {"1", "0000000000000000001"},
      {"-1", "-9223372036854775807"},
      {"9223372036854775807", "9223372036854775807"},
      {"-9223372036854775808", "-0000000000000000000"},
      {"-9223372036854775807", "-0000000000000000001"},
  };
  for (const auto& [value, key] : cases) {
    EXPECT_EQ(encoded(m, {value}), key) << value;
    EXPECT_EQ(decoded(m, key), std::vector<std::string>{std::string(value)}) << key;
  }
}

TEST(KeyCodec, RoundTripsOneIntegerColumnOnTheSameNineteenDigits) {
  const auto m = keyed({integer_key});
  EXPECT_EQ(encoded(m, {"2147483647"}), "0000000002147483647");
  EXPECT_EQ(encoded(m, {"-2147483648"}), "-9223372034707292160");  // 2^63 - 2^31
  EXPECT_EQ(decoded(m, "0000000002147483647"), std::vector<std::string>{"2147483647"});
  EXPECT_EQ(decoded(m, "-9223372034707292160"), std::vector<std::string>{"-2147483648"});
  EXPECT_EQ(decoded(m, "0000000000000000007"), std::vector<std::string>{"7"});
}

TEST(KeyCodec, RoundTripsTextThenBigintEscapingTheText) {
  const auto m = keyed({text_key, bigint_key});
  EXPECT_EQ(encoded(m, {"a b!", "7"}), "a! b!! 0000000000000000007");
  EXPECT_EQ(decoded(m, "a! b!! 0000000000000000007"), (std::vector<std::string>{"a b!", "7"}));
  EXPECT_EQ(encoded(m, {"", "-1"}), " -9223372036854775807");
  EXPECT_EQ(decoded(m, " -9223372036854775807"), (std::vector<std::string>{"", "-1"}));
}

TEST(KeyCodec, RoundTripsTwoBigintsAsTheFileCommentShows) {
  const auto m = keyed({{"community_id", column_type::bigint}, {"profile_id", column_type::bigint}});
  EXPECT_EQ(encoded(m, {"7", "42"}), "0000000000000000007 0000000000000000042");
  EXPECT_EQ(decoded(m, "0000000000000000007 0000000000000000042"), (std::vector<std::string>{"7", "42"}));
  EXPECT_EQ(encoded(m, {"-9223372036854775808", "9223372036854775807"}),
            "-0000000000000000000 9223372036854775807");
  EXPECT_EQ(decoded(m, "-0000000000000000000 9223372036854775807"),
            (std::vector<std::string>{"-9223372036854775808", "9223372036854775807"}));
}

// A key column's value in a tuple: integers compare as numbers, text byte by
// byte (std::string's compare is unsigned, byte-wise).
using component = std::variant<std::int64_t, std::string>;

component random_component(column_type t, std::mt19937_64& rng) {
  if (t == column_type::text) {
    // '!' and ' ' are the escaped bytes; "\xc3\xa9" (U+00E9) is above every
    // ASCII byte; '~' is the largest ASCII byte a key may hold.
    static constexpr std::array<std::string_view, 7> alphabet{" ", "!", "a", "~", "\xc3\xa9", "\"", "b"};
    std::string s;
    for (auto n = rng() % 5; n > 0; --n) s += alphabet[rng() % alphabet.size()];
    return s;
  }
  const bool narrow = t == column_type::integer;
  static constexpr std::array<std::int64_t, 9> wide_special{int64_min, int64_min + 1, -2, -1, 0, 1, 2, int64_max - 1,
                                                            int64_max};
  static constexpr std::array<std::int64_t, 9> narrow_special{int32_min, int32_min + 1, -2, -1, 0, 1, 2, int32_max - 1,
                                                              int32_max};
  switch (rng() % 3) {
    case 0: return (narrow ? narrow_special : wide_special)[rng() % 9];
    case 1: {
      const auto v = static_cast<std::int64_t>(rng());
      return narrow ? static_cast<std::int64_t>(static_cast<std::int32_t>(v)) : v;
    }
    default: return static_cast<std::int64_t>(rng() % 7) - 3;  // many ties
  }
}

std::string text_of(const component& c) {
  return std::holds_alternative<std::string>(c) ? std::get<std::string>(c) : std::to_string(std::get<std::int64_t>(c));
}

TEST(KeyCodec, ByteOrderOfKeysIsTheOrderOfTheTuples) {
  const std::vector<std::vector<key_column>> shapes{
      {text_key, bigint_key},
      {bigint_key, text_key},
      {{"a", column_type::bigint}, {"b", column_type::bigint}},
      {{"a", column_type::text}, {"b", column_type::text}},
      {integer_key, {"t", column_type::text}, {"b", column_type::bigint}},
      {{"t", column_type::text}, {"u", column_type::text}, {"v", column_type::text}},
  };
  std::mt19937_64 rng(20260102);
  for (const auto& shape : shapes) {
    const auto m = keyed(shape);
    std::vector<std::vector<component>> tuples;
    std::vector<std::string> keys;
    for (int i = 0; i < 400; ++i) {
      std::vector<component> t;
      std::vector<std::string> texts;
      for (const key_column& k : shape) {
        t.push_back(random_component(k.type, rng));
        texts.push_back(text_of(t.back()));
      }
      const std::vector<std::string_view> parts(texts.begin(), texts.end());
      auto key = encode_key(m, std::span<const std::string_view>(parts));
      ASSERT_TRUE(key) << key.error().message();
      ASSERT_EQ(decoded(m, key.value()), texts) << key.value();
      tuples.push_back(std::move(t));
      keys.push_back(std::move(key).value());
    }
    int mismatches = 0;
    for (std::size_t i = 0; i < tuples.size(); ++i)
      for (std::size_t j = 0; j < tuples.size(); ++j) {
        const bool tuple_less = tuples[i] < tuples[j], key_less = keys[i] < keys[j];
        const bool tuple_equal = tuples[i] == tuples[j], key_equal = keys[i] == keys[j];
        if (tuple_less != key_less || tuple_equal != key_equal) {
          if (++mismatches <= 3)
            ADD_FAILURE() << "shape of " << shape.size() << " columns: keys \"" << keys[i] << "\" and \"" << keys[j]
                          << "\" are not in the order of their tuples";
        }
      }
    EXPECT_EQ(mismatches, 0);
  }
}

TEST(KeyCodec, DecodeRefusesWhatIsNotACanonicalEncoding) {
  const auto one = keyed({bigint_key});
  EXPECT_EQ(decode_refusal(one, "abc"),
            R"(key "abc": key column "id" needs 19 digits, with a '-' before them when negative)");
  EXPECT_EQ(decode_refusal(one, "+000000000000000005"),
            R"(key "+000000000000000005": key column "id" needs 19 digits, with a '-' before them when negative)");
  EXPECT_EQ(decode_refusal(one, " 000000000000000005"),
            R"(key " 000000000000000005": key column "id" needs 19 digits, with a '-' before them when negative)");
  EXPECT_EQ(decode_refusal(one, "000000000000000005"),  // 18 digits
            R"(key "000000000000000005": key column "id" needs 19 digits, with a '-' before them when negative)");
  EXPECT_EQ(decode_refusal(one, "00000000000000000005"),  // 20 digits
            R"(key "00000000000000000005" has bytes past its last key column)");
  EXPECT_EQ(decode_refusal(one, "--000000000000000005"),
            R"(key "--000000000000000005": key column "id" needs 19 digits, with a '-' before them when negative)");
  EXPECT_EQ(decode_refusal(one, "9223372036854775808"), R"(key "9223372036854775808": key column "id" is out of range)");
  // -1 is "-9223372036854775807": a '-' before 2^63 would be a second form of something.
  EXPECT_EQ(decode_refusal(one, "-9223372036854775808"),
            R"(key "-9223372036854775808": key column "id" is out of range)");
  EXPECT_EQ(decode_refusal(one, "9999999999999999999"), R"(key "9999999999999999999": key column "id" is out of range)");
  EXPECT_EQ(decode_refusal(one, ""),
            R"(key "": key column "id" needs 19 digits, with a '-' before them when negative)");

  const auto narrow = keyed({integer_key});
  EXPECT_EQ(decode_refusal(narrow, "0000000002147483648"),
            R"(key "0000000002147483648": key column "n" is out of range for an integer)");
  EXPECT_EQ(decode_refusal(narrow, "-9223372034707292159"),  // -2^31 - 1
            R"(key "-9223372034707292159": key column "n" is out of range for an integer)");

  const auto pair = keyed({text_key, bigint_key});
  EXPECT_EQ(decode_refusal(pair, "!"), R"(key "!": key column "name" has a '!' that is not followed by '!' or ' ')");
  EXPECT_EQ(decode_refusal(pair, "!x 0000000000000000005"),
            R"(key "!x 0000000000000000005": key column "name" has a '!' that is not followed by '!' or ' ')");
  EXPECT_EQ(decode_refusal(pair, "abc"), R"(key "abc": key column "name" is not followed by a space)");
  EXPECT_EQ(decode_refusal(pair, "a 0000000000000000005x"),
            R"(key "a 0000000000000000005x" has bytes past its last key column)");
  EXPECT_EQ(decode_refusal(pair, "a 0000000000000000005 "),
            R"(key "a 0000000000000000005 " has bytes past its last key column)");
  EXPECT_EQ(decode_refusal(pair, "a  0000000000000000005"),
            R"(key "a  0000000000000000005": key column "id" needs 19 digits, with a '-' before them when negative)");

  const auto two = keyed({{"a", column_type::bigint}, {"b", column_type::bigint}});
  EXPECT_EQ(decode_refusal(two, "00000000000000000070000000000000000042"),
            R"(key "00000000000000000070000000000000000042": key column "a" is not followed by a space)");
  EXPECT_EQ(decode_refusal(two, "0000000000000000007"), R"(key "0000000000000000007": key column "a" is not followed by a space)");
}

TEST(KeyCodec, EncodeRefusesIntegersThatAreNotCanonicalDecimal) {
  const auto one = keyed({bigint_key});
  EXPECT_EQ(encoded(one, {"05"}), R"(refused: key column "id": "05" is not a bigint in decimal)");
  for (const std::string_view bad : {"-0", "", "1.0", "+5", " 5", "5 ", "-", "-05", "00", "1e3", "abc",
                                     "9223372036854775808", "-9223372036854775809", "0x10"})
    EXPECT_EQ(encoded(one, {bad}), "refused: key column \"id\": " + detail::quoted(bad) + " is not a bigint in decimal");
  const auto narrow = keyed({integer_key});
  EXPECT_EQ(encoded(narrow, {"2147483648"}), R"(refused: key column "n": "2147483648" is not a integer in decimal)");
  EXPECT_EQ(encoded(narrow, {"-2147483649"}), R"(refused: key column "n": "-2147483649" is not a integer in decimal)");
  EXPECT_EQ(encoded(keyed({text_key, bigint_key}), {"a"}), "refused: 1 key values for 2 key columns");
}

TEST(KeyCodec, EncodeRefusesKeysThatBreakValidateKey) {
  const std::string long_text(600, 'a');
  const std::string long_key = encoded(keyed({text_key}), {long_text});
  EXPECT_EQ(long_key, "refused: key " + detail::quoted(long_text) + " is 600 bytes; the limit is 512");
  EXPECT_NE(long_key.find("... (600 bytes)"), std::string::npos);  // cut by detail::quoted
  // 500 bytes of text, a space and 19 digits: 520 bytes.
  EXPECT_EQ(encoded(keyed({text_key, bigint_key}), {std::string_view(long_text).substr(0, 500), "1"}),
            "refused: key " + detail::quoted(long_text.substr(0, 500) + " 0000000000000000001") +
                " is 520 bytes; the limit is 512");
  EXPECT_EQ(encoded(keyed({text_key}), {""}), "refused: key is empty");
  EXPECT_EQ(encoded(keyed({text_key, bigint_key}), {"a\nb", "1"}),
            R"(refused: key "a\x0ab 0000000000000000001": control character at byte 1)");
  EXPECT_EQ(encoded(keyed({bigint_key, text_key}), {"1", "\xff"}),
            R"(refused: key "0000000000000000001 \xff": invalid UTF-8 at byte 20)");
}

// --- check_mapping ------------------------------------------------------------

table_mapping scores() {
  table_mapping m;
  m.key = {{"community_id", column_type::bigint}, {"profile_id", column_type::bigint}};
  m.fields = {{.field = "score", .type = column_type::integer, .required = true},
              {.field = "tier", .type = column_type::text, .default_value = R"("free")"},
              {.field = "seen_at", .type = column_type::timestamptz}};
  return m;
}

std::string mapping_refusal(const table_mapping& m) {
  auto r = detail::check_typed_mapping(m);
  auto plain = check_mapping(m);
  if (r) return plain ? "accepted" : "check_mapping alone refuses: " + plain.error().context();
  EXPECT_TRUE(r.error() == errc::invalid_argument) << r.error().message();
  return r.error().context();
}

TEST(CheckMapping, AcceptsTheFileCommentsMapping) { EXPECT_EQ(mapping_refusal(scores()), "accepted"); }

TEST(CheckMapping, RefusesAMappingWithoutKey) {
  auto m = scores();
  m.key.clear();
  EXPECT_EQ(mapping_refusal(m), "table mapping: no key column");
}

TEST(CheckMapping, RefusesAKeyColumnThatIsNotTextIntegerOrBigint) {
  auto m = scores();
  m.key[1].type = column_type::numeric;
  EXPECT_EQ(mapping_refusal(m), R"(table mapping: key column "profile_id" is numeric; a key column is text, integer or bigint)");
  m.key[1].type = column_type::timestamptz;
  EXPECT_EQ(mapping_refusal(m), R"(table mapping: key column "profile_id" is timestamptz; a key column is text, integer or bigint)");
}

TEST(CheckMapping, RefusesAColumnNamedTwice) {
  auto field_on_key = scores();
  field_on_key.fields[1].column = "profile_id";
  EXPECT_EQ(mapping_refusal(field_on_key), R"(table mapping: column "profile_id" is named twice)");

  auto rest_on_metadata = scores();
  rest_on_metadata.rest_column = "storesync_hash_lo";
  EXPECT_EQ(mapping_refusal(rest_on_metadata), R"(table mapping: column "storesync_hash_lo" is named twice)");

  auto field_on_version = scores();
  field_on_version.fields[0].column = "version";
  EXPECT_EQ(mapping_refusal(field_on_version), R"(table mapping: column "version" is named twice)");

  auto two_fields_one_column = scores();
  two_fields_one_column.fields[2].column = "tier";
  EXPECT_EQ(mapping_refusal(two_fields_one_column), R"(table mapping: column "tier" is named twice)");

  // metadata.key is a column only when the key is not a single text column.
  auto on_key_column = scores();
  on_key_column.fields[1].column = "storesync_key";
  EXPECT_EQ(mapping_refusal(on_key_column), R"(table mapping: column "storesync_key" is named twice)");
  on_key_column.key = {text_key};
  EXPECT_EQ(mapping_refusal(on_key_column), "accepted");
}

TEST(CheckMapping, RefusesAFieldMappedTwiceOrWithoutName) {
  auto twice = scores();
  twice.fields.push_back({.field = "score", .column = "score2", .type = column_type::bigint});
  EXPECT_EQ(mapping_refusal(twice), R"(table mapping: field "score" is mapped twice)");
  auto unnamed = scores();
  unnamed.fields[1].field.clear();
  EXPECT_EQ(mapping_refusal(unnamed), "table mapping: a field has no name");
  auto no_version = scores();
  no_version.version_column.clear();
  EXPECT_EQ(mapping_refusal(no_version), "table mapping: the version has no column name");
  auto no_key_name = scores();
  no_key_name.key[0].column.clear();
  EXPECT_EQ(mapping_refusal(no_key_name), "table mapping: a key column has no column name");
}

TEST(CheckTypedMapping, RefusesADefaultThatDoesNotConvertNamingTheField) {
  auto m = scores();
  m.fields.push_back({.field = "level", .type = column_type::integer, .default_value = R"("x")"});
  EXPECT_EQ(check_mapping(m).has_value(), true);  // the plain check does not look at defaults
  EXPECT_EQ(mapping_refusal(m),
            R"x(table mapping: field "level": default "\"x\"" is a string, not a number (set "from_string" to accept one))x");
  m.fields.back().default_value = "1.5";
  EXPECT_EQ(mapping_refusal(m),
            R"x(table mapping: field "level": default "1.5" has a fraction (set "round" to round it))x");
  m.fields.back().default_value = "{";
  EXPECT_EQ(mapping_refusal(m), R"x(table mapping: field "level": default "{" is not JSON)x");
  m.fields.back().default_value = "";
  EXPECT_EQ(mapping_refusal(m), R"x(table mapping: field "level": default "" is not JSON)x");
  m.fields.back().default_value = "7";
  EXPECT_EQ(mapping_refusal(m), "accepted");
  m.fields.back().default_value = "null";
  EXPECT_EQ(mapping_refusal(m), "accepted");  // an optional field may default to NULL
  m.fields.back().required = true;
  EXPECT_EQ(mapping_refusal(m), R"x(table mapping: field "level": default "null" is null; the field is required)x");
}

TEST(CheckTypedMapping, AcceptsADefaultWithWhitespaceAroundItLikeAnyJsonText) {
  auto m = scores();
  m.fields.push_back({.field = "level", .type = column_type::integer, .default_value = " 7\n"});
  m.fields.push_back({.field = "label", .type = column_type::text, .default_value = "\t\"none\" "});
  EXPECT_EQ(mapping_refusal(m), "accepted");
  auto row = detail::row_of(m, entry::put("0000000000000000001 0000000000000000002", R"({"score":1})", 1));
  ASSERT_TRUE(row) << row.error().message();
  ASSERT_EQ(row.value().values.size(), 5u);
  EXPECT_EQ(row.value().values[3], cell{"7"});
  EXPECT_EQ(row.value().values[4], cell{"none"});
}

// --- conversions, one field at a time -------------------------------------------

// What the core checks before any store sees an entry; row_of is only ever
// given entries that passed it.
result<typed_row> validated_row(const table_mapping& m, const entry& e, const value_rules& rules = any_json) {
  BOOST_OUTCOME_TRY(validate(e, rules));
  return detail::row_of(m, e);
}

field_column column_of(column_type t, bool round = false, bool from_string = false) {
  return {.field = "x", .type = t, .round = round, .from_string = from_string};
}

// The cell field "x" holding `json` becomes: its text, "NULL", or
// "refused: <context>" (an invalid_value error).
std::string written(const field_column& f, std::string_view json, const value_rules& rules = any_json) {
  table_mapping m;
  m.key = {{"id", column_type::text}};
  m.fields = {f};
  auto r = validated_row(m, entry::put("k", "{\"x\":" + std::string(json) + "}", 1), rules);
  if (!r) {
    EXPECT_TRUE(r.error() == errc::invalid_value) << r.error().message();
    return "refused: " + r.error().context();
  }
  EXPECT_EQ(r.value().key, std::vector<std::string>{"k"});
  if (r.value().values.size() != 1) return "wrong width";
  const cell& c = r.value().values[0];
  return c ? *c : "NULL";
}

// The refusal of `json` in field "x" of type `type`, for `why`.
std::string refusal(std::string_view type, std::string_view json, std::string_view why) {
  return "refused: key \"k\": field \"x\" (column \"x\", " + std::string(type) + ") " + detail::quoted(json) + " " +
         std::string(why);
}

TEST(Convert, TextTakesAStringUnescaped) {
  const auto f = column_of(column_type::text);
  EXPECT_EQ(written(f, R"("plain")"), "plain");
  EXPECT_EQ(written(f, R"("a\"b\\c\n\u00e9\ud83d\ude00")"), "a\"b\\c\n\xc3\xa9\xf0\x9f\x98\x80");
  EXPECT_EQ(written(f, R"("")"), "");
  EXPECT_EQ(written(f, "null"), "NULL");
  EXPECT_EQ(written(f, "5"), refusal("text", "5", "is not a string"));
  EXPECT_EQ(written(f, "true"), refusal("text", "true", "is not a string"));
  EXPECT_EQ(written(f, R"({"a":1})"), refusal("text", R"({"a":1})", "is not a string"));
}

TEST(Convert, IntegersInRangeOnly) {
  const auto big = column_of(column_type::bigint);
  EXPECT_EQ(written(big, "9223372036854775807"), "9223372036854775807");
  EXPECT_EQ(written(big, "-9223372036854775808"), "-9223372036854775808");
  EXPECT_EQ(written(big, "9223372036854775808"), refusal("bigint", "9223372036854775808", "is out of range for bigint"));
  EXPECT_EQ(written(big, "-9223372036854775809"), refusal("bigint", "-9223372036854775809", "is out of range for bigint"));
  EXPECT_EQ(written(big, "18446744073709551616"), refusal("bigint", "18446744073709551616", "is out of range for bigint"));
  EXPECT_EQ(written(big, "1e19"), refusal("bigint", "1e19", "is out of range for bigint"));
  EXPECT_EQ(written(big, "9.223372036854775807e18"), "9223372036854775807");

  const auto narrow = column_of(column_type::integer);
  EXPECT_EQ(written(narrow, "2147483647"), "2147483647");
  EXPECT_EQ(written(narrow, "-2147483648"), "-2147483648");
  EXPECT_EQ(written(narrow, "2147483648"), refusal("integer", "2147483648", "is out of range for integer"));
  EXPECT_EQ(written(narrow, "-2147483649"), refusal("integer", "-2147483649", "is out of range for integer"));
}

TEST(Convert, IntegersTakeIntegralNumbersInAnySpelling) {
  for (const column_type t : {column_type::integer, column_type::bigint}) {
    const auto f = column_of(t);
    EXPECT_EQ(written(f, "1e3"), "1000");
    EXPECT_EQ(written(f, "1E+3"), "1000");
    EXPECT_EQ(written(f, "2.0"), "2");
    EXPECT_EQ(written(f, "-0"), "0");
    EXPECT_EQ(written(f, "-0.0e7"), "0");
    EXPECT_EQ(written(f, "0"), "0");
    EXPECT_EQ(written(f, "100e-2"), "1");
    EXPECT_EQ(written(f, "0.0500e2"), "5");
    EXPECT_EQ(written(f, "-12"), "-12");
    const std::string type(to_string(t));
    EXPECT_EQ(written(f, "1.5"), refusal(type, "1.5", "has a fraction (set \"round\" to round it)"));
    EXPECT_EQ(written(f, "1e-1"), refusal(type, "1e-1", "has a fraction (set \"round\" to round it)"));
    EXPECT_EQ(written(f, "true"), refusal(type, "true", "is not a number"));
    EXPECT_EQ(written(f, "[1]"), refusal(type, "[1]", "is not a number"));
  }
}

TEST(Convert, RoundingIsHalfAwayFromZero) {
  const auto f = column_of(column_type::bigint, /*round=*/true);
  EXPECT_EQ(written(f, "2.5"), "3");
  EXPECT_EQ(written(f, "-2.5"), "-3");
  EXPECT_EQ(written(f, "0.49"), "0");
  EXPECT_EQ(written(f, "0.5"), "1");
  EXPECT_EQ(written(f, "-0.5"), "-1");
  EXPECT_EQ(written(f, "0.05"), "0");
  EXPECT_EQ(written(f, "-0.05"), "0");
  EXPECT_EQ(written(f, "2.4999999"), "2");
  EXPECT_EQ(written(f, "1e-999999999"), "0");
  EXPECT_EQ(written(f, "9223372036854775807.4"), "9223372036854775807");
  EXPECT_EQ(written(f, "9223372036854775807.5"),
            refusal("bigint", "9223372036854775807.5", "is out of range for bigint"));
  EXPECT_EQ(written(f, "-9223372036854775808.4"), "-9223372036854775808");
  EXPECT_EQ(written(f, "-9223372036854775808.5"),
            refusal("bigint", "-9223372036854775808.5", "is out of range for bigint"));
  EXPECT_EQ(written(f, "18446744073709551615.5"),
            refusal("bigint", "18446744073709551615.5", "is out of range for bigint"));
  const auto narrow = column_of(column_type::integer, true);
  EXPECT_EQ(written(narrow, "2147483646.5"), "2147483647");
  EXPECT_EQ(written(narrow, "2147483647.5"), refusal("integer", "2147483647.5", "is out of range for integer"));
  EXPECT_EQ(written(narrow, "-2147483648.5"), refusal("integer", "-2147483648.5", "is out of range for integer"));
}

TEST(Convert, HugeNumbersAreRefusedWithoutWorkProportionalToTheirValue) {
  const auto f = column_of(column_type::bigint);
  const std::string digits = "1" + std::string(99'999, '0');
  const std::string refused = written(f, digits);
  EXPECT_EQ(refused.rfind(R"(refused: key "k": field "x" (column "x", bigint) "10000)", 0), 0u) << refused.substr(0, 200);
  EXPECT_NE(refused.find("... (100000 bytes) is out of range for bigint"), std::string::npos) << refused.substr(0, 200);
  EXPECT_LT(refused.size(), 300u);
  EXPECT_EQ(written(column_of(column_type::bigint, true), digits + ".5").substr(refused.size() - 30), refused.substr(refused.size() - 30));
  EXPECT_EQ(written(f, "1e999999999"), refusal("bigint", "1e999999999", "is out of range for bigint"));
  EXPECT_EQ(written(f, "1e99999999999999999999999"), refusal("bigint", "1e99999999999999999999999", "is out of range for bigint"));
  EXPECT_EQ(written(f, "0e999999999"), "0");
  EXPECT_EQ(written(f, "1e-999999999"), refusal("bigint", "1e-999999999", "has a fraction (set \"round\" to round it)"));
}

TEST(Convert, FromStringAcceptsExactlyTheJsonTextInAString) {
  const auto plain = column_of(column_type::integer);
  EXPECT_EQ(written(plain, R"("42")"),
            refusal("integer", R"("42")", "is a string, not a number (set \"from_string\" to accept one)"));
  const auto f = column_of(column_type::integer, false, /*from_string=*/true);
  EXPECT_EQ(written(f, R"("42")"), "42");
  EXPECT_EQ(written(f, "42"), "42");
  EXPECT_EQ(written(f, R"("4\u0032")"), "42");  // the string's content is 42
  EXPECT_EQ(written(f, R"("1e3")"), "1000");
  EXPECT_EQ(written(f, R"("abc")"), refusal("integer", R"("abc")", "is a string that does not hold a number"));
  EXPECT_EQ(written(f, R"(" 42")"), refusal("integer", R"(" 42")", "is a string that does not hold a number"));
  EXPECT_EQ(written(f, R"("42 ")"), refusal("integer", R"("42 ")", "is a string that does not hold a number"));
  EXPECT_EQ(written(f, R"("+42")"), refusal("integer", R"("+42")", "is a string that does not hold a number"));
  EXPECT_EQ(written(f, R"("042")"), refusal("integer", R"("042")", "is a string that does not hold a number"));
  EXPECT_EQ(written(f, R"("")"), refusal("integer", R"("")", "is a string that does not hold a number"));
  EXPECT_EQ(written(f, R"("1.5")"), refusal("integer", R"("1.5")", "has a fraction (set \"round\" to round it)"));
  EXPECT_EQ(written(f, R"("null")"), refusal("integer", R"("null")", "is a string that does not hold a number"));

  EXPECT_EQ(written(column_of(column_type::numeric, false, true), R"("1.50")"), "1.50");
  EXPECT_EQ(written(column_of(column_type::double_precision, false, true), R"("0.10")"), "0.1");
  const auto flag = column_of(column_type::boolean, false, true);
  EXPECT_EQ(written(flag, R"("true")"), "true");
  EXPECT_EQ(written(flag, "false"), "false");
  EXPECT_EQ(written(flag, R"("1")"), refusal("boolean", R"("1")", "is not true or false"));
  EXPECT_EQ(written(flag, R"("TRUE")"), refusal("boolean", R"("TRUE")", "is not true or false"));
}

TEST(Convert, NumericKeepsTheNumberAsWrittenWithinNumericsLimits) {
  const auto f = column_of(column_type::numeric);
  EXPECT_EQ(written(f, "1.50"), "1.50");
  EXPECT_EQ(written(f, "-0"), "-0");
  EXPECT_EQ(written(f, "1e3"), "1e3");
  EXPECT_EQ(written(f, "123456789012345678901234567890.123456789"), "123456789012345678901234567890.123456789");
  EXPECT_EQ(written(f, R"("1")"), refusal("numeric", R"("1")", "is a string, not a number (set \"from_string\" to accept one)"));
  const std::string too_big = "does not fit numeric (131072 digits before the point, 16383 after)";
  EXPECT_EQ(written(f, "1e131071"), "1e131071");  // 131072 digits before the point
  EXPECT_EQ(written(f, "1e131072"), refusal("numeric", "1e131072", too_big));
  EXPECT_EQ(written(f, "1e-16383"), "1e-16383");
  EXPECT_EQ(written(f, "1e-16384"), refusal("numeric", "1e-16384", too_big));
  EXPECT_EQ(written(f, "1e999999999"), refusal("numeric", "1e999999999", too_big));
  // numeric keeps the scale as written, trailing zeros included: 1.0e-16383
  // has 16384 digits after the point (PostgreSQL: "value overflows numeric
  // format"), as the core's numbers_fit_numeric rule counts them.
  EXPECT_EQ(written(f, "1.0e-16383"), refusal("numeric", "1.0e-16383", too_big));
  EXPECT_FALSE(validate_value("k", "1.0e-16383", {.numbers_fit_numeric = true}));
  const std::string zeros = "0." + std::string(16384, '0');
  EXPECT_EQ(written(f, zeros), refusal("numeric", zeros, too_big));
  EXPECT_EQ(written(f, "0." + std::string(16383, '0')), "0." + std::string(16383, '0'));
  // The same through a string, which no value rule looks into.
  const auto from_string = column_of(column_type::numeric, false, true);
  EXPECT_EQ(written(from_string, R"("1.0e-16383")", {.numbers_fit_numeric = true}),
            refusal("numeric", R"("1.0e-16383")", too_big));
  EXPECT_EQ(written(from_string, R"("1e-16383")", {.numbers_fit_numeric = true}), "1e-16383");
}

TEST(Convert, DoublePrecisionIsTheNearestDoubleInShortestForm) {
  const auto f = column_of(column_type::double_precision);
  EXPECT_EQ(written(f, "0.1"), "0.1");
  EXPECT_EQ(written(f, "0.10"), "0.1");
  EXPECT_EQ(written(f, "-0"), "-0");
  EXPECT_EQ(written(f, "100"), "100");
  EXPECT_EQ(written(f, "1E2"), "100");
  EXPECT_EQ(written(f, "1e100"), "1e+100");
  EXPECT_EQ(written(f, "0.30000000000000001"), "0.3");
  EXPECT_EQ(written(f, "1.7976931348623157e308"), "1.7976931348623157e+308");
  const std::string range = "is out of double precision's range";
  EXPECT_EQ(written(f, "1e309"), refusal("double_precision", "1e309", range));
  EXPECT_EQ(written(f, "-1e309"), refusal("double_precision", "-1e309", range));
  EXPECT_EQ(written(f, "1e-400"), refusal("double_precision", "1e-400", range));
  // Documented: refused only when not zero and it underflows *to zero*. The
  // smallest subnormal is a double, so it is kept; 2e-324 rounds to zero.
  EXPECT_EQ(written(f, "5e-324"), "5e-324");
  EXPECT_EQ(written(f, "3e-324"), "5e-324");
  EXPECT_EQ(written(f, "1e-320"), "1e-320");
  EXPECT_EQ(written(f, "2e-324"), refusal("double_precision", "2e-324", range));
  EXPECT_EQ(written(f, "0e-400"), "0");
  EXPECT_EQ(written(f, "\"1\""), refusal("double_precision", "\"1\"", "is a string, not a number (set \"from_string\" to accept one)"));
}

TEST(Convert, BooleanIsStrict) {
  const auto f = column_of(column_type::boolean);
  EXPECT_EQ(written(f, "true"), "true");
  EXPECT_EQ(written(f, "false"), "false");
  EXPECT_EQ(written(f, "1"), refusal("boolean", "1", "is not true or false"));
  EXPECT_EQ(written(f, "0"), refusal("boolean", "0", "is not true or false"));
  EXPECT_EQ(written(f, R"("true")"),
            refusal("boolean", R"("true")", "is a string, not true or false (set \"from_string\" to accept one)"));
}

TEST(Convert, TimestamptzIsRfc3339WithAnOffsetInUtcMicroseconds) {
  const auto f = column_of(column_type::timestamptz);
  const auto rounded = column_of(column_type::timestamptz, true);
  const std::string not_rfc = "is not an RFC 3339 timestamp with an offset (2026-01-02T03:04:05Z)";
  const std::string outside = "is outside years 1-9999 in UTC";
  EXPECT_EQ(written(f, R"("2026-01-02T03:04:05+01:00")"), "2026-01-02T02:04:05.000000Z");
  EXPECT_EQ(written(f, R"("2026-01-02T03:04:05-05:30")"), "2026-01-02T08:34:05.000000Z");
  EXPECT_EQ(written(f, R"("2026-01-02t03:04:05z")"), "2026-01-02T03:04:05.000000Z");
  EXPECT_EQ(written(f, R"("2026-01-02T03:04:05.5Z")"), "2026-01-02T03:04:05.500000Z");
  EXPECT_EQ(written(f, R"("2026-01-02T03:04:05.123456Z")"), "2026-01-02T03:04:05.123456Z");
  EXPECT_EQ(written(f, R"("2026-01-01T00:30:00+01:00")"), "2025-12-31T23:30:00.000000Z");
  EXPECT_EQ(written(f, R"("1969-12-31T23:59:59.999999Z")"), "1969-12-31T23:59:59.999999Z");
  EXPECT_EQ(written(f, R"("2026-01-02T03:04:05")"), refusal("timestamptz", R"("2026-01-02T03:04:05")", not_rfc));
  EXPECT_EQ(written(f, R"("2026-01-02T03:04:05.5")"), refusal("timestamptz", R"("2026-01-02T03:04:05.5")", not_rfc));
  EXPECT_EQ(written(f, R"("2016-12-31T23:59:60Z")"), refusal("timestamptz", R"("2016-12-31T23:59:60Z")", not_rfc));
  EXPECT_EQ(written(f, R"("2026-01-02T24:00:00Z")"), refusal("timestamptz", R"("2026-01-02T24:00:00Z")", not_rfc));
  EXPECT_EQ(written(f, R"("2026-01-02T03:04:05.Z")"), refusal("timestamptz", R"("2026-01-02T03:04:05.Z")", not_rfc));
  EXPECT_EQ(written(f, R"("2026-01-02T03:04:05+0100")"), refusal("timestamptz", R"("2026-01-02T03:04:05+0100")", not_rfc));
  EXPECT_EQ(written(f, R"("2026-01-02T03:04:05+24:00")"), refusal("timestamptz", R"("2026-01-02T03:04:05+24:00")", not_rfc));
  EXPECT_EQ(written(f, R"("2026-01-02T03:04:05ZZ")"), refusal("timestamptz", R"("2026-01-02T03:04:05ZZ")", not_rfc));
  EXPECT_EQ(written(f, R"("2023-02-29T03:04:05Z")"), refusal("timestamptz", R"("2023-02-29T03:04:05Z")", not_rfc));
  // Undocumented, asserted: RFC 3339's note allows a space for the 'T'; this code does not.
  EXPECT_EQ(written(f, R"("2026-01-02 03:04:05Z")"), refusal("timestamptz", R"("2026-01-02 03:04:05Z")", not_rfc));
  EXPECT_EQ(written(f, "1767322800"), refusal("timestamptz", "1767322800", "is not a string"));

  EXPECT_EQ(written(f, R"("2026-01-02T03:04:05.1234567Z")"),
            refusal("timestamptz", R"("2026-01-02T03:04:05.1234567Z")",
                    "has digits past microseconds (set \"round\" to round them)"));
  EXPECT_EQ(written(f, R"("2026-01-02T03:04:05.1234560Z")"),
            refusal("timestamptz", R"("2026-01-02T03:04:05.1234560Z")",
                    "has digits past microseconds (set \"round\" to round them)"));
  EXPECT_EQ(written(rounded, R"("2026-01-02T03:04:05.1234567Z")"), "2026-01-02T03:04:05.123457Z");
  EXPECT_EQ(written(rounded, R"("2026-01-02T03:04:05.1234564999Z")"), "2026-01-02T03:04:05.123456Z");
  EXPECT_EQ(written(rounded, R"("2026-12-31T23:59:59.9999995Z")"), "2027-01-01T00:00:00.000000Z");
  EXPECT_EQ(written(rounded, R"("2024-02-28T23:59:59.99999951+00:00")"), "2024-02-29T00:00:00.000000Z");

  EXPECT_EQ(written(f, R"("0001-01-01T00:30:00+01:00")"), refusal("timestamptz", R"("0001-01-01T00:30:00+01:00")", outside));
  EXPECT_EQ(written(f, R"("0001-01-01T00:00:00Z")"), "0001-01-01T00:00:00.000000Z");
  EXPECT_EQ(written(f, R"("0001-01-01T00:30:00+00:30")"), "0001-01-01T00:00:00.000000Z");
  EXPECT_EQ(written(f, R"("0000-12-31T23:00:00Z")"), refusal("timestamptz", R"("0000-12-31T23:00:00Z")", not_rfc));
  EXPECT_EQ(written(f, R"("9999-12-31T23:59:59.999999Z")"), "9999-12-31T23:59:59.999999Z");
  EXPECT_EQ(written(f, R"("9999-12-31T23:30:00-00:30")"), refusal("timestamptz", R"("9999-12-31T23:30:00-00:30")", outside));
  EXPECT_EQ(written(rounded, R"("9999-12-31T23:59:59.9999995Z")"),
            refusal("timestamptz", R"("9999-12-31T23:59:59.9999995Z")", outside));
}

TEST(Convert, DateIsARealDateInYearsOneToNineThousand) {
  const auto f = column_of(column_type::date);
  const std::string bad = "is not a date YYYY-MM-DD in years 1-9999";
  EXPECT_EQ(written(f, R"("2024-02-29")"), "2024-02-29");
  EXPECT_EQ(written(f, R"("0001-01-01")"), "0001-01-01");
  EXPECT_EQ(written(f, R"("9999-12-31")"), "9999-12-31");
  for (const std::string_view s : {R"("2023-02-29")", R"("0000-01-01")", R"("2024-1-01")", R"("2024-13-01")",
                                   R"("2024-04-31")", R"("2024-00-10")", R"("2024-01-00")", R"("+2024-01-01")",
                                   R"("2024-01-01T00:00:00Z")", R"("2024/01/01")", R"("")"})
    EXPECT_EQ(written(f, s), refusal("date", s, bad));
  EXPECT_EQ(written(f, "20240229"), refusal("date", "20240229", "is not a string"));
}

TEST(Convert, JsonbKeepsAnyValueVerbatim) {
  const auto f = column_of(column_type::jsonb);
  for (const std::string_view v : {R"({"a": [1, 2.50, "x"], "b": null})", "[]", "1e400", R"("s")", "true", "-0"})
    EXPECT_EQ(written(f, v), v);
  EXPECT_EQ(written(f, "null"), "NULL");  // JSON null is the column's NULL
  const std::string deep = std::string(3000, '[') + "1" + std::string(3000, ']');
  EXPECT_EQ(written(f, deep), deep);
  // Under the default rules (depth 256) the core refuses it before row_of.
  EXPECT_TRUE(written(f, deep, {}).starts_with(
      R"(refused: key "k": value breaks a rule at byte 260: nesting deeper than the)"))
      << written(f, deep, {});
}

// --- objects ------------------------------------------------------------------

const std::string scores_key = "0000000000000000007 0000000000000000042";

// The cells of the `scores()` row of `json`, "NULL" for NULL, or the refusal.
std::vector<std::string> cells_of(const table_mapping& m, const entry& e) {
  auto r = validated_row(m, e);
  if (!r) {
    EXPECT_TRUE(r.error() == errc::invalid_value || r.error() == errc::invalid_key) << r.error().message();
    return {"refused: " + r.error().context()};
  }
  std::vector<std::string> out;
  for (const cell& c : r.value().values) out.push_back(c ? *c : "NULL");
  return out;
}

std::vector<std::string> cells_of(const table_mapping& m, std::string_view json) {
  return cells_of(m, entry::put(scores_key, std::string(json), 1));
}

using strings = std::vector<std::string>;

TEST(RowOf, TakesEachMappedFieldInMappingOrder) {
  EXPECT_EQ(cells_of(scores(), R"({"seen_at":"2026-01-02T03:04:05+01:00","tier":"gold","score":10})"),
            (strings{"10", "gold", "2026-01-02T02:04:05.000000Z"}));
  auto r = validated_row(scores(), entry::put(scores_key, R"({"score":10})", 1));
  ASSERT_TRUE(r);
  EXPECT_EQ(r.value().key, (strings{"7", "42"}));
}

TEST(RowOf, RefusesAValueThatIsNotAnObject) {
  const std::string why = R"(refused: key "0000000000000000007 0000000000000000042": a typed table holds JSON objects; the value is not one)";
  for (const std::string_view v : {"[1]", " 5", R"("score")", "null", "true", " [ {\"score\":1} ]"})
    EXPECT_EQ(cells_of(scores(), v), strings{why}) << v;
}

TEST(RowOf, RequiredOptionalAndDefaults) {
  const auto m = scores();
  EXPECT_EQ(cells_of(m, R"({"tier":"gold"})"),
            strings{R"(refused: key "0000000000000000007 0000000000000000042": field "score" (column "score", integer) is missing; the field is required)"});
  EXPECT_EQ(cells_of(m, "{}"),
            strings{R"(refused: key "0000000000000000007 0000000000000000042": field "score" (column "score", integer) is missing; the field is required)"});
  EXPECT_EQ(cells_of(m, R"({"score":null})"),
            strings{R"(refused: key "0000000000000000007 0000000000000000042": field "score" (column "score", integer) "null" is null; the field is required)"});
  // Missing with a default: the default, converted. Missing without: NULL.
  EXPECT_EQ(cells_of(m, R"({"score":1})"), (strings{"1", "free", "NULL"}));
  // null is not missing: the default is not used.
  EXPECT_EQ(cells_of(m, R"({"score":1,"tier":null,"seen_at":null})"), (strings{"1", "NULL", "NULL"}));
  // The column name is the one in messages.
  auto renamed = m;
  renamed.fields[0].column = "points";
  EXPECT_EQ(cells_of(renamed, R"({"score":1.5})"),
            strings{R"(refused: key "0000000000000000007 0000000000000000042": field "score" (column "points", integer) "1.5" has a fraction (set "round" to round it))"});
  // Undocumented, asserted: a required field that is missing takes its default.
  auto required_with_default = m;
  required_with_default.fields[1].required = true;
  EXPECT_EQ(cells_of(required_with_default, R"({"score":1})"), (strings{"1", "free", "NULL"}));
  EXPECT_EQ(cells_of(required_with_default, R"({"score":1,"tier":null})"),
            strings{R"(refused: key "0000000000000000007 0000000000000000042": field "tier" (column "tier", text) "null" is null; the field is required)"});
}

TEST(RowOf, UnmappedFieldsAreRefusedWithoutRestColumnAndKeptWithOne) {
  auto m = scores();
  EXPECT_EQ(cells_of(m, R"({"score":1,"extra":2})"),
            strings{R"(refused: key "0000000000000000007 0000000000000000042": field "extra" has no column (map it, or name a rest column))"});
  EXPECT_EQ(cells_of(m, R"({"score":1,"a\"b":2})"),
            strings{R"(refused: key "0000000000000000007 0000000000000000042": field "a\"b" has no column (map it, or name a rest column))"});
  m.rest_column = "rest";
  EXPECT_EQ(cells_of(m, R"({ "b" : [1, 2] ,"score":1, "a\u0041":{"x":null}})"),
            (strings{"1", "free", "NULL", R"({"b":[1, 2],"a\u0041":{"x":null}})"}));
  // Undocumented, asserted: with no unmapped field the rest column is NULL, not {}.
  EXPECT_EQ(cells_of(m, R"({"score":1})"), (strings{"1", "free", "NULL", "NULL"}));
}

TEST(RowOf, RefusesDuplicateMemberNamesAlsoWhenEscaped) {
  auto m = scores();
  const std::string twice = R"(refused: key "0000000000000000007 0000000000000000042": field "score" appears twice)";
  EXPECT_EQ(cells_of(m, R"({"score":1,"score":2})"), strings{twice});
  EXPECT_EQ(cells_of(m, R"({"score":1,"sc\u006fre":1})"), strings{twice});
  m.rest_column = "rest";
  EXPECT_EQ(cells_of(m, R"({"score":1,"x":1,"\u0078":2})"),
            strings{R"(refused: key "0000000000000000007 0000000000000000042": field "x" appears twice)"});
}

TEST(RowOf, MatchesEscapedMemberNames) {
  EXPECT_EQ(cells_of(scores(), R"({"sc\u006fre":1,"\u0074ier":"\u0067old"})"), (strings{"1", "gold", "NULL"}));
}

TEST(RowOf, ATombstoneIsTheDecodedKeyAndNullCells) {
  auto m = scores();
  auto r = validated_row(m, entry::erase(scores_key, 2));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r.value().key, (strings{"7", "42"}));
  EXPECT_EQ(r.value().values, (std::vector<cell>(3)));
  m.rest_column = "rest";
  r = validated_row(m, entry::erase(scores_key, 2));
  ASSERT_TRUE(r);
  EXPECT_EQ(r.value().values, (std::vector<cell>(4)));
  EXPECT_EQ(cells_of(m, entry::erase("abc", 2)),
            strings{R"(refused: key "abc": key column "community_id" needs 19 digits, with a '-' before them when negative)"});
}

TEST(RowOf, RefusesAKeyThatIsNotAnEncoding) {
  auto r = validated_row(scores(), entry::put("7 42", R"({"score":1})", 1));
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error() == errc::invalid_key);
  EXPECT_EQ(r.error().context(),
            R"(key "7 42": key column "community_id" needs 19 digits, with a '-' before them when negative)");
}

// --- json_of_cells --------------------------------------------------------------

table_mapping every_type() {
  table_mapping m;
  m.key = {text_key};
  m.fields = {{.field = "t", .type = column_type::text},
              {.field = "n", .type = column_type::integer},
              {.field = "big", .type = column_type::bigint},
              {.field = "num", .type = column_type::numeric},
              {.field = "d", .type = column_type::double_precision},
              {.field = "b", .type = column_type::boolean},
              {.field = "ts", .type = column_type::timestamptz},
              {.field = "dt", .type = column_type::date},
              {.field = "j", .column = "doc", .type = column_type::jsonb}};
  m.rest_column = "rest";
  return m;
}

std::string json_of(const table_mapping& m, const std::vector<std::optional<std::string>>& cells) {
  std::vector<std::optional<std::string_view>> views;
  for (const auto& c : cells) views.push_back(c ? std::optional<std::string_view>(*c) : std::nullopt);
  return detail::json_of_cells(m, views);
}

// One field of type `t` read back from `read_form`.
std::string read_back(column_type t, std::optional<std::string> read_form) {
  table_mapping m;
  m.key = {text_key};
  m.fields = {{.field = "x", .type = t}};
  return json_of(m, {std::move(read_form)});
}

TEST(JsonOfCells, NullsAndMappingOrder) {
  const auto m = every_type();
  EXPECT_EQ(json_of(m, std::vector<std::optional<std::string>>(10)),
            R"({"t":null,"n":null,"big":null,"num":null,"d":null,"b":null,"ts":null,"dt":null,"j":null})");
  table_mapping none;
  none.key = {text_key};
  EXPECT_EQ(json_of(none, {}), "{}");
}

TEST(JsonOfCells, TextIsEscaped) {
  EXPECT_EQ(read_back(column_type::text, std::string("a\"b\\c\x01\n\x1f\x7f/\xc3\xa9")),
            "{\"x\":\"a\\\"b\\\\c\\u0001\\u000a\\u001f\x7f/\xc3\xa9\"}");
  EXPECT_EQ(read_back(column_type::text, std::string("")), R"({"x":""})");
}

TEST(JsonOfCells, TimestampsFromMicrosecondsTrimTheFraction) {
  const auto ts = [](std::string micros) { return read_back(column_type::timestamptz, std::move(micros)); };
  EXPECT_EQ(ts("0"), R"({"x":"1970-01-01T00:00:00Z"})");
  EXPECT_EQ(ts("1500000"), R"({"x":"1970-01-01T00:00:01.5Z"})");
  EXPECT_EQ(ts("1000010"), R"({"x":"1970-01-01T00:00:01.00001Z"})");
  EXPECT_EQ(ts("1767322800123456"), R"({"x":"2026-01-02T03:00:00.123456Z"})");
  EXPECT_EQ(ts("-1"), R"({"x":"1969-12-31T23:59:59.999999Z"})");
  EXPECT_EQ(ts("-500000"), R"({"x":"1969-12-31T23:59:59.5Z"})");
  EXPECT_EQ(ts("-86400000000"), R"({"x":"1969-12-31T00:00:00Z"})");
  EXPECT_EQ(ts("-62135596800000000"), R"({"x":"0001-01-01T00:00:00Z"})");
  EXPECT_EQ(ts("253402300799999999"), R"({"x":"9999-12-31T23:59:59.999999Z"})");
}

TEST(JsonOfCells, DatesFromDays) {
  const auto dt = [](std::string days) { return read_back(column_type::date, std::move(days)); };
  EXPECT_EQ(dt("0"), R"({"x":"1970-01-01"})");
  EXPECT_EQ(dt("19782"), R"({"x":"2024-02-29"})");
  EXPECT_EQ(dt("-1"), R"({"x":"1969-12-31"})");
  EXPECT_EQ(dt("-719162"), R"({"x":"0001-01-01"})");
  EXPECT_EQ(dt("2932896"), R"({"x":"9999-12-31"})");
}

TEST(JsonOfCells, NumbersInTheirShortestExactText) {
  const auto d = [](std::string text) { return read_back(column_type::double_precision, std::move(text)); };
  EXPECT_EQ(d("1e+100"), R"({"x":1e+100})");
  EXPECT_EQ(d("0.10"), R"({"x":0.1})");
  EXPECT_EQ(d("100"), R"({"x":100})");
  EXPECT_EQ(d("-0"), R"({"x":-0})");
  EXPECT_EQ(d("5e-324"), R"({"x":5e-324})");
  EXPECT_EQ(d("1.7976931348623157e+308"), R"({"x":1.7976931348623157e+308})");
  EXPECT_EQ(read_back(column_type::integer, "-42"), R"({"x":-42})");
  EXPECT_EQ(read_back(column_type::bigint, "9223372036854775807"), R"({"x":9223372036854775807})");
  EXPECT_EQ(read_back(column_type::boolean, "false"), R"({"x":false})");
  // numeric comes back as PostgreSQL prints it: at the scale it was written.
  const auto num = [](std::string text) { return read_back(column_type::numeric, std::move(text)); };
  EXPECT_EQ(num("1.50"), R"({"x":1.50})");
  EXPECT_EQ(num("-0.50"), R"({"x":-0.50})");
  EXPECT_EQ(num("12.000"), R"({"x":12.000})");
  EXPECT_EQ(num("0.0"), R"({"x":0.0})");
  EXPECT_EQ(num("100"), R"({"x":100})");
  EXPECT_EQ(num("0.000001"), R"({"x":0.000001})");
  EXPECT_EQ(num("123456789012345678901234567890.1234567890"),
            R"({"x":123456789012345678901234567890.1234567890})");
}

TEST(JsonOfCells, RestMembersFollowTheMappedFields) {
  auto m = every_type();
  std::vector<std::optional<std::string>> cells(10);
  cells[0] = "a";
  cells[9] = R"({"z": 1, "y": [1, 2], "e\u0301": {}})";  // as PostgreSQL prints jsonb
  EXPECT_EQ(json_of(m, cells),
            R"({"t":"a","n":null,"big":null,"num":null,"d":null,"b":null,"ts":null,"dt":null,"j":null,"z":1,"y":[1, 2],"e\u0301":{}})");
  table_mapping only_rest;
  only_rest.key = {text_key};
  only_rest.rest_column = "rest";
  EXPECT_EQ(json_of(only_rest, {std::string(R"({"a": 1, "b": 2})")}), R"({"a":1,"b":2})");
  EXPECT_EQ(json_of(only_rest, {std::nullopt}), "{}");
  EXPECT_EQ(json_of(only_rest, {std::string("{}")}), "{}");
}

// Written-form cells (row_of's) as a store reads them back: timestamptz as
// microseconds since the epoch, date as days since 1970-01-01; the others as
// written (integers, numeric and booleans print as written here).
std::vector<std::optional<std::string>> read_form(const table_mapping& m, const std::vector<cell>& written_cells) {
  std::vector<std::optional<std::string>> out;
  for (std::size_t i = 0; i < written_cells.size(); ++i) {
    const cell& c = written_cells[i];
    if (!c || i >= m.fields.size()) {
      out.push_back(c);
      continue;
    }
    std::string why;
    switch (m.fields[i].type) {
      case column_type::timestamptz: {
        const auto micros = detail::parse_timestamp(*c, false, why);
        EXPECT_TRUE(micros) << *c;
        out.push_back(std::to_string(micros.value_or(0)));
        break;
      }
      case column_type::date: {
        const auto days = detail::parse_date(*c);
        EXPECT_TRUE(days) << *c;
        out.push_back(std::to_string(days.value_or(0)));
        break;
      }
      default: out.push_back(c);
    }
  }
  return out;
}

// The value as read back from a typed table after writing `json`.
std::string round_trip(const table_mapping& m, std::string_view json) {
  auto row = validated_row(m, entry::put("k", std::string(json), 1));
  if (!row) return "refused: " + row.error().context();
  return json_of(m, read_form(m, row.value().values));
}

TEST(JsonOfCells, WrittenThenReadIsTheDocumentedCanonicalForm) {
  const auto m = every_type();
  const std::string written_value =
      R"({"extra":[true, 1.50],"num":12.50,"ts":"2026-01-02T03:04:05.120+01:00","t":"a\"b\u00e9\n","n":1e3,)"
      R"("big":-9223372036854775808,"d":0.10,"b":false,"dt":"2024-02-29","j":{"k": [1,2]},"z":null})";
  const std::string canonical =
      R"({"t":"a\"bé\u000a","n":1000,"big":-9223372036854775808,"num":12.50,"d":0.1,"b":false,)"
      R"("ts":"2026-01-02T02:04:05.12Z","dt":"2024-02-29","j":{"k": [1,2]},"extra":[true, 1.50],"z":null})";
  EXPECT_EQ(round_trip(m, written_value), canonical);
  // The canonical form is a fixed point.
  EXPECT_EQ(round_trip(m, canonical), canonical);
  // Missing optional fields read back as null; no rest members, none appended.
  EXPECT_EQ(round_trip(m, R"({"ts":"1969-07-20T20:17:40Z","dt":"0001-01-01"})"),
            R"({"t":null,"n":null,"big":null,"num":null,"d":null,"b":null,"ts":"1969-07-20T20:17:40Z","dt":"0001-01-01","j":null})");
}

// --- hostile inputs ---------------------------------------------------------------

TEST(Hostile, InvalidUtf8NeverReachesRowOf) {
  auto m = every_type();
  auto r = validated_row(m, entry::put("k", "{\"t\":\"a\xff\"}", 1));
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error() == errc::invalid_value);
  EXPECT_EQ(r.error().context(), R"(key "k": value is not valid JSON at byte 7: invalid UTF-8)");
  r = validated_row(m, entry::put("k", "{\"t\":\"\xed\xa0\x80\"}", 1));  // a UTF-16 surrogate in UTF-8
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().context(), R"(key "k": value is not valid JSON at byte 6: invalid UTF-8)");
  r = validated_row(m, entry::put("k", R"({"t":"\ud800"})", 1));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().context(), R"(key "k": value is not valid JSON at byte 6: unpaired UTF-16 surrogate escape)");
}

TEST(Hostile, TruncatedJsonNeverReachesRowOf) {
  auto m = scores();
  auto r = validated_row(m, entry::put(scores_key, R"({"score":1)", 1));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().context(),
            R"(key "0000000000000000007 0000000000000000042": value is not valid JSON at byte 10: truncated: unclosed container)");
  r = validated_row(m, entry::put(scores_key, R"({"score":"2026-)", 1));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().context(),
            R"(key "0000000000000000007 0000000000000000042": value is not valid JSON at byte 9: unterminated string)");
  r = validated_row(m, entry::put(scores_key, "", 1));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().context(), R"(key "0000000000000000007 0000000000000000042": value is not valid JSON at byte 0: empty: no value)");
}

TEST(Hostile, AHugeUnmappedFieldNameGivesAShortMessage) {
  const std::string name(1 << 20, 'n');
  auto r = validated_row(scores(), entry::put(scores_key, R"({"score":1,")" + name + R"(":0})", 1));
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error() == errc::invalid_value);
  EXPECT_EQ(r.error().context(), R"(key "0000000000000000007 0000000000000000042": field ")" + std::string(80, 'n') +
                                     R"("... (1048576 bytes) has no column (map it, or name a rest column))");
  // And a huge key in a message is cut the same way (a text key, 512 bytes).
  const std::string key(512, 'k');
  auto m = scores();
  m.key = {text_key};
  auto k = validated_row(m, entry::put(key, R"({"score":"x"})", 1));
  ASSERT_FALSE(k);
  EXPECT_EQ(k.error().context(), "key \"" + std::string(80, 'k') +
                                     R"("... (512 bytes): field "score" (column "score", integer) "\"x\"" is a string, not a number (set "from_string" to accept one))");
}

TEST(Hostile, ManyMembersAreTakenInOnePass) {
  // 100000 unmapped members: checking duplicates pairwise would take minutes.
  auto m = scores();
  m.rest_column = "rest";
  std::string value = R"({"score":1)";
  std::string rest = "{";
  for (int i = 0; i < 100000; ++i) {
    const std::string member = "\"m" + std::to_string(i) + "\":" + std::to_string(i);
    value += "," + member;
    rest += (i ? "," : "") + member;
  }
  value += "}";
  rest += "}";
  auto r = validated_row(m, entry::put(scores_key, value, 1));
  ASSERT_TRUE(r) << r.error().message();
  ASSERT_EQ(r.value().values.size(), 4u);
  EXPECT_EQ(r.value().values[3], cell{rest});
  // A duplicate at the very end is still found.
  value.back() = ',';
  value += R"("m5":0})";
  r = validated_row(m, entry::put(scores_key, value, 1));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().context(), R"(key "0000000000000000007 0000000000000000042": field "m5" appears twice)");
}

// --- internals ---------------------------------------------------------------------

TEST(ParseJsonNumber, SplitsIntoSignificantDigitsAndExponent) {
  const auto split = [](std::string_view s) {
    const auto n = detail::parse_json_number(s);
    if (!n) return std::string("refused");
    return std::string(n->negative ? "-" : "+") + n->digits + "e" + std::to_string(n->exponent);
  };
  EXPECT_EQ(split("0"), "+0e0");
  EXPECT_EQ(split("-0.000"), "-0e0");
  EXPECT_EQ(split("120"), "+12e1");
  EXPECT_EQ(split("0.0500e2"), "+5e0");
  EXPECT_EQ(split("-1.25E-3"), "-125e-5");
  EXPECT_EQ(split("1e-999999999999999999999"), "+1e-1125899906842624");  // saturated at -2^50
  for (const std::string_view bad : {"", "-", "01", "-01", "1.", ".5", "+1", "1e", "1e+", "0x1", "1 ", " 1", "NaN", "1.5.0"})
    EXPECT_EQ(split(bad), "refused") << bad;
}

}  // namespace
}  // namespace storesync

// --- the JSON form ---------------------------------------------------------------

namespace storesync {
namespace {

std::string json_refusal(std::string_view text) {
  const auto typed = parse_typed_table(nlohmann::json::parse(text));
  return typed ? "accepted" : typed.error().context();
}

TEST(ParseTypedTable, ReadsEveryMember) {
  const auto typed = parse_typed_table(nlohmann::json::parse(R"({
      "schema": "public", "table": "scores",
      "key": [{"column": "community_id", "type": "bigint"}, {"column": "profile_id", "type": "bigint"}],
      "version": {"column": "changed_at", "type": "timestamptz"},
      "fields": [{"field": "score", "type": "integer", "required": true, "from_string": true, "round": true},
                 {"field": "tier", "column": "tier_name", "default": "free"},
                 {"field": "doc", "type": "jsonb", "default": {"a": [1, "x"]}}],
      "rest": "extra", "metadata": {"deleted": "is_deleted"}})"));
  ASSERT_TRUE(typed) << typed.error().message();
  const table_mapping& m = typed.value().mapping;
  EXPECT_EQ(typed.value().schema, "public");
  EXPECT_EQ(typed.value().table, "scores");
  ASSERT_EQ(m.key.size(), 2u);
  EXPECT_EQ(m.key[1].column, "profile_id");
  EXPECT_EQ(m.key[1].type, column_type::bigint);
  EXPECT_EQ(m.version_column, "changed_at");
  EXPECT_EQ(m.version_type, version_column_type::timestamptz);
  ASSERT_EQ(m.fields.size(), 3u);
  EXPECT_TRUE(m.fields[0].required && m.fields[0].from_string && m.fields[0].round);
  EXPECT_EQ(m.fields[1].column_name(), "tier_name");
  EXPECT_EQ(m.fields[1].type, column_type::text);
  EXPECT_EQ(m.fields[1].default_value, R"("free")");
  EXPECT_EQ(m.fields[2].default_value, R"({"a":[1,"x"]})");
  EXPECT_EQ(m.rest_column, "extra");
  EXPECT_EQ(m.metadata.deleted, "is_deleted");
  EXPECT_EQ(m.metadata.key, "storesync_key");
}

TEST(ParseTypedTable, NamesWhatIsWrong) {
  const std::string key = R"("key": [{"column": "id", "type": "bigint"}])";
  EXPECT_EQ(json_refusal(R"({"table": "t", )" + key + R"(, "colour": "red"})"),
            R"(table mapping: mapping: unknown member "colour")");
  EXPECT_EQ(json_refusal(R"({"table": "t", "key": []})"), R"(table mapping: mapping: "key" must be a non-empty array)");
  EXPECT_EQ(json_refusal(R"({"table": 5, )" + key + "}"), R"(table mapping: mapping: "table" must be a string)");
  EXPECT_EQ(json_refusal(R"({)" + key + "}"), R"(table mapping: mapping: "table" is missing)");
  EXPECT_EQ(json_refusal(R"({"table": "t", )" + key + R"(, "fields": [{"field": "a", "required": 1}]})"),
            R"(table mapping: fields[0]: "required" must be true or false)");
  EXPECT_NE(json_refusal(R"({"table": "t", )" + key + R"(, "fields": [{"field": "a", "type": "money"}]})")
                .find("money"),
            std::string::npos);
  EXPECT_EQ(json_refusal(R"({"table": "t", )" + key + R"(, "version": {"type": "date"}})"),
            R"(table mapping: version: "type" must be bigint or timestamptz)");
  EXPECT_EQ(json_refusal(R"([1, 2])"), "table mapping: mapping: must be an object");
  EXPECT_NE(json_refusal(R"({"table": "t", )" + key + R"(, "fields": [{"field": "n", "type": "integer", "default": 2147483648}]})"),
            "accepted")
      << "a default out of its column's range";
}

// A default is written out with nlohmann's dump, which recurses once per
// level: one deep enough overflowed the stack (the config_json fuzz target).
TEST(ParseTypedTable, RefusesADefaultNestedDeeperThanTheDefaultDepth) {
  const auto with_default = [](std::size_t depth) {
    return R"({"table": "t", "key": [{"column": "id", "type": "bigint"}], "fields": [{"field": "doc", "type": "jsonb", "default": )" +
           std::string(depth, '[') + std::string(depth, ']') + "}]}";
  };
  EXPECT_EQ(json_refusal(with_default(default_max_depth)), "accepted");
  EXPECT_EQ(json_refusal(with_default(default_max_depth + 1)),
            "table mapping: fields[0]: \"default\" nests deeper than " + std::to_string(default_max_depth));
  EXPECT_NE(json_refusal(with_default(100'000)), "accepted");
}

}  // namespace
}  // namespace storesync
