#pragma once
/// \file
/// The store conformance suite: one typed GoogleTest suite that checks what
/// the compiler cannot (the version guard, batch atomicity, keyset scans,
/// change order, checksums, checkpoints) on any adapter, including yours.
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

#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "storesync/core/checksum.hpp"
#include "storesync/core/store.hpp"

namespace storesync::testing {

template <class Factory>
class StoreConformance : public ::testing::Test {
 protected:
  using handle_type = decltype(std::declval<Factory&>().make());
  using store_type = std::remove_reference_t<decltype(*std::declval<handle_type&>())>;

  static_assert(store<store_type>, "the factory's make() must return a handle to a storesync::store");

  handle_type make_store() { return factory_.make(); }

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

  Factory factory_;
};

TYPED_TEST_SUITE_P(StoreConformance);

TYPED_TEST_P(StoreConformance, ReadOfMissingKeyIsEmpty) {
  auto s = this->make_store();
  auto r = s->read("never-written");
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_FALSE(r.value().has_value());
}

TYPED_TEST_P(StoreConformance, WriteThenReadRoundTrips) {
  auto s = this->make_store();
  const entry e = entry::put("user:\xc3\xa9 42", R"({"name":"Ada","n":[1,2,3]})", 3);
  auto w = this->write_all(*s, {e});
  ASSERT_TRUE(w) << w.error().message();
  EXPECT_EQ(w.value(), (write_report{1, 0, 0}));
  this->expect_holds(this->read_ok(*s, e.key), e);
}

TYPED_TEST_P(StoreConformance, TombstoneIsReadAsDeleted) {
  auto s = this->make_store();
  ASSERT_TRUE(this->write_all(*s, {entry::put("k", "1", 1), entry::erase("k", 2)}));
  auto got = this->read_ok(*s, "k");
  ASSERT_TRUE(got);
  EXPECT_TRUE(got->tombstone);
  EXPECT_EQ(got->version, 2);
  EXPECT_TRUE(got->value.empty());
}

TYPED_TEST_P(StoreConformance, OlderVersionIsIgnored) {
  auto s = this->make_store();
  ASSERT_TRUE(this->write_all(*s, {entry::put("k", R"("new")", 5)}));
  auto w = this->write_all(*s, {entry::put("k", R"("old")", 4)});
  ASSERT_TRUE(w) << w.error().message();
  EXPECT_EQ(w.value(), (write_report{0, 0, 1}));
  auto got = this->read_ok(*s, "k");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->version, 5);
  EXPECT_EQ(nlohmann::json::parse(got->value), "new");
}

TYPED_TEST_P(StoreConformance, EqualVersionIsIdempotent) {
  auto s = this->make_store();
  const std::vector<entry> batch = {entry::put("a", "1", 1), entry::put("b", "2", 7)};
  ASSERT_TRUE(this->write_all(*s, batch));
  auto again = this->write_all(*s, batch);
  ASSERT_TRUE(again) << again.error().message();
  EXPECT_EQ(again.value(), (write_report{0, 2, 0}));
  // Same version, different content: still a no-op (first write wins).
  auto w = this->write_all(*s, {entry::put("a", "99", 1)});
  ASSERT_TRUE(w);
  EXPECT_EQ(w.value().unchanged, 1u);
  EXPECT_EQ(nlohmann::json::parse(this->read_ok(*s, "a")->value), 1);
}

TYPED_TEST_P(StoreConformance, DeleteThenOlderWriteStaysDeleted) {
  auto s = this->make_store();
  ASSERT_TRUE(this->write_all(*s, {entry::put("k", "1", 1)}));
  ASSERT_TRUE(this->write_all(*s, {entry::erase("k", 10)}));
  auto w = this->write_all(*s, {entry::put("k", "2", 9)});
  ASSERT_TRUE(w);
  EXPECT_EQ(w.value().stale, 1u);
  auto got = this->read_ok(*s, "k");
  ASSERT_TRUE(got);
  EXPECT_TRUE(got->tombstone);
  EXPECT_EQ(got->version, 10);
  // A newer write brings the key back.
  ASSERT_TRUE(this->write_all(*s, {entry::put("k", "3", 11)}));
  EXPECT_FALSE(this->read_ok(*s, "k")->tombstone);
}

