#pragma once
/// \file
/// The store conformance suite: one typed GoogleTest suite that checks what
/// the compiler cannot (the version guard, batch atomicity, keyset scans,
/// change order, checksums, checkpoints, metadata lookups, compare-and-restore
/// under a racing writer, split points) on any adapter, including yours.
/// Test-only: link //:testing (or GTest yourself).
///
/// Instantiate it with a *factory*: a default-constructible type whose
/// `make()` returns a fresh, empty store behind a pointer-like handle, and
/// which says whether the backend is transactional.
/// \code
///   struct my_factory {
///     static constexpr bool transactional = true;
///     std::unique_ptr<my_store> make() { return std::make_unique<my_store>(...); }
///   };
///   INSTANTIATE_TYPED_TEST_SUITE_P(My, StoreConformance, ::testing::Types<my_factory>);
/// \endcode
/// A factory object lives for one test; it may clean up in its destructor.
/// Tiers a store does not model are checked through their documented fallback
/// where one exists, and otherwise reported as skipped, never as passed.
///
/// A `checkpoint_store` that keeps its data (in a file, on a server) also
/// instantiates `PersistentStoreConformance`, with a factory that has `reopen()`: a new
/// handle on the storage of the last `make()`, whose handle the test has
/// already destroyed.
/// \code
///   INSTANTIATE_TYPED_TEST_SUITE_P(My, PersistentStoreConformance, ::testing::Types<my_factory>);
/// \endcode
///
/// A store that holds only keys and values of a certain shape (a typed table
/// whose keys encode a composite primary key and whose values are JSON objects
/// mapped onto columns) gives its factory two optional hooks. `key_of(plain)`
/// is the key the store holds for the suite's key `plain`: it must be defined
/// for every string, "" included (the suite uses it for range bounds, scan
/// positions and watermarks), injective, and keep byte-wise order
/// (a < b exactly when key_of(a) < key_of(b)). `value_of(json)` is the JSON
/// text the store holds for the suite's JSON value `json`; values read back
/// are compared with it by JSON meaning. A missing hook is the identity.
/// \code
///   struct my_typed_factory {
///     static constexpr bool transactional = true;
///     std::unique_ptr<my_store> make() { return std::make_unique<my_store>(...); }
///     static std::string key_of(std::string_view plain) { return "tenant " + std::string(plain); }
///     static std::string value_of(std::string_view json) { return R"({"doc":)" + std::string(json) + "}"; }
///   };
/// \endcode
/// Keys no store can hold (empty, overlong, not UTF-8) and text that is not
/// JSON, which the suite uses to check refusals, reach the store as they are.

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <initializer_list>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "storesync/core/checksum.hpp"
#include "storesync/core/key_split.hpp"
#include "storesync/core/lookup.hpp"
#include "storesync/core/store.hpp"

namespace storesync::testing {

template <class Factory>
class StoreConformance : public ::testing::Test {
 protected:
  using handle_type = decltype(std::declval<Factory&>().make());
  using store_type = std::remove_reference_t<decltype(*std::declval<handle_type&>())>;

  static_assert(store<store_type>, "the factory's make() must return a handle to a storesync::store");

  handle_type make_store() { return factory_.make(); }

  /// The key the store holds for the suite's key `plain`: the factory's
  /// `key_of`, or `plain` itself.
  static std::string k(std::string_view plain) {
    if constexpr (requires(std::string_view p) { Factory::key_of(p); }) {
      return std::string(Factory::key_of(plain));
    } else {
      return std::string(plain);
    }
  }
  /// `k` of each key.
  static std::vector<std::string> ks(std::initializer_list<std::string_view> plain) {
    std::vector<std::string> out;
    for (std::string_view p : plain) out.push_back(k(p));
    return out;
  }
  /// The JSON text the store holds for the suite's JSON value `json`: the
  /// factory's `value_of`, or `json` itself.
  static std::string v(std::string_view json) {
    if constexpr (requires(std::string_view j) { Factory::value_of(j); }) {
      return std::string(Factory::value_of(json));
    } else {
      return std::string(json);
    }
  }
  /// `v(json)` parsed, to compare with what a read returns.
  static nlohmann::json v_json(std::string_view json) { return nlohmann::json::parse(v(json)); }
  /// The range [k(first), k(last)), open-ended without `last`.
  static key_range range(std::string_view first, std::optional<std::string_view> last) {
    return key_range{k(first), last ? std::optional<std::string>(k(*last)) : std::nullopt};
  }
  /// The entries the store holds for the suite's put and tombstone.
  static entry put(std::string_view key, std::string_view json, version_type version) {
    return entry::put(k(key), v(json), version);
  }
  static entry erase(std::string_view key, version_type version) { return entry::erase(k(key), version); }

  static result<write_report> write_all(store_type& s, std::vector<entry> batch) {
    return s.write(std::span<const entry>(batch));
  }

  /// The stored entry, failing the test on error.
  static std::optional<entry> read_ok(store_type& s, std::string_view key) {
    auto r = s.read(key);
    EXPECT_TRUE(r) << "read(" << key << "): " << r.error().message();
    return r ? r.value() : std::nullopt;
  }

  /// `got` holds `want`: the same key, version, deletion and carried hash,
  /// and the same JSON meaning (stores may normalise the text; jsonb does).
  static void expect_holds(const std::optional<entry>& got, const entry& want) {
    ASSERT_TRUE(got) << want.key << " is missing";
    EXPECT_EQ(got->key, want.key);
    EXPECT_EQ(got->version, want.version);
    EXPECT_EQ(got->tombstone, want.tombstone);
    EXPECT_EQ(got->hash, want.hash);
    if (!want.tombstone) {
      EXPECT_EQ(nlohmann::json::parse(got->value), nlohmann::json::parse(want.value));
    }
  }

  static std::string padded(std::size_t i) {
    std::string s = std::to_string(i);
    return "key:" + std::string(6 - std::min<std::size_t>(6, s.size()), '0') + s;
  }

  // The rows the partitioning tests share: 1,000 keys "user:1000" to
  // "user:1999" (every tenth a tombstone), bunched where a byte-wise split
  // cannot tell them apart, and four keys around them.
  static std::vector<entry> partition_rows() {
    std::vector<entry> rows;
    for (int i = 1000; i < 2000; ++i) {
      const std::string key = "user:" + std::to_string(i);
      rows.push_back(i % 10 == 3 ? erase(key, 2) : put(key, std::to_string(i), 1));
    }
    for (const char* key : {"a", "user", "user;", "zzz"}) rows.push_back(put(key, "0", 1));
    return rows;
  }

