#include "storesync/store/faulty_store.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <thread>
#include <vector>

#include "storesync/store/memory_store.hpp"

namespace storesync {
namespace {

using faulty_memory = faulty_store<memory_store>;

static_assert(checkpoint_store<faulty_memory>);
static_assert(checksum_store<faulty_memory>);

struct write_only {
  result<std::optional<entry>> read(std::string_view) { return std::optional<entry>{}; }
  result<write_report> write(std::span<const entry>) { return write_report{}; }
};
// The decorator models exactly the tiers of what it decorates.
static_assert(store<faulty_store<write_only>>);
static_assert(!scannable_store<faulty_store<write_only>>);
static_assert(!checkpoint_store<faulty_store<write_only>>);
static_assert(metadata_store<faulty_memory> && restorable_store<faulty_memory> &&
              partitionable_store<faulty_memory>);
static_assert(!metadata_store<faulty_store<write_only>>);
static_assert(!restorable_store<faulty_store<write_only>>);
static_assert(!partitionable_store<faulty_store<write_only>>);

result<write_report> put(faulty_memory& s, const char* key, version_type v) {
  const entry e = entry::put(key, "1", v);
  return s.write(std::span(&e, 1));
}

TEST(FaultyStore, PassesThroughWithoutFaults) {
  faulty_memory s;
  ASSERT_TRUE(put(s, "a", 1));
  EXPECT_TRUE(s.inner().read("a").value());
  EXPECT_EQ(s.calls(), 1u);
  EXPECT_EQ(s.injected(), 0u);
}

TEST(FaultyStore, ScriptedFaultsComeInOrderAndChangeNothing) {
  faulty_memory s;
  s.script({fault::transient, fault::unavailable, fault::permanent, fault::none});
  auto r1 = put(s, "a", 1);
  auto r2 = put(s, "a", 1);
  auto r3 = put(s, "a", 1);
  ASSERT_FALSE(r1);
  ASSERT_FALSE(r2);
  ASSERT_FALSE(r3);
  EXPECT_TRUE(r1.error() == condition::transient);
  EXPECT_TRUE(r2.error() == condition::unavailable);
  EXPECT_TRUE(r3.error() == condition::permanent);
  EXPECT_FALSE(s.inner().read("a").value()) << "a failed write reached the store";
  EXPECT_TRUE(put(s, "a", 1));
  EXPECT_TRUE(put(s, "b", 1));
  EXPECT_EQ(s.injected(), 3u);
}

TEST(FaultyStore, RandomFaultsFollowTheRateAndTheSeed) {
  auto failures = [](std::uint64_t seed) {
    faulty_memory s;
    s.set_faults({.transient_rate = 0.3, .seed = seed});
    std::vector<bool> failed;
    for (int i = 0; i < 2000; ++i) failed.push_back(!s.read("k"));
    return failed;
  };
  const auto a = failures(7);
  EXPECT_EQ(a, failures(7)) << "same seed, different faults";
  EXPECT_NE(a, failures(8));
  const auto n = std::count(a.begin(), a.end(), true);
  EXPECT_GT(n, 2000 * 0.25);
  EXPECT_LT(n, 2000 * 0.35);
}

TEST(FaultyStore, PoisonFailsOnlyBatchesHoldingTheKey) {
  faulty_memory s;
  s.poison("bad");
  const std::vector<entry> with_bad = {entry::put("ok", "1", 1), entry::put("bad", "1", 1)};
  auto r = s.write(with_bad);
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error() == condition::permanent);
  EXPECT_NE(r.error().message().find("\"bad\""), std::string::npos);
  EXPECT_FALSE(s.inner().read("ok").value());
  EXPECT_TRUE(put(s, "ok", 1));
  s.clear_poison();
  EXPECT_TRUE(s.write(with_bad));
}

TEST(FaultyStore, HealRemovesEveryFault) {
  faulty_memory s;
  s.set_faults({.permanent_rate = 1.0});
  s.script({fault::transient});
  s.poison("a");
  EXPECT_FALSE(put(s, "b", 1));
  s.heal();
  EXPECT_TRUE(put(s, "a", 1));
}

TEST(FaultyStore, AddsLatency) {
  faulty_memory s;
  s.set_faults({.latency = std::chrono::milliseconds(20)});
  const auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(s.read("k"));
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(20));
}

TEST(FaultyStore, InjectsIntoLookupsRestoresAndSplitPointsBeforeTheInnerCall) {
  faulty_memory s;
  ASSERT_TRUE(put(s, "a", 1));
  ASSERT_TRUE(put(s, "a", 2));
  const std::vector<std::string_view> keys = {"a"};
  s.script({fault::transient, fault::unavailable, fault::permanent});
  auto looked = s.lookup(keys);
  ASSERT_FALSE(looked);
  EXPECT_TRUE(looked.error() == condition::transient);
  auto restored = s.restore("a", 2, entry::put("a", "1", 1));
  ASSERT_FALSE(restored);
  EXPECT_TRUE(restored.error() == condition::unavailable);
  EXPECT_EQ(s.inner().read("a").value()->version, 2) << "a failed restore changed the store";
  auto points = s.split_points(key_range{}, 2);
  ASSERT_FALSE(points);
  EXPECT_TRUE(points.error() == condition::permanent);

  EXPECT_EQ(s.lookup(keys).value()[0]->version, 2);
  EXPECT_TRUE(s.split_points(key_range{}, 2));
  EXPECT_EQ(s.injected(), 3u);
}

TEST(FaultyStore, PoisonFailsARestoreOfTheKey) {
  faulty_memory s;
  ASSERT_TRUE(put(s, "bad", 1));
  ASSERT_TRUE(put(s, "bad", 2));
  s.poison("bad");
  for (const std::optional<entry>& previous : {std::optional<entry>{entry::put("bad", "1", 1)},
                                               std::optional<entry>{}}) {
    auto r = s.restore("bad", 2, previous);
    ASSERT_FALSE(r);
    EXPECT_TRUE(r.error() == errc::injected_permanent);
    EXPECT_NE(r.error().message().find("bad"), std::string::npos) << r.error().message();
  }
  EXPECT_EQ(s.inner().read("bad").value()->version, 2);
  s.clear_poison();
  EXPECT_TRUE(s.restore("bad", 2, std::nullopt));
  EXPECT_FALSE(s.inner().read("bad").value());
}

}  // namespace
}  // namespace storesync
