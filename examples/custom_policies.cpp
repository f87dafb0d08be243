// Custom policies: a RetryPolicy and a BatchSizer written outside storesync,
// used through the same entry points as the built-in ones (storesync::retry,
// storesync::run_batch). docs/policies.md quotes this file; it is built and
// run as a test (//examples:custom_policies_test), so the recipe cannot rot.
#include <storesync/policy/aimd_batch_sizer.hpp>
#include <storesync/policy/backpressure_policy.hpp>
#include <storesync/policy/batch_sizer.hpp>
#include <storesync/policy/consistency_policy.hpp>
#include <storesync/policy/exponential_backoff.hpp>
#include <storesync/policy/manual_clock.hpp>
#include <storesync/policy/retry_policy.hpp>
#include <storesync/store/memory_store.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <span>
#include <string>
#include <vector>

namespace app {

using namespace std::chrono_literals;

// [retry-policy]
// Retry only PostgreSQL serialization failures (SQLSTATE 40001), after a
// fixed 5 ms, at most 5 attempts. Everything else fails at once.
struct serialization_retry {
  std::uint32_t max_attempts = 5;
  std::chrono::milliseconds delay = 5ms;

  storesync::retry_decision decide(std::uint32_t attempt, std::chrono::nanoseconds /*elapsed*/,
                                   const storesync::error& e) noexcept {
    if (e != storesync::errc::serialization_failure || attempt + 1 >= max_attempts)
      return storesync::retry_decision::stop();
    return storesync::retry_decision::after(delay);
  }
  void on_success() noexcept {}
};
static_assert(storesync::retry_policy<serialization_retry>);
// [retry-policy]

// [batch-sizer]
// Slow start: double after every clean batch up to a cap, back to 1 after
// any failure.
class doubling_sizer {
 public:
  explicit doubling_sizer(std::size_t cap) : cap_(cap) {}

  std::size_t next_size() const noexcept { return size_; }
  void record(const storesync::batch_outcome& o) noexcept {
    size_ = o.failed > 0 ? 1 : std::min(size_ * 2, cap_);
  }

 private:
  std::size_t cap_;
  std::size_t size_ = 1;
};
static_assert(storesync::batch_sizer<doubling_sizer>);
// [batch-sizer]

// [consistency-policy]
// Strict for bad data, best effort while the secondary is down.
struct strict_unless_down {
  bool write_secondary() const noexcept { return true; }
  storesync::partial_failure_decision on_secondary_failure(const storesync::error& e) const noexcept {
    if (e == storesync::condition::unavailable)
      return {.record_inconsistency = true, .report_success = true};
    return {.compensate_primary = true};
  }
};
static_assert(storesync::consistency_policy<strict_unless_down>);
// [consistency-policy]

// [backpressure-policy]
// Reject at once while an operator flag says "shed load", else wait up to 20 ms.
struct shed_or_wait {
  const std::atomic<bool>* shedding;
  std::chrono::milliseconds timeout = 20ms;

  template <storesync::waitable_clock Clock, class HasRoom>
  storesync::result<void> wait_for_room(Clock& clock, std::unique_lock<std::mutex>& lock,
                                        std::condition_variable& cv, HasRoom has_room) const {
    if (has_room()) return storesync::success();
    if (!shedding->load() && clock.wait_until(lock, cv, clock.now() + timeout, has_room))
      return storesync::success();
    return storesync::error{storesync::errc::queue_full, "shedding load"};
  }
};
static_assert(storesync::backpressure_policy<shed_or_wait, storesync::manual_clock>);
// [backpressure-policy]

}  // namespace app