  Factory factory_;
};

TYPED_TEST_SUITE_P(StoreConformance);

TYPED_TEST_P(StoreConformance, ReadOfMissingKeyIsEmpty) {
  auto s = this->make_store();
  auto r = s->read(this->k("never-written"));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_FALSE(r.value().has_value());
}

TYPED_TEST_P(StoreConformance, WriteThenReadRoundTrips) {
  auto s = this->make_store();
  const entry e = this->put("user:\xc3\xa9 42", R"({"name":"Ada","n":[1,2,3]})", 3);
  auto w = this->write_all(*s, {e});
  ASSERT_TRUE(w) << w.error().message();
  EXPECT_EQ(w.value(), (write_report{1, 0, 0}));
  this->expect_holds(this->read_ok(*s, e.key), e);
}

TYPED_TEST_P(StoreConformance, TombstoneIsReadAsDeleted) {
  auto s = this->make_store();
  ASSERT_TRUE(this->write_all(*s, {this->put("k", "1", 1), this->erase("k", 2)}));
  auto got = this->read_ok(*s, this->k("k"));
  ASSERT_TRUE(got);
  EXPECT_TRUE(got->tombstone);
  EXPECT_EQ(got->version, 2);
  EXPECT_TRUE(got->value.empty());
}

TYPED_TEST_P(StoreConformance, OlderVersionIsIgnored) {
  auto s = this->make_store();
  ASSERT_TRUE(this->write_all(*s, {this->put("k", R"("new")", 5)}));
  auto w = this->write_all(*s, {this->put("k", R"("old")", 4)});
  ASSERT_TRUE(w) << w.error().message();
  EXPECT_EQ(w.value(), (write_report{0, 0, 1}));
  auto got = this->read_ok(*s, this->k("k"));
  ASSERT_TRUE(got);
  EXPECT_EQ(got->version, 5);
  EXPECT_EQ(nlohmann::json::parse(got->value), this->v_json(R"("new")"));
}

TYPED_TEST_P(StoreConformance, EqualVersionIsIdempotent) {
  auto s = this->make_store();
  const std::vector<entry> batch = {this->put("a", "1", 1), this->put("b", "2", 7)};
  ASSERT_TRUE(this->write_all(*s, batch));
  auto again = this->write_all(*s, batch);
  ASSERT_TRUE(again) << again.error().message();
  EXPECT_EQ(again.value(), (write_report{0, 2, 0}));
  // Same version, different content: still a no-op (first write wins).
  auto w = this->write_all(*s, {this->put("a", "99", 1)});
  ASSERT_TRUE(w);
  EXPECT_EQ(w.value().unchanged, 1u);
  EXPECT_EQ(nlohmann::json::parse(this->read_ok(*s, this->k("a"))->value), this->v_json("1"));
}

TYPED_TEST_P(StoreConformance, DeleteThenOlderWriteStaysDeleted) {
  auto s = this->make_store();
  ASSERT_TRUE(this->write_all(*s, {this->put("k", "1", 1)}));
  ASSERT_TRUE(this->write_all(*s, {this->erase("k", 10)}));
  auto w = this->write_all(*s, {this->put("k", "2", 9)});
  ASSERT_TRUE(w);
  EXPECT_EQ(w.value().stale, 1u);
  auto got = this->read_ok(*s, this->k("k"));
  ASSERT_TRUE(got);
  EXPECT_TRUE(got->tombstone);
  EXPECT_EQ(got->version, 10);
  // A newer write brings the key back.
  ASSERT_TRUE(this->write_all(*s, {this->put("k", "3", 11)}));
  EXPECT_FALSE(this->read_ok(*s, this->k("k"))->tombstone);
}

TYPED_TEST_P(StoreConformance, NewestDuplicateInBatchWins) {
  auto s = this->make_store();
  auto w = this->write_all(
      *s, {this->put("k", "1", 1), this->put("k", "3", 3), this->put("k", "2", 2)});
  ASSERT_TRUE(w) << w.error().message();
  EXPECT_EQ(w.value().total(), 3u);
  auto got = this->read_ok(*s, this->k("k"));
  ASSERT_TRUE(got);
  EXPECT_EQ(got->version, 3);
  EXPECT_EQ(nlohmann::json::parse(got->value), this->v_json("3"));
}

TYPED_TEST_P(StoreConformance, InvalidEntryFailsNamingKeyAndWritesNothing) {
  // The first four keys no store can hold, and a value that is not JSON:
  // passed as they are, not through key_of and value_of.
  const std::vector<std::pair<entry, std::string>> invalid = {
      {entry::put("", this->v("1"), 1), "empty"},
      {entry::put(std::string("nul\0key", 7), this->v("1"), 1), "nul"},
      {entry::put(std::string(max_key_size + 1, 'k'), this->v("1"), 1), "kkkk"},
      {entry::put("bad-utf8-\xff", this->v("1"), 1), "bad-utf8"},
      {entry::put(this->k("bad-json"), "{not json", 1), "bad-json"},
      {this->put("bad-version", "1", 0), "bad-version"},
      {entry{this->k("bad-tombstone"), this->v("1"), 2, {}, true}, "bad-tombstone"},
  };
  for (const auto& [bad, shown] : invalid) {
    auto s = this->make_store();
    auto w = this->write_all(*s, {this->put("good-1", "1", 1), bad, this->put("good-2", "2", 1)});
    ASSERT_FALSE(w) << "accepted invalid entry " << shown;
    EXPECT_TRUE(w.error() == condition::invalid_input) << w.error().message();
    EXPECT_NE(w.error().message().find(shown), std::string::npos)
        << "error does not name the key: " << w.error().message();
    if constexpr (TypeParam::transactional) {
      EXPECT_FALSE(this->read_ok(*s, this->k("good-1"))) << "partial batch written for " << shown;
      EXPECT_FALSE(this->read_ok(*s, this->k("good-2"))) << "partial batch written for " << shown;
    }
  }
}

TYPED_TEST_P(StoreConformance, ScanReturnsEachKeyOnceInOrderAcrossPages) {
  using S = typename TestFixture::store_type;
  if constexpr (!scannable_store<S>) {
    GTEST_SKIP() << "store does not model scannable_store";
  } else {
    auto s = this->make_store();
    constexpr std::size_t n = 10'000;
    std::vector<std::size_t> order(n);
    for (std::size_t i = 0; i < n; ++i) order[i] = i;
    std::shuffle(order.begin(), order.end(), std::mt19937_64(42));
    std::vector<entry> batch;
    for (std::size_t i : order) batch.push_back(this->put(this->padded(i), std::to_string(i), 1));
    ASSERT_TRUE(this->write_all(*s, std::move(batch)));
    std::set<std::string> seen;
    std::string after = this->k("");
    std::string previous = after;
    for (;;) {
      auto page = s->scan(key_range{}, after, 137);
      ASSERT_TRUE(page) << page.error().message();
      for (const entry& e : page.value()) {
        EXPECT_LT(previous, e.key) << "scan out of order";
        previous = e.key;
        EXPECT_TRUE(seen.insert(e.key).second) << "key returned twice: " << e.key;
      }
      if (page.value().size() < 137) break;
      after = page.value().back().key;
    }
    EXPECT_EQ(seen.size(), n);
  }
}

TYPED_TEST_P(StoreConformance, ScanHonoursRangeBounds) {
  using S = typename TestFixture::store_type;
  if constexpr (!scannable_store<S>) {
    GTEST_SKIP() << "store does not model scannable_store";
  } else {
    auto s = this->make_store();
    ASSERT_TRUE(this->write_all(*s, {this->put("a", "1", 1), this->put("b", "1", 1),
                                     this->erase("c", 1), this->put("d", "1", 1)}));
    auto page = s->scan(this->range("b", "d"), this->k(""), 100);
    ASSERT_TRUE(page) << page.error().message();
    ASSERT_EQ(page.value().size(), 2u);
    EXPECT_EQ(page.value()[0].key, this->k("b"));
    EXPECT_EQ(page.value()[1].key, this->k("c"));
    EXPECT_TRUE(page.value()[1].tombstone);
    auto tail = s->scan(this->range("b", std::nullopt), this->k("c"), 100);
    ASSERT_TRUE(tail);
    ASSERT_EQ(tail.value().size(), 1u);
    EXPECT_EQ(tail.value()[0].key, this->k("d"));
  }
}

TYPED_TEST_P(StoreConformance, ChangesComeInVersionKeyOrderAndResume) {
  using S = typename TestFixture::store_type;
  if constexpr (!change_source<S>) {
    GTEST_SKIP() << "store does not model change_source";
  } else {
    auto s = this->make_store();
    std::vector<entry> batch;
    for (int i = 0; i < 300; ++i)
      batch.push_back(this->put("k" + std::to_string(i % 100), std::to_string(i), 1 + i / 100 + (i % 7)));
    batch.push_back(this->erase("k5", 50));
    ASSERT_TRUE(this->write_all(*s, std::move(batch)));

    std::vector<watermark> seen;
    watermark mark{0, this->k("")};
    for (;;) {
      auto page = s->changes_after(mark, 17);
      ASSERT_TRUE(page) << page.error().message();
      for (const entry& e : page.value()) {
        watermark here{e.version, e.key};
        EXPECT_LT(mark, here) << "not after the watermark or out of order";
        mark = here;
        seen.push_back(here);
      }
      if (page.value().size() < 17) break;
    }
    // Each key appears once, at its stored (newest) version.
    ASSERT_EQ(seen.size(), 100u);
    for (const watermark& w : seen) EXPECT_EQ(this->read_ok(*s, w.key)->version, w.version);
    EXPECT_EQ(seen.back().key, this->k("k5"));
    EXPECT_EQ(seen.back().version, 50);

    // Resuming from a watermark in the middle returns exactly the rest.
    auto rest = s->changes_after(seen[40], 1000);
    ASSERT_TRUE(rest);
    ASSERT_EQ(rest.value().size(), seen.size() - 41);
    EXPECT_EQ(rest.value().front().key, seen[41].key);

    // A later write moves its key to the end of the stream.
    ASSERT_TRUE(this->write_all(*s, {this->put("k0", "\"late\"", 100)}));
    auto after = s->changes_after(seen.back(), 10);
    ASSERT_TRUE(after);
    ASSERT_EQ(after.value().size(), 1u);
    EXPECT_EQ(after.value()[0].key, this->k("k0"));
  }
}

namespace detail {
template <class S>
result<range_checksum> checksum_of(S& s, const key_range& range) {
  if constexpr (checksum_store<S>) return s.checksum(range);
  else return checksum_by_scan(s, range);
}
}  // namespace detail

TYPED_TEST_P(StoreConformance, ChecksumEqualForEqualContent) {
  using S = typename TestFixture::store_type;
  if constexpr (!checksum_store<S> && !scannable_store<S>) {
    GTEST_SKIP() << "store models neither checksum_store nor scannable_store";
  } else {
    auto a = this->make_store();
    auto b = this->make_store();
    std::vector<entry> rows;
    for (int i = 0; i < 500; ++i)
      rows.push_back(i % 10 == 0 ? this->erase(this->padded(i), i + 1)
                                 : this->put(this->padded(i), std::to_string(i * i), i + 1));
    std::vector<entry> reversed(rows.rbegin(), rows.rend());
    ASSERT_TRUE(this->write_all(*a, rows));
    // Same final content reached another way: reversed, plus older versions first.
    ASSERT_TRUE(this->write_all(*b, {this->put(this->padded(3), "\"older\"", 1)}));
    ASSERT_TRUE(this->write_all(*b, reversed));
    for (const key_range& r : {key_range{}, this->range(this->padded(100), this->padded(250))}) {
      auto ca = detail::checksum_of(*a, r);
      auto cb = detail::checksum_of(*b, r);
      ASSERT_TRUE(ca && cb);
      EXPECT_EQ(ca.value(), cb.value());
    }
    auto whole = detail::checksum_of(*a, key_range{});
    EXPECT_EQ(whole.value().count, 500u);
    auto part = detail::checksum_of(*a, this->range(this->padded(100), this->padded(250)));
    EXPECT_EQ(part.value().count, 150u);
    if constexpr (checksum_store<S> && scannable_store<S>) {
      // The backend's own checksum agrees with the definition.
      EXPECT_EQ(a->checksum(key_range{}).value(), checksum_by_scan(*a, key_range{}).value());
    }
  }
}

TYPED_TEST_P(StoreConformance, ChecksumChangesAfterAnySingleRowChange) {
  using S = typename TestFixture::store_type;
  if constexpr (!checksum_store<S> && !scannable_store<S>) {
    GTEST_SKIP() << "store models neither checksum_store nor scannable_store";
  } else {
    std::vector<entry> rows;
    for (int i = 0; i < 50; ++i) rows.push_back(this->put(this->padded(i), std::to_string(i), 5));
    // Each variant differs from `rows` in one field of one row (or one extra row).
    const std::string key = this->padded(17);
    const std::vector<std::pair<const char*, entry>> edits = {
        {"value", this->put(key, "\"changed\"", 5)},
        {"version", this->put(key, "17", 6)},
        {"tombstone", this->erase(key, 5)},
        {"new row", this->put("key:zzz", "1", 1)},
    };
    auto base = this->make_store();
    ASSERT_TRUE(this->write_all(*base, rows));
    auto before = detail::checksum_of(*base, key_range{});
    ASSERT_TRUE(before);
    for (const auto& [what, edit] : edits) {
      std::vector<entry> variant = rows;
      if (edit.key == this->k(key)) variant[17] = edit;
      else variant.push_back(edit);
      auto s = this->make_store();
      ASSERT_TRUE(this->write_all(*s, std::move(variant)));
      auto after = detail::checksum_of(*s, key_range{});
      ASSERT_TRUE(after);
      EXPECT_NE(after.value().digest, before.value().digest) << "digest blind to a " << what << " change";
    }
  }
}

TYPED_TEST_P(StoreConformance, CheckpointCommitsWithItsBatch) {
  using S = typename TestFixture::store_type;
  if constexpr (!checkpoint_store<S>) {
    GTEST_SKIP() << "store does not model checkpoint_store";
  } else {
    auto s = this->make_store();
    auto none = s->load_checkpoint("run");
    ASSERT_TRUE(none) << none.error().message();
    EXPECT_FALSE(none.value());

    std::vector<entry> batch = {this->put("a", "1", 1), this->put("b", "2", 1)};
    auto w = s->write_with_checkpoint(batch, checkpoint{"run", "mark-1"});
    ASSERT_TRUE(w) << w.error().message();
    EXPECT_EQ(w.value().applied, 2u);
    EXPECT_EQ(s->load_checkpoint("run").value(), std::optional<std::string>("mark-1"));
    EXPECT_TRUE(this->read_ok(*s, this->k("b")));

    // Checkpoints are independent by name and overwritten in place.
    ASSERT_TRUE(s->write_with_checkpoint({}, checkpoint{"other", "x"}));
    std::vector<entry> next = {this->put("c", "3", 1)};
    ASSERT_TRUE(s->write_with_checkpoint(next, checkpoint{"run", "mark-2"}));
    EXPECT_EQ(s->load_checkpoint("run").value(), std::optional<std::string>("mark-2"));
    EXPECT_EQ(s->load_checkpoint("other").value(), std::optional<std::string>("x"));

    // A failed batch moves neither the rows nor the checkpoint.
    std::vector<entry> bad = {this->put("d", "4", 1), entry::put(this->k("e"), "{oops", 1)};
    auto failed = s->write_with_checkpoint(bad, checkpoint{"run", "mark-3"});
    ASSERT_FALSE(failed);
    EXPECT_TRUE(failed.error() == condition::invalid_input);
    EXPECT_EQ(s->load_checkpoint("run").value(), std::optional<std::string>("mark-2"));
    if constexpr (TypeParam::transactional) {
      EXPECT_FALSE(this->read_ok(*s, this->k("d")));
    }
  }
}

TYPED_TEST_P(StoreConformance, ValuesOutsideItsRulesAreRefusedBeforeAnythingIsWritten) {
  // The store's `rules()` (or `any_json`) must be exact: what they accept is
  // stored, and what they refuse fails validation (errc::invalid_value)
  // before the backend sees it, never at commit. Write paths rely on it to
  // refuse at the door what the store could never hold.
  auto s = this->make_store();
  const value_rules rules = rules_of(*s);
  // The deepest nesting the rules allow, counting the levels value_of adds.
  const auto nested = [](std::size_t n) { return std::string(n, '[') + std::string(n, ']'); };
  std::size_t deepest = std::min(rules.max_depth, max_supported_depth);
  while (deepest > 0 && !validate(this->put("deepest", nested(deepest), 1), rules)) --deepest;
  // The text the store is given (value_of of each value; a byte-order mark
  // goes before it).
  const std::vector<std::pair<std::string, std::string>> values = {
      {"nul", this->v(R"({"a":"\u0000"})")},
      {"nul-escaped", this->v(R"({"a":"\\u0000"})")},
      {"control", this->v(R"(["\u0001\u001f"])")},
      {"surrogates", this->v(R"(["\ud83d\ude00 \u00e9 \u20ac"])")},
      {"big-int", this->v("123456789012345678901234567890123456789")},
      {"huge-exp", this->v("1e131072")},
      {"max-exp", this->v("1e131071")},
      {"tiny-exp", this->v("1e-16384")},
      {"min-exp", this->v("-1e-16383")},
      {"double-overflow", this->v("1e400")},
      {"long-fraction", this->v("0." + std::string(16384, '7'))},
      {"deepest", this->v(nested(deepest))},
      {"too-deep", this->v(nested(deepest + 1))},
      {"bom", "\xEF\xBB\xBF" + this->v("{}")},
      {"lone-surrogate", this->v(R"("\udc00")")},
  };
  version_type version = 1;
  for (const auto& [key, value] : values) {
    const entry e = entry::put(this->k(key), value, version++);
    const bool fits = static_cast<bool>(validate(e, rules));
    auto w = this->write_all(*s, {this->put("before-" + key, "1", 1), e});
    if (fits) {
      ASSERT_TRUE(w) << key << ": the rules accept it, the store refused it: " << w.error().message();
      const auto got = this->read_ok(*s, e.key);
      ASSERT_TRUE(got) << key;
      EXPECT_EQ(got->version, e.version) << key;
      EXPECT_EQ(got->hash, e.hash) << key;
    } else {
      ASSERT_FALSE(w) << key << ": the rules refuse it, the store took it";
      EXPECT_TRUE(w.error() == errc::invalid_value)
          << key << ": refused by the backend, not by validation: " << w.error().message();
      EXPECT_NE(w.error().message().find(key), std::string::npos) << w.error().message();
      EXPECT_FALSE(this->read_ok(*s, e.key)) << key;
      if constexpr (TypeParam::transactional) {
        EXPECT_FALSE(this->read_ok(*s, this->k("before-" + key))) << key;
      }
    }
  }
}

TYPED_TEST_P(StoreConformance, MaxVersionIsTheLargestStored) {
  using S = typename TestFixture::store_type;
  if constexpr (!versioned_store<S>) {
    GTEST_SKIP() << "store does not model versioned_store";
  } else {
    auto s = this->make_store();
    auto empty = s->max_version();
    ASSERT_TRUE(empty) << empty.error().message();
    EXPECT_EQ(empty.value(), 0);
    ASSERT_TRUE(this->write_all(*s, {this->put("a", "1", 7), this->put("b", "1", 3), this->erase("c", 42)}));
    ASSERT_TRUE(this->write_all(*s, {this->put("a", "2", 5)}));  // stale: changes nothing
    auto max = s->max_version();
    ASSERT_TRUE(max) << max.error().message();
    EXPECT_EQ(max.value(), 42) << "tombstones count";
    ASSERT_TRUE(this->write_all(*s, {this->put("b", "2", 1'700'000'000'000'000)}));
    EXPECT_EQ(s->max_version().value(), 1'700'000'000'000'000);
  }
}

namespace detail {
inline std::size_t rows_in(const std::vector<entry>& rows, const key_range& range) {
  return static_cast<std::size_t>(std::count_if(
      rows.begin(), rows.end(), [&](const entry& e) { return range.contains(e.key); }));
}
}  // namespace detail

TYPED_TEST_P(StoreConformance, LookupAgreesWithRead) {
  // Through lookup_meta: the store's own lookup when it has one, else the
  // per-key fallback, which must answer the same.
  auto s = this->make_store();
  // A key at the size limit: max_key_size bytes once through key_of.
  std::size_t longest_size = max_key_size;
  while (longest_size > 0 && this->k(std::string(longest_size, 'k')).size() > max_key_size) --longest_size;
  const std::string longest(longest_size, 'k');
  ASSERT_TRUE(this->write_all(*s, {this->put("a", R"({"n":1})", 3), this->put("gone", "1", 1),
                                   this->put("b", "[2]", 9), this->put(longest, "true", 2)}));
  ASSERT_TRUE(this->write_all(*s, {this->erase("gone", 4), this->put("a", R"({"n":2})", 5)}));
  // "" and "bad\xff" are keys no store can hold: asked as they are.
  const std::vector<std::string> asked = {
      this->k("a"), this->k("missing"), this->k("gone"), this->k("a"),       this->k("b"),
      "",           this->k(longest),   this->k("b"),    this->k("missing"), "bad\xff"};
  const std::vector<std::string_view> keys(asked.begin(), asked.end());
  auto got = lookup_meta(*s, std::span<const std::string_view>(keys));
  ASSERT_TRUE(got) << got.error().message();
  ASSERT_EQ(got.value().size(), keys.size());
  for (std::size_t i = 0; i + 1 < keys.size(); ++i) {
    const std::optional<entry> read = this->read_ok(*s, keys[i]);
    const std::optional<entry_meta> want =
        read ? std::optional<entry_meta>{meta_of(*read)} : std::nullopt;
    EXPECT_EQ(got.value()[i], want) << "key #" << i;
  }
  // Spot values, so that agreeing with a wrong `read` cannot pass.
  EXPECT_EQ(got.value()[0], (entry_meta{5, hash_content(this->v(R"({"n":2})")), false}));
  EXPECT_EQ(got.value()[3], got.value()[0]) << "a repeated key gets its own answer";
  EXPECT_FALSE(got.value()[1]);
  EXPECT_EQ(got.value()[2], (entry_meta{4, content_hash{}, true})) << "tombstones are included";
  EXPECT_EQ(got.value()[4], (entry_meta{9, hash_content(this->v("[2]")), false}));
  EXPECT_FALSE(got.value()[5]) << "a key no write can store is absent";
  EXPECT_EQ(got.value()[6], (entry_meta{2, hash_content(this->v("true")), false}));
  EXPECT_FALSE(got.value()[9]) << "a key no write can store is absent";
  auto by_read = lookup_by_read(*s, std::span<const std::string_view>(keys));
  ASSERT_TRUE(by_read) << by_read.error().message();
  EXPECT_EQ(by_read.value(), got.value());

  // Many keys in one call, half of them stored, some asked twice.
  std::vector<entry> rows;
  for (std::size_t i = 0; i < 3000; i += 2) rows.push_back(this->put(this->padded(i), "1", 1 + i));
  ASSERT_TRUE(this->write_all(*s, rows));
  std::vector<std::string> names;
  for (std::size_t i = 0; i < 3000; ++i) names.push_back(this->k(this->padded(i)));
  for (std::size_t i = 0; i < 3000; i += 7) names.push_back(this->k(this->padded(i)));
  const std::vector<std::string_view> many(names.begin(), names.end());
  auto bulk = lookup_meta(*s, std::span<const std::string_view>(many));
  ASSERT_TRUE(bulk) << bulk.error().message();
  ASSERT_EQ(bulk.value().size(), many.size());
  for (std::size_t j = 0; j < many.size(); ++j) {
    const std::size_t i = j < 3000 ? j : (j - 3000) * 7;
    if (i % 2 == 0) {
      EXPECT_EQ(bulk.value()[j],
                (entry_meta{static_cast<version_type>(1 + i), hash_content(this->v("1")), false}))
          << many[j];
    } else {
      EXPECT_FALSE(bulk.value()[j]) << many[j];
    }
  }
}

TYPED_TEST_P(StoreConformance, LookupOfNoKeysIsEmptyAndOverlongKeysAreRefused) {
  auto s = this->make_store();
  ASSERT_TRUE(this->write_all(*s, {this->put("a", "1", 1)}));
  auto none = lookup_meta(*s, std::span<const std::string_view>{});
  ASSERT_TRUE(none) << none.error().message();
  EXPECT_TRUE(none.value().empty());

  const std::string a = this->k("a");
  // A key no store can hold: asked as it is.
  const std::string too_long = "long" + std::string(max_key_size, 'k');
  const std::vector<std::string_view> keys = {a, too_long};
  auto refused = lookup_meta(*s, std::span<const std::string_view>(keys));
  ASSERT_FALSE(refused) << "looked up a key longer than max_key_size";
  EXPECT_TRUE(refused.error() == condition::invalid_input) << refused.error().message();
  EXPECT_NE(refused.error().message().find("longkkk"), std::string::npos)
      << "error does not name the key: " << refused.error().message();
}

TYPED_TEST_P(StoreConformance, RestorePutsBackExactlyThePreviousEntry) {
  using S = typename TestFixture::store_type;
  if constexpr (!restorable_store<S>) {
    GTEST_SKIP() << "store does not model restorable_store";
  } else {
    const entry before = this->put("k", R"({"v":"before"})", 3);
    const entry dead = this->erase("t", 2);
    const std::vector<entry> start = {before, dead, this->put("other", "1", 1)};
    auto s = this->make_store();
    auto reference = this->make_store();  // holds what the undo must bring back
    ASSERT_TRUE(this->write_all(*s, start));
    ASSERT_TRUE(this->write_all(*reference, start));

    ASSERT_TRUE(this->write_all(
        *s, {this->put("k", R"({"v":"after"})", 8), this->put("t", R"("alive")", 6)}));
    auto undo_k = s->restore(before.key, 8, before);
    ASSERT_TRUE(undo_k) << undo_k.error().message();
    auto undo_t = s->restore(dead.key, 6, dead);
    ASSERT_TRUE(undo_t) << undo_t.error().message();

    this->expect_holds(this->read_ok(*s, before.key), before);
    this->expect_holds(this->read_ok(*s, dead.key), dead);
    const std::vector<std::string_view> keys = {before.key, dead.key};
    auto meta = lookup_meta(*s, std::span<const std::string_view>(keys));
    ASSERT_TRUE(meta) << meta.error().message();
    EXPECT_EQ(meta.value()[0], meta_of(before));
    EXPECT_EQ(meta.value()[1], meta_of(dead));
    if constexpr (checksum_store<S> || scannable_store<S>) {
      // The stored row hashes were restored too.
      auto mine = detail::checksum_of(*s, key_range{});
      auto want = detail::checksum_of(*reference, key_range{});
      ASSERT_TRUE(mine && want);
      EXPECT_EQ(mine.value(), want.value());
    }
    if constexpr (versioned_store<S>) {
      EXPECT_EQ(s->max_version().value(), 3) << "the largest version goes down with the undo";
    }

    // Undone already: a second undo finds another version.
    auto twice = s->restore(dead.key, 6, dead);
    ASSERT_FALSE(twice);
    EXPECT_TRUE(twice.error() == errc::version_conflict) << twice.error().message();

    // The version guard starts again from the restored version.
    auto older = this->write_all(*s, {this->put("k", "0", 2)});
    ASSERT_TRUE(older);
    EXPECT_EQ(older.value(), (write_report{0, 0, 1}));
    auto redo = this->write_all(*s, {this->put("k", R"({"v":"after"})", 8)});
    ASSERT_TRUE(redo) << redo.error().message();
    EXPECT_EQ(redo.value(), (write_report{1, 0, 0}));
    EXPECT_EQ(this->read_ok(*s, before.key)->version, 8);
  }
}

TYPED_TEST_P(StoreConformance, RestoreWithoutPreviousRemovesTheKey) {
  using S = typename TestFixture::store_type;
  if constexpr (!restorable_store<S>) {
    GTEST_SKIP() << "store does not model restorable_store";
  } else {
    auto s = this->make_store();
    ASSERT_TRUE(this->write_all(*s, {this->put("new", "1", 4), this->put("stays", "2", 4),
                                     this->erase("ghost", 7)}));
    auto removed = s->restore(this->k("new"), 4, std::nullopt);
    ASSERT_TRUE(removed) << removed.error().message();
    auto ghost = s->restore(this->k("ghost"), 7, std::nullopt);
    ASSERT_TRUE(ghost) << "a tombstone is removed too: " << ghost.error().message();

    EXPECT_FALSE(this->read_ok(*s, this->k("new")));
    EXPECT_FALSE(this->read_ok(*s, this->k("ghost")));
    this->expect_holds(this->read_ok(*s, this->k("stays")), this->put("stays", "2", 4));
    const std::vector<std::string> names = this->ks({"new", "ghost", "stays"});
    const std::vector<std::string_view> keys(names.begin(), names.end());
    auto meta = lookup_meta(*s, std::span<const std::string_view>(keys));
    ASSERT_TRUE(meta) << meta.error().message();
    EXPECT_FALSE(meta.value()[0]);
    EXPECT_FALSE(meta.value()[1]);
    EXPECT_TRUE(meta.value()[2]);
    if constexpr (checksum_store<S> || scannable_store<S>) {
      EXPECT_EQ(detail::checksum_of(*s, key_range{}).value().count, 1u);
    }
    // Gone, tombstone and all: any version applies again, even an old one.
    auto w = this->write_all(*s, {this->put("new", "5", 1), this->put("ghost", "6", 1)});
    ASSERT_TRUE(w) << w.error().message();
    EXPECT_EQ(w.value(), (write_report{2, 0, 0}));
  }
}

TYPED_TEST_P(StoreConformance, RestoreRefusesWhenTheStoredVersionIsNotExpected) {
  using S = typename TestFixture::store_type;
  if constexpr (!restorable_store<S>) {
    GTEST_SKIP() << "store does not model restorable_store";
  } else {
    auto s = this->make_store();
    const entry before = this->put("contested", "1", 3);
    ASSERT_TRUE(this->write_all(*s, {before}));
    ASSERT_TRUE(this->write_all(*s, {this->put("contested", "2", 5)}));  // the write to undo
    const entry newer = this->put("contested", "3", 7);  // came in before the undo
    ASSERT_TRUE(this->write_all(*s, {newer}));

    const std::vector<std::tuple<const char*, std::string, version_type, std::optional<entry>>>
        attempts = {
            {"a newer write came in", "contested", 5, before},
            {"a newer write came in (no previous)", "contested", 5, std::nullopt},
            {"the expected version never landed", "contested", 9, before},
            {"the key was never written", "never", 2, std::nullopt},
            {"the key was never written (previous)", "never", 2, this->put("never", "1", 1)},
        };
    for (const auto& [why, key, expected, previous] : attempts) {
      auto r = s->restore(this->k(key), expected, previous);
      ASSERT_FALSE(r) << "restored although " << why;
      EXPECT_TRUE(r.error() == errc::version_conflict) << why << ": " << r.error().message();
      EXPECT_TRUE(r.error() == condition::conflict) << why;
      EXPECT_NE(r.error().message().find(key), std::string::npos)
          << why << ": error does not name the key: " << r.error().message();
    }
    this->expect_holds(this->read_ok(*s, newer.key), newer);
    EXPECT_FALSE(this->read_ok(*s, this->k("never"))) << "a refused restore created the key";
  }
}

TYPED_TEST_P(StoreConformance, RestoreRefusesABadRequestAndChangesNothing) {
  using S = typename TestFixture::store_type;
  if constexpr (!restorable_store<S>) {
    GTEST_SKIP() << "store does not model restorable_store";
  } else {
    auto s = this->make_store();
    const entry stored = this->put("k", "2", 5);
    ASSERT_TRUE(this->write_all(*s, {this->put("k", "1", 3)}));
    ASSERT_TRUE(this->write_all(*s, {stored}));
    // The keys as the store holds them; the empty key, which no store can
    // hold, and text that is not JSON are given as they are.
    const std::string held = stored.key;
    std::vector<std::tuple<const char*, std::string, version_type, std::optional<entry>>> bad = {
        {"previous of another key", held, 5, this->put("other", "1", 3)},
        {"previous at the expected version", held, 5, this->put("k", "1", 5)},
        {"previous above the expected version", held, 5, this->put("k", "1", 6)},
        {"previous that is not JSON", held, 5, entry::put(held, "{oops", 3)},
        {"previous tombstone with a value", held, 5, entry{held, this->v("1"), 3, {}, true}},
        {"previous at version 0", held, 5, this->put("k", "1", 0)},
        {"expected version 0", held, 0, std::nullopt},
        {"an empty key", "", 5, std::nullopt},
    };
    // A previous entry the store's own rules refuse (PostgreSQL: no U+0000).
    const entry nul = this->put("k", R"("\u0000")", 3);
    if (!validate(nul, rules_of(*s))) bad.emplace_back("previous outside the store's rules", held, 5, nul);
    for (const auto& [why, key, expected, previous] : bad) {
      auto r = s->restore(key, expected, previous);
      ASSERT_FALSE(r) << "accepted " << why;
      EXPECT_TRUE(r.error() == condition::invalid_input) << why << ": " << r.error().message();
      this->expect_holds(this->read_ok(*s, held), stored);
    }
  }
}

TYPED_TEST_P(StoreConformance, RestoreNeverClobbersANewerWrite) {
  // A writer stores version 3 of each key while a restorer undoes version 2
  // of the same keys, putting back version 1 (first round) or removing the
  // key (second round: it was new at version 2). Whichever comes first,
  // version 3 must survive: either the undo lands first and the write
  // applies over it, or the undo finds version 3 and refuses.
  using S = typename TestFixture::store_type;
  if constexpr (!restorable_store<S>) {
    GTEST_SKIP() << "store does not model restorable_store";
  } else {
    auto s = this->make_store();
    constexpr std::size_t n = 200;
    for (const bool removing : {false, true}) {
      SCOPED_TRACE(removing ? "undoing by removal" : "undoing to a previous entry");
      const std::string prefix = removing ? "removed:" : "restored:";
      std::vector<entry> base, undone, newer;
      for (std::size_t i = 0; i < n; ++i) {
        base.push_back(this->put(prefix + this->padded(i), R"("base")", 1));
        undone.push_back(this->put(prefix + this->padded(i), R"("undone")", 2));
        newer.push_back(this->put(prefix + this->padded(i), R"("newer")", 3));
      }
      if (!removing) {
        ASSERT_TRUE(this->write_all(*s, base));
      }
      ASSERT_TRUE(this->write_all(*s, undone));

      std::atomic<int> ready{0};
      // 1: undone / applied; 0: version conflict / not applied; 2: an error.
      std::vector<int> restored(n, -1), written(n, -1);
      std::vector<std::string> errors(n);
      std::thread restorer([&] {
        ready.fetch_add(1);
        while (ready.load() < 2) std::this_thread::yield();
        for (std::size_t i = 0; i < n; ++i) {
          auto r = s->restore(base[i].key, 2,
                              removing ? std::nullopt : std::optional<entry>{base[i]});
          restored[i] = r ? 1 : r.error() == errc::version_conflict ? 0 : 2;
          if (restored[i] == 2) errors[i] = r.error().message();
        }
      });
      std::thread writer([&] {
        ready.fetch_add(1);
        while (ready.load() < 2) std::this_thread::yield();
        for (std::size_t i = 0; i < n; ++i) {
          auto w = s->write(std::span<const entry>(&newer[i], 1));
          written[i] = !w ? 2 : w.value().applied == 1 ? 1 : 0;
        }
      });
      restorer.join();
      writer.join();
      for (std::size_t i = 0; i < n; ++i) {
        ASSERT_NE(restored[i], 2) << base[i].key << ": " << errors[i];
        ASSERT_EQ(written[i], 1) << base[i].key << ": the newer write was not applied";
        this->expect_holds(this->read_ok(*s, base[i].key), newer[i]);
      }
    }
  }
}

TYPED_TEST_P(StoreConformance, SplitPointsAreStoredKeysThatBalanceTheRange) {
  using S = typename TestFixture::store_type;
  if constexpr (!partitionable_store<S>) {
    GTEST_SKIP() << "store does not model partitionable_store";
  } else {
    auto s = this->make_store();
    const std::vector<entry> rows = this->partition_rows();
    ASSERT_TRUE(this->write_all(*s, rows));
    const key_range users = this->range("user:", "user;");
    auto points = s->split_points(users, 4);
    ASSERT_TRUE(points) << points.error().message();
    std::string previous = users.first;
    for (const std::string& p : points.value()) {
      EXPECT_LT(previous, p) << "points not strictly ascending, or not after the range's start";
      EXPECT_TRUE(users.contains(p)) << p << " is outside the range";
      EXPECT_TRUE(this->read_ok(*s, p)) << p << " is not a stored key";
      previous = p;
    }
    // 1,000 rows (tombstones count) in four runs of 250.
    EXPECT_EQ(points.value(), this->ks({"user:1250", "user:1500", "user:1750"}));

    using points_type = std::vector<std::string>;
    const std::vector<std::tuple<const char*, key_range, std::size_t, points_type>> cases = {
        {"parts 0", users, 0, {}},
        {"parts 1", users, 1, {}},
        {"an empty range", this->range("user;", "user:"), 4, {}},
        {"a range without rows", this->range("b", "c"), 4, {}},
        {"fewer rows than parts", this->range("user:1000", "user:1003"), 10,
         this->ks({"user:1001", "user:1002"})},
        // 1,004 rows in two runs of 502: "a", "user", then "user:1000" ...
        {"the whole key space", key_range{}, 2, this->ks({"user:1500"})},
        // user:1990 .. user:1999, "user;", "zzz": three runs of 4.
        {"an open end", this->range("user:1990", std::nullopt), 3, this->ks({"user:1994", "user:1998"})},
        // 1,000 rows in seven: six runs of 143, then 142.
        {"uneven runs", users, 7,
         this->ks({"user:1143", "user:1286", "user:1429", "user:1572", "user:1715", "user:1858"})},
    };
    for (const auto& [what, range, parts, want] : cases) {
      auto got = s->split_points(range, parts);
      ASSERT_TRUE(got) << what << ": " << got.error().message();
      EXPECT_EQ(got.value(), want) << what;
    }
  }
}

TYPED_TEST_P(StoreConformance, PartChecksumsEqualOneChecksumPerPart) {
  // For every store: `part_checksums` asks a part_checksum_store once and
  // any other store part by part; the answers must be the same.
  using S = typename TestFixture::store_type;
  auto s = this->make_store();
  ASSERT_TRUE(this->write_all(*s, this->partition_rows()));
  const std::vector<std::string> points = this->ks({"user:1001", "user:1500", "user:1501", "user:1999"});
  for (const key_range& range : {key_range{}, this->range("user:1000", "user;"), this->range("user:", std::nullopt),
                                 this->range("b", "user:1002")}) {
    std::vector<std::string> inside;
    for (const std::string& p : points)
      if (p > range.first && range.contains(p)) inside.push_back(p);
    auto sums = part_checksums(*s, range, inside);
    ASSERT_TRUE(sums) << sums.error().message();
    ASSERT_EQ(sums.value().size(), inside.size() + 1);
    for (std::size_t i = 0; i <= inside.size(); ++i) {
      const key_range part{i == 0 ? range.first : inside[i - 1],
                           i < inside.size() ? std::optional(inside[i]) : range.last};
      auto one = checksum_of(*s, part);
      ASSERT_TRUE(one) << one.error().message();
      EXPECT_EQ(sums.value()[i], one.value()) << "part " << i << " from " << part.first;
    }
  }
  if constexpr (part_checksum_store<S>) {
    for (const std::vector<std::string>& bad :
         {this->ks({"user:1500", "user:1001"}), this->ks({"user:1001", "user:1001"}), std::vector<std::string>{""}}) {
      auto refused = s->checksums({}, bad);
      ASSERT_FALSE(refused) << "points not strictly ascending were taken";
      EXPECT_EQ(refused.error(), condition::invalid_input) << refused.error().message();
    }
    EXPECT_FALSE(s->checksums(this->range("a", "b"), this->ks({"c"}))) << "a point past the range was taken";
  }
}

TYPED_TEST_P(StoreConformance, SplitByRowsTilesTheRangeWithBalancedCounts) {
  // For every store: a store without partitionable_store is split byte-wise,
  // and only the tiling is checked then.
  using S = typename TestFixture::store_type;
  auto s = this->make_store();
  const std::vector<entry> rows = this->partition_rows();
  ASSERT_TRUE(this->write_all(*s, rows));
  for (const key_range& range :
       {this->range("user:", "user;"), key_range{}, this->range("user:1500", std::nullopt)}) {
    for (const std::size_t parts : {1, 4, 7}) {
      SCOPED_TRACE("range [" + range.first + ", " + range.last.value_or("end") + ") in " +
                   std::to_string(parts));
      auto split = split_by_rows(*s, range, parts);
      ASSERT_TRUE(split) << split.error().message();
      const std::vector<key_range>& got = split.value();
      ASSERT_FALSE(got.empty());
      EXPECT_LE(got.size(), parts);
      EXPECT_EQ(got.front().first, range.first);
      EXPECT_EQ(got.back().last, range.last);
      for (std::size_t i = 0; i + 1 < got.size(); ++i) {
        ASSERT_TRUE(got[i].last);
        EXPECT_LT(got[i].first, *got[i].last) << "part " << i << " is empty";
        EXPECT_EQ(*got[i].last, got[i + 1].first) << "parts " << i << " and " << i + 1;
      }
      const std::size_t n = detail::rows_in(rows, range);
      std::size_t total = 0;
      for (const key_range& part : got) {
        const std::size_t count = detail::rows_in(rows, part);
        total += count;
        if constexpr (partitionable_store<S>) {
          EXPECT_GE(count, n / parts) << "part [" << part.first << ", ...) holds " << count;
          EXPECT_LE(count, (n + parts - 1) / parts) << "part [" << part.first << ", ...) holds " << count;
        }
        if constexpr (checksum_store<S> || scannable_store<S>) {
          EXPECT_EQ(detail::checksum_of(*s, part).value().count, count);
        }
      }
      EXPECT_EQ(total, n) << "the parts do not cover the range exactly";
      if constexpr (partitionable_store<S>) {
        EXPECT_EQ(got.size(), parts);
      }
    }
  }
}

REGISTER_TYPED_TEST_SUITE_P(StoreConformance, ReadOfMissingKeyIsEmpty, WriteThenReadRoundTrips,
                            TombstoneIsReadAsDeleted, OlderVersionIsIgnored,
                            EqualVersionIsIdempotent, DeleteThenOlderWriteStaysDeleted,
                            NewestDuplicateInBatchWins, InvalidEntryFailsNamingKeyAndWritesNothing,
                            ScanReturnsEachKeyOnceInOrderAcrossPages, ScanHonoursRangeBounds,
                            ChangesComeInVersionKeyOrderAndResume, ChecksumEqualForEqualContent,
                            ChecksumChangesAfterAnySingleRowChange, CheckpointCommitsWithItsBatch,
                            ValuesOutsideItsRulesAreRefusedBeforeAnythingIsWritten,
                            MaxVersionIsTheLargestStored, LookupAgreesWithRead,
                            LookupOfNoKeysIsEmptyAndOverlongKeysAreRefused,
                            RestorePutsBackExactlyThePreviousEntry,
                            RestoreWithoutPreviousRemovesTheKey,
                            RestoreRefusesWhenTheStoredVersionIsNotExpected,
                            RestoreRefusesABadRequestAndChangesNothing,
                            RestoreNeverClobbersANewerWrite,
                            SplitPointsAreStoredKeysThatBalanceTheRange,
                            PartChecksumsEqualOneChecksumPerPart,
                            SplitByRowsTilesTheRangeWithBalancedCounts);

/// For stores that keep their data: what a batch and its checkpoint wrote is
/// there after the store is closed and opened again.
template <class Factory>
class PersistentStoreConformance : public StoreConformance<Factory> {
 protected:
  static_assert(requires(Factory& f) { f.reopen(); },
                "PersistentStoreConformance needs a factory with reopen()");
  auto reopen_store() { return this->factory_.reopen(); }
};

TYPED_TEST_SUITE_P(PersistentStoreConformance);

TYPED_TEST_P(PersistentStoreConformance, BatchAndCheckpointSurviveReopening) {
  const std::vector<entry> batch = {this->put("a", R"({"x":1})", 3), this->erase("b", 4)};
  {
    auto s = this->make_store();
    auto w = s->write_with_checkpoint(std::span<const entry>(batch), {"run", "v=4"});
    ASSERT_TRUE(w) << w.error().message();
    EXPECT_EQ(w.value().applied, 2u);
  }
  auto s = this->reopen_store();
  this->expect_holds(this->read_ok(*s, batch[0].key), batch[0]);
  this->expect_holds(this->read_ok(*s, batch[1].key), batch[1]);
  auto cp = s->load_checkpoint("run");
  ASSERT_TRUE(cp) << cp.error().message();
  EXPECT_EQ(cp.value(), std::optional<std::string>("v=4"));
  auto again = s->write(std::span<const entry>(batch));
  ASSERT_TRUE(again) << again.error().message();
  EXPECT_EQ(again.value(), (write_report{0, 2, 0})) << "the reopened store lost the versions";
}

REGISTER_TYPED_TEST_SUITE_P(PersistentStoreConformance, BatchAndCheckpointSurviveReopening);
// Stores that keep nothing (memory) instantiate only StoreConformance.
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(PersistentStoreConformance);

}  // namespace storesync::testing
