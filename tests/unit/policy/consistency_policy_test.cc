#include "storesync/policy/consistency_policy.hpp"

#include <gtest/gtest.h>

#include "storesync/policy/best_effort_consistency.hpp"
#include "storesync/policy/config.hpp"
#include "storesync/policy/primary_only_consistency.hpp"

namespace {

using storesync::errc;
using storesync::partial_failure_decision;

// --- does not model ------------------------------------------------------
struct no_write_secondary {
  partial_failure_decision on_secondary_failure(const storesync::error&) const noexcept { return {}; }
};
struct decision_not_const {
  bool write_secondary() const noexcept { return true; }
  partial_failure_decision on_secondary_failure(const storesync::error&) noexcept { return {}; }
};
struct returns_bool {
  bool write_secondary() const noexcept { return true; }
  bool on_secondary_failure(const storesync::error&) const noexcept { return true; }
};
static_assert(!storesync::consistency_policy<no_write_secondary>);
static_assert(!storesync::consistency_policy<decision_not_const>);
static_assert(!storesync::consistency_policy<returns_bool>);

// The guarantee every model keeps: no silent drift.
template <class P>
void expect_no_silent_drift(const P& p) {
  for (errc e : {errc::connection_lost, errc::corrupt, errc::invalid_value, errc::version_conflict}) {
    const auto d = p.on_secondary_failure(e);
    if (d.report_success) {
      EXPECT_TRUE(d.record_inconsistency || d.compensate_primary) << P::name;
    }
  }
}

TEST(StrictConsistency, CompensatesPrimaryAndReportsFailure) {
  const storesync::strict_consistency p;
  EXPECT_TRUE(p.write_secondary());
  const auto d = p.on_secondary_failure(errc::connection_lost);
  EXPECT_TRUE(d.compensate_primary);
  EXPECT_FALSE(d.report_success);
  EXPECT_FALSE(d.record_inconsistency);
  expect_no_silent_drift(p);
}

TEST(BestEffortConsistency, ReportsSuccessAndRecordsInconsistency) {
  const storesync::best_effort_consistency p;
  EXPECT_TRUE(p.write_secondary());
  const auto d = p.on_secondary_failure(errc::injected_unavailable);
  EXPECT_FALSE(d.compensate_primary);
  EXPECT_TRUE(d.record_inconsistency);
  EXPECT_TRUE(d.report_success);
  expect_no_silent_drift(p);
}

TEST(PrimaryOnlyConsistency, SkipsSecondary) {
  const storesync::primary_only_consistency p;
  EXPECT_FALSE(p.write_secondary());
  const auto d = p.on_secondary_failure(errc::injected_unavailable);
  EXPECT_FALSE(d.compensate_primary);
  EXPECT_TRUE(d.report_success);
  expect_no_silent_drift(p);
}

TEST(ConsistencyPolicy, ModelsHaveDistinctNamesAndLoadFromJson) {
  EXPECT_EQ(storesync::strict_consistency::name, "strict");
  EXPECT_EQ(storesync::best_effort_consistency::name, "best_effort");
  EXPECT_EQ(storesync::primary_only_consistency::name, "primary_only");
  auto c = storesync::load_config<storesync::strict_consistency::config>("{}");
  ASSERT_TRUE(c);
  storesync::strict_consistency p(c.value());
  EXPECT_TRUE(p.write_secondary());
  EXPECT_FALSE(storesync::load_config<storesync::best_effort_consistency::config>(R"({"x": 1})"));
}

}  // namespace