namespace {

int failures = 0;
void check(bool ok, const char* what) {
  if (!ok) {
    ++failures;
    std::fprintf(stderr, "FAILED: %s\n", what);
  }
}

// Writes `entries` to `store` in batches sized by `sizer`; each batch takes
// 1 ms + 10 us per entry on the manual clock. Returns the number of batches.
template <storesync::batch_sizer Sizer>
int copy_in_batches(Sizer& sizer, storesync::manual_clock& clock, storesync::memory_store& store,
                    const std::vector<storesync::entry>& entries) {
  std::size_t pos = 0;
  int batches = 0;
  while (pos < entries.size()) {
    auto o = storesync::run_batch(sizer, clock, entries.size() - pos, [&](std::size_t n) {
      clock.advance(std::chrono::milliseconds(1) + std::chrono::microseconds(10) * n);
      auto r = store.write(std::span(entries).subspan(pos, n));
      return r ? std::size_t{0} : n;
    });
    pos += o.size;
    ++batches;
  }
  return batches;
}

}  // namespace

int main() {
  using namespace std::chrono_literals;
  storesync::manual_clock clock;  // deterministic: no real sleeps

  // --- the custom RetryPolicy through storesync::retry -------------------
  int calls = 0;
  auto conflicted_twice = [&]() -> storesync::result<int> {
    if (++calls <= 2) return storesync::error{storesync::errc::serialization_failure, "40001"};
    return 7;
  };
  app::serialization_retry mine;
  auto r = storesync::retry(mine, clock, conflicted_twice);
  check(r.outcome && r.outcome.value() == 7, "serialization failures are retried");
  check(r.attempts == 3, "three attempts");
  check(clock.slept() == 10ms, "two fixed 5 ms delays");

  calls = 0;
  auto lost_connection = [&]() -> storesync::result<int> {
    ++calls;
    return storesync::error{storesync::errc::connection_lost};
  };
  r = storesync::retry(mine, clock, lost_connection);
  check(!r.outcome && r.attempts == 1, "other errors are not retried by the custom policy");

  // The built-in policy through the very same entry point retries it.
  storesync::exponential_backoff builtin{{.base = 10ms, .max_attempts = 4, .seed = 1}};
  r = storesync::retry(builtin, clock, lost_connection);
  check(!r.outcome && r.attempts == 4, "exponential_backoff retries an outage");

  // --- the custom BatchSizer through storesync::run_batch -----------------
  std::vector<storesync::entry> entries;
  for (int i = 0; i < 5000; ++i)
    entries.push_back(storesync::entry::put("k" + std::to_string(i), "{}", 1));

  storesync::memory_store a, b;
  app::doubling_sizer doubling(1024);
  const int doubling_batches = copy_in_batches(doubling, clock, a, entries);
  storesync::aimd_batch_sizer aimd({.initial_size = 1, .target_duration = 5ms});
  const int aimd_batches = copy_in_batches(aimd, clock, b, entries);
  check(a.checksum({}).value() == b.checksum({}).value(), "both sizers copied everything");
  check(doubling.next_size() == 1024, "doubling reached its cap");
  // AIMD settles near the largest batch that takes 5 ms: (5 - 1) ms / 10 us = 400.
  check(aimd.next_size() >= 360 && aimd.next_size() <= 440, "aimd settled near 400");

  // --- the custom ConsistencyPolicy: its decisions, as dual-write asks them --
  const app::strict_unless_down consistency;
  check(consistency.on_secondary_failure(storesync::errc::connection_lost).report_success,
        "an outage is recorded and reported as success");
  check(consistency.on_secondary_failure(storesync::errc::invalid_value).compensate_primary,
        "bad data is compensated");

  // --- the custom BackpressurePolicy, as write-behind calls it -----------
  std::atomic<bool> shedding{true};
  const app::shed_or_wait backpressure{&shedding};
  std::mutex m;
  std::condition_variable room_freed;
  std::unique_lock lock(m);
  check(backpressure.wait_for_room(clock, lock, room_freed, [] { return true; }).has_value(),
        "room: accepted");
  auto shed = backpressure.wait_for_room(clock, lock, room_freed, [] { return false; });
  check(!shed && shed.error() == storesync::condition::overloaded, "full while shedding: overloaded");

  std::printf("custom retry: %u attempts; doubling: %d batches; aimd: %d batches, size %zu\n",
              r.attempts, doubling_batches, aimd_batches, aimd.next_size());
  return failures == 0 ? 0 : 1;
}