TYPED_TEST_P(StoreConformance, NewestDuplicateInBatchWins) {
  auto s = this->make_store();
  auto w = this->write_all(
      *s, {entry::put("k", "1", 1), entry::put("k", "3", 3), entry::put("k", "2", 2)});
  ASSERT_TRUE(w) << w.error().message();
  EXPECT_EQ(w.value().total(), 3u);
  auto got = this->read_ok(*s, "k");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->version, 3);
  EXPECT_EQ(nlohmann::json::parse(got->value), 3);
}

TYPED_TEST_P(StoreConformance, InvalidEntryFailsNamingKeyAndWritesNothing) {
  const std::vector<std::pair<entry, std::string>> invalid = {
      {entry::put("", "1", 1), "empty"},
      {entry::put(std::string("nul\0key", 7), "1", 1), "nul"},
      {entry::put(std::string(max_key_size + 1, 'k'), "1", 1), "kkkk"},
      {entry::put("bad-utf8-\xff", "1", 1), "bad-utf8"},
      {entry::put("bad-json", "{not json", 1), "bad-json"},
      {entry::put("bad-version", "1", 0), "bad-version"},
      {entry{"bad-tombstone", "1", 2, {}, true}, "bad-tombstone"},
  };
  for (const auto& [bad, shown] : invalid) {
    auto s = this->make_store();
    auto w = this->write_all(*s, {entry::put("good-1", "1", 1), bad, entry::put("good-2", "2", 1)});
    ASSERT_FALSE(w) << "accepted invalid entry " << shown;
    EXPECT_TRUE(w.error() == condition::invalid_input) << w.error().message();
    EXPECT_NE(w.error().message().find(shown), std::string::npos)
        << "error does not name the key: " << w.error().message();
    if constexpr (TypeParam::transactional) {
      EXPECT_FALSE(this->read_ok(*s, "good-1")) << "partial batch written for " << shown;
      EXPECT_FALSE(this->read_ok(*s, "good-2")) << "partial batch written for " << shown;
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
    for (std::size_t i : order) batch.push_back(entry::put(this->padded(i), std::to_string(i), 1));
    ASSERT_TRUE(this->write_all(*s, std::move(batch)));
    std::set<std::string> seen;
    std::string after;
    std::string previous;
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
    ASSERT_TRUE(this->write_all(*s, {entry::put("a", "1", 1), entry::put("b", "1", 1),
                                     entry::erase("c", 1), entry::put("d", "1", 1)}));
    auto page = s->scan(key_range{"b", "d"}, "", 100);
    ASSERT_TRUE(page) << page.error().message();
    ASSERT_EQ(page.value().size(), 2u);
    EXPECT_EQ(page.value()[0].key, "b");
    EXPECT_EQ(page.value()[1].key, "c");
    EXPECT_TRUE(page.value()[1].tombstone);
    auto tail = s->scan(key_range{"b", std::nullopt}, "c", 100);
    ASSERT_TRUE(tail);
    ASSERT_EQ(tail.value().size(), 1u);
    EXPECT_EQ(tail.value()[0].key, "d");
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
      batch.push_back(entry::put("k" + std::to_string(i % 100), std::to_string(i), 1 + i / 100 + (i % 7)));
    batch.push_back(entry::erase("k5", 50));
    ASSERT_TRUE(this->write_all(*s, std::move(batch)));

    std::vector<watermark> seen;
    watermark mark;
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
    EXPECT_EQ(seen.back().key, "k5");
    EXPECT_EQ(seen.back().version, 50);

    // Resuming from a watermark in the middle returns exactly the rest.
    auto rest = s->changes_after(seen[40], 1000);
    ASSERT_TRUE(rest);
    ASSERT_EQ(rest.value().size(), seen.size() - 41);
    EXPECT_EQ(rest.value().front().key, seen[41].key);

    // A later write moves its key to the end of the stream.
    ASSERT_TRUE(this->write_all(*s, {entry::put("k0", "\"late\"", 100)}));
    auto after = s->changes_after(seen.back(), 10);
    ASSERT_TRUE(after);
    ASSERT_EQ(after.value().size(), 1u);
    EXPECT_EQ(after.value()[0].key, "k0");
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
      rows.push_back(i % 10 == 0 ? entry::erase(this->padded(i), i + 1)
                                 : entry::put(this->padded(i), std::to_string(i * i), i + 1));
    std::vector<entry> reversed(rows.rbegin(), rows.rend());
    ASSERT_TRUE(this->write_all(*a, rows));
    // Same final content reached another way: reversed, plus older versions first.
    ASSERT_TRUE(this->write_all(*b, {entry::put(this->padded(3), "\"older\"", 1)}));
    ASSERT_TRUE(this->write_all(*b, reversed));
    for (const key_range& r : {key_range{}, key_range{this->padded(100), this->padded(250)}}) {
      auto ca = detail::checksum_of(*a, r);
      auto cb = detail::checksum_of(*b, r);
      ASSERT_TRUE(ca && cb);
      EXPECT_EQ(ca.value(), cb.value());
    }
    auto whole = detail::checksum_of(*a, key_range{});
    EXPECT_EQ(whole.value().count, 500u);
    auto part = detail::checksum_of(*a, key_range{this->padded(100), this->padded(250)});
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
    for (int i = 0; i < 50; ++i) rows.push_back(entry::put(this->padded(i), std::to_string(i), 5));
    // Each variant differs from `rows` in one field of one row (or one extra row).
    const std::string k = this->padded(17);
    const std::vector<std::pair<const char*, entry>> edits = {
        {"value", entry::put(k, "\"changed\"", 5)},
        {"version", entry::put(k, "17", 6)},
        {"tombstone", entry::erase(k, 5)},
        {"new row", entry::put("key:zzz", "1", 1)},
    };
    auto base = this->make_store();
    ASSERT_TRUE(this->write_all(*base, rows));
    auto before = detail::checksum_of(*base, key_range{});
    ASSERT_TRUE(before);
    for (const auto& [what, edit] : edits) {
      std::vector<entry> variant = rows;
      if (edit.key == k) variant[17] = edit;
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

    std::vector<entry> batch = {entry::put("a", "1", 1), entry::put("b", "2", 1)};
    auto w = s->write_with_checkpoint(batch, checkpoint{"run", "mark-1"});
    ASSERT_TRUE(w) << w.error().message();
    EXPECT_EQ(w.value().applied, 2u);
    EXPECT_EQ(s->load_checkpoint("run").value(), std::optional<std::string>("mark-1"));
    EXPECT_TRUE(this->read_ok(*s, "b"));

    // Checkpoints are independent by name and overwritten in place.
    ASSERT_TRUE(s->write_with_checkpoint({}, checkpoint{"other", "x"}));
    std::vector<entry> next = {entry::put("c", "3", 1)};
    ASSERT_TRUE(s->write_with_checkpoint(next, checkpoint{"run", "mark-2"}));
    EXPECT_EQ(s->load_checkpoint("run").value(), std::optional<std::string>("mark-2"));
    EXPECT_EQ(s->load_checkpoint("other").value(), std::optional<std::string>("x"));

    // A failed batch moves neither the rows nor the checkpoint.
    std::vector<entry> bad = {entry::put("d", "4", 1), entry::put("e", "{oops", 1)};
    auto failed = s->write_with_checkpoint(bad, checkpoint{"run", "mark-3"});
    ASSERT_FALSE(failed);
    EXPECT_TRUE(failed.error() == condition::invalid_input);
    EXPECT_EQ(s->load_checkpoint("run").value(), std::optional<std::string>("mark-2"));
    if constexpr (TypeParam::transactional) {
      EXPECT_FALSE(this->read_ok(*s, "d"));
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
  const std::size_t deepest = std::min(rules.max_depth, max_supported_depth);
  const std::vector<std::pair<std::string, std::string>> values = {
      {"nul", R"({"a":"\u0000"})"},
      {"nul-escaped", R"({"a":"\\u0000"})"},
      {"control", R"(["\u0001\u001f"])"},
      {"surrogates", R"(["\ud83d\ude00 \u00e9 \u20ac"])"},
      {"big-int", "123456789012345678901234567890123456789"},
      {"huge-exp", "1e131072"},
      {"max-exp", "1e131071"},
      {"tiny-exp", "1e-16384"},
      {"min-exp", "-1e-16383"},
      {"double-overflow", "1e400"},
      {"long-fraction", "0." + std::string(16384, '7')},
      {"deepest", std::string(deepest, '[') + std::string(deepest, ']')},
      {"too-deep", std::string(deepest + 1, '[') + std::string(deepest + 1, ']')},
      {"bom", "\xEF\xBB\xBF{}"},
      {"lone-surrogate", R"("\udc00")"},
  };
  version_type version = 1;
  for (const auto& [key, value] : values) {
    const entry e = entry::put(key, value, version++);
    const bool fits = static_cast<bool>(validate(e, rules));
    auto w = this->write_all(*s, {entry::put("before-" + key, "1", 1), e});
    if (fits) {
      ASSERT_TRUE(w) << key << ": the rules accept it, the store refused it: " << w.error().message();
      const auto got = this->read_ok(*s, key);
      ASSERT_TRUE(got) << key;
      EXPECT_EQ(got->version, e.version) << key;
      EXPECT_EQ(got->hash, e.hash) << key;
    } else {
      ASSERT_FALSE(w) << key << ": the rules refuse it, the store took it";
      EXPECT_TRUE(w.error() == errc::invalid_value)
          << key << ": refused by the backend, not by validation: " << w.error().message();
      EXPECT_NE(w.error().message().find(key), std::string::npos) << w.error().message();
      EXPECT_FALSE(this->read_ok(*s, key)) << key;
      if constexpr (TypeParam::transactional) {
        EXPECT_FALSE(this->read_ok(*s, "before-" + key)) << key;
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
    ASSERT_TRUE(this->write_all(*s, {entry::put("a", "1", 7), entry::put("b", "1", 3), entry::erase("c", 42)}));
    ASSERT_TRUE(this->write_all(*s, {entry::put("a", "2", 5)}));  // stale: changes nothing
    auto max = s->max_version();
    ASSERT_TRUE(max) << max.error().message();
    EXPECT_EQ(max.value(), 42) << "tombstones count";
    ASSERT_TRUE(this->write_all(*s, {entry::put("b", "2", 1'700'000'000'000'000)}));
    EXPECT_EQ(s->max_version().value(), 1'700'000'000'000'000);
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
                            MaxVersionIsTheLargestStored);

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
  const std::vector<entry> batch = {entry::put("a", R"({"x":1})", 3), entry::erase("b", 4)};
  {
    auto s = this->make_store();
    auto w = s->write_with_checkpoint(std::span<const entry>(batch), {"run", "v=4"});
    ASSERT_TRUE(w) << w.error().message();
    EXPECT_EQ(w.value().applied, 2u);
  }
  auto s = this->reopen_store();
  this->expect_holds(this->read_ok(*s, "a"), batch[0]);
  this->expect_holds(this->read_ok(*s, "b"), batch[1]);
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
