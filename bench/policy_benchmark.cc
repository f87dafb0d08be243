// The cost of one decision of each policy (target: under 100 ns each).
// Run: bazel run -c opt //bench:policy_benchmark
#include <benchmark/benchmark.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <limits>
#include <mutex>

#include "storesync/policy/aimd_batch_sizer.hpp"
#include "storesync/policy/backpressure_policy.hpp"
#include "storesync/policy/batch_sizer.hpp"
#include "storesync/policy/best_effort_consistency.hpp"
#include "storesync/policy/clock.hpp"
#include "storesync/policy/consistency_policy.hpp"
#include "storesync/policy/exponential_backoff.hpp"
#include "storesync/policy/manual_clock.hpp"
#include "storesync/policy/primary_only_consistency.hpp"
#include "storesync/policy/retry_budget.hpp"
#include "storesync/policy/retry_policy.hpp"

namespace {

using namespace std::chrono_literals;

const storesync::error transient_error{storesync::errc::serialization_failure};
const storesync::error timeout_error{storesync::errc::timeout};

// --- RetryPolicy ------------------------------------------------------------
void BM_IsRetryable(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(storesync::is_retryable(transient_error));
}
BENCHMARK(BM_IsRetryable);

void BM_NoRetryDecide(benchmark::State& state) {
  storesync::no_retry p;
  for (auto _ : state) benchmark::DoNotOptimize(p.decide(0, 0ns, transient_error));
}
BENCHMARK(BM_NoRetryDecide);

void BM_ExponentialBackoffDecide(benchmark::State& state) {
  storesync::exponential_backoff p{{.max_attempts = 1000, .max_elapsed = 0ms, .seed = 1}};
  std::uint32_t attempt = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(p.decide(attempt, 50ms, transient_error));
    attempt = (attempt + 1) & 15;
  }
}
BENCHMARK(BM_ExponentialBackoffDecide);

void BM_RetryBudgetDecide(benchmark::State& state) {
  // A bucket too large to drain during the run: every decision withdraws.
  storesync::retry_budget<storesync::exponential_backoff> p(
      storesync::exponential_backoff{{.max_attempts = 1000, .seed = 1}},
      {.max_tokens = std::numeric_limits<std::uint32_t>::max()});
  bool timeout = false;
  for (auto _ : state) {
    benchmark::DoNotOptimize(p.decide(1, 50ms, timeout ? timeout_error : transient_error));
    timeout = !timeout;
  }
}
BENCHMARK(BM_RetryBudgetDecide);

void BM_RetryBudgetOnSuccess(benchmark::State& state) {
  storesync::retry_budget<storesync::exponential_backoff> p(
      storesync::exponential_backoff{{.seed = 1}}, {.max_tokens = 500});
  for (auto _ : state) {
    (void)p.decide(1, 0ns, transient_error);  // keep the bucket below full
    p.on_success();
  }
}
BENCHMARK(BM_RetryBudgetOnSuccess);

void BM_RetryHelperSuccessFirstTry(benchmark::State& state) {
  storesync::exponential_backoff p{{.seed = 1}};
  storesync::system_clock clock;
  for (auto _ : state) {
    auto r = storesync::retry(p, clock, [] { return storesync::result<int>(1); });
    benchmark::DoNotOptimize(r.attempts);
  }
}
BENCHMARK(BM_RetryHelperSuccessFirstTry);

// --- BatchSizer --------------------------------------------------------------
void BM_FixedBatchSizerRecord(benchmark::State& state) {
  storesync::fixed_batch_sizer s(500);
  for (auto _ : state) {
    s.record({.size = s.next_size(), .duration = 3ms, .failed = 0});
    benchmark::DoNotOptimize(s.next_size());
  }
}
BENCHMARK(BM_FixedBatchSizerRecord);

void BM_AimdBatchSizerRecord(benchmark::State& state) {
  storesync::aimd_batch_sizer s({.max_size = 100'000, .target_duration = 100ms});
  std::uint64_t i = 0;
  for (auto _ : state) {
    const std::size_t n = s.next_size();
    // Mostly clean batches on a linear sink, now and then a failed one.
    const bool fail = (++i & 63) == 0;
    s.record({.size = n, .duration = std::chrono::microseconds(20 * n), .failed = fail ? n : 0});
    benchmark::DoNotOptimize(s.next_size());
  }
}
BENCHMARK(BM_AimdBatchSizerRecord);

// --- ConsistencyPolicy ---------------------------------------------------------
template <class Policy>
void BM_ConsistencyDecide(benchmark::State& state) {
  const Policy p;
  for (auto _ : state) {
    benchmark::DoNotOptimize(p.write_secondary());
    benchmark::DoNotOptimize(p.on_secondary_failure(transient_error));
  }
}
BENCHMARK(BM_ConsistencyDecide<storesync::strict_consistency>);
BENCHMARK(BM_ConsistencyDecide<storesync::best_effort_consistency>);
BENCHMARK(BM_ConsistencyDecide<storesync::primary_only_consistency>);

// --- BackpressurePolicy ---------------------------------------------------------
template <class Policy>
void BM_BackpressureHasRoom(benchmark::State& state) {
  const Policy p;
  storesync::system_clock clock;
  std::mutex m;
  std::condition_variable cv;
  std::unique_lock lock(m);
  std::size_t pending = 10;
  for (auto _ : state) {
    auto r = p.wait_for_room(clock, lock, cv, [&] { return pending < 100; });
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_BackpressureHasRoom<storesync::block_for>);
BENCHMARK(BM_BackpressureHasRoom<storesync::reject>);

void BM_RejectWhenFull(benchmark::State& state) {
  const storesync::reject p;
  storesync::system_clock clock;
  std::mutex m;
  std::condition_variable cv;
  std::unique_lock lock(m);
  for (auto _ : state) {
    auto r = p.wait_for_room(clock, lock, cv, [] { return false; });
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_RejectWhenFull);

// --- Clock ------------------------------------------------------------------------
void BM_SystemClockNow(benchmark::State& state) {
  storesync::system_clock c;
  for (auto _ : state) benchmark::DoNotOptimize(c.now());
}
BENCHMARK(BM_SystemClockNow);

void BM_ManualClockNow(benchmark::State& state) {
  storesync::manual_clock c;
  for (auto _ : state) benchmark::DoNotOptimize(c.now());
}
BENCHMARK(BM_ManualClockNow);

}  // namespace
