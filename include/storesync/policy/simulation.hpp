#pragma once
/// \file
/// `simulation`: runs a strategy's background work one step at a time, in an
/// order and at simulated times drawn from a seed, so a run is a pure
/// function of that seed and any failure replays exactly.
///
/// \code
///   storesync::simulation sim(seed);
///   using wb_type = storesync::write_behind<memory_store, memory_store, exponential_backoff, aimd_batch_sizer,
///                                           block_for, sim_clock, file_journal, sim_executor>;
///   auto wb = wb_type::open(fast, slow, options, retry, sizer, {}, sim.clock(), nullptr, sim.executor());
///   wb.value()->put(e);                       // runs on this thread (the driver), as a client's call
///   sim.run_for(std::chrono::milliseconds(5)); // the flusher and writer run, in a seeded order
/// \endcode
///
/// Every task started on `sim.executor()` is a thread, but only one of
/// them, or the driver (the thread that made the simulation), runs at a
/// time. A thread gives way only where it would block on the clock:
/// `sim_clock::sleep_for`, `sim_clock::wait_until` and `sim_executor`'s
/// `join`. The simulation then picks, with its seeded generator, one of the
/// threads that may go on: one whose sleep or deadline is over, whose
/// predicate holds (checked under its mutex), or whose joined task has
/// ended. When none may, simulated time jumps to the earliest deadline.
///
/// What this asks of the code under it: it blocks only through the clock
/// and the executor (a direct `std::condition_variable::wait` or a thread
/// of its own would run outside the simulation's order), and it holds no
/// mutex while it waits on the clock except the one it passes to
/// `wait_until`. `write_behind` meets both with `durability::process` or
/// `always` (`interval` starts a real syncer thread).
///
/// The simulation ignores notifications: at every hand-over it checks the
/// predicate of each thread waiting in `wait_until` (under that thread's
/// mutex) and wakes the first that holds. A missing `notify` in the code
/// under test is therefore not found here.
///
/// A seed replays exactly with the same standard library: the order comes
/// from `std::mt19937_64` (fixed by the standard) through `std::shuffle`
/// (whose algorithm is the library's), as a workload's draws through the
/// `std::uniform_*_distribution`s do, and the code under test may iterate
/// unordered containers.
///
/// A `simulation` is driven from the thread that made it (no other thread
/// outside it may call into it), and every task started on its executor
/// must be joined before the simulation is destroyed.

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <utility>

#include "storesync/policy/clock.hpp"
#include "storesync/policy/detail/simulation_core.hpp"
#include "storesync/policy/executor.hpp"

namespace storesync {

/// The simulation's `waitable_clock`: simulated time, and waits that hand
/// the turn to another thread of the simulation. Copies share the simulation.
class sim_clock {
 public:
  using duration = detail::sim_core::duration;
  using time_point = detail::sim_core::time_point;

  sim_clock() = default;
  explicit sim_clock(std::shared_ptr<detail::sim_core> core) : core_(std::move(core)) {}

  /// Aborts if this clock belongs to no simulation (default-constructed).
  time_point now() const noexcept {
    if (!core_) std::abort();
    return core_->now();
  }
  void sleep_for(duration d) { core_->sleep_for(d); }
  template <class Predicate>
  bool wait_until(std::unique_lock<std::mutex>& lock, std::condition_variable&, time_point deadline,
                  Predicate pred) {
    return core_->wait_until(lock, deadline, pred);
  }

 private:
  std::shared_ptr<detail::sim_core> core_;
};
static_assert(waitable_clock<sim_clock>);

/// The simulation's `executor`: each task is a thread that runs only when
/// the simulation gives it the turn. A default-constructed one belongs to
/// no simulation and must not start tasks.
class sim_executor {
 public:
  /// Joined once, like a `std::thread` (move-only).
  class task {
   public:
    task() = default;
    task(task&&) noexcept = default;
    task& operator=(task&&) noexcept = default;
    task(const task&) = delete;
    task& operator=(const task&) = delete;
    /// Waits (in simulated time, other threads running) for the task to end.
    void join() {
      if (!core_) std::abort();  // not a started task, or joined already
      core_->join(id_);
      core_ = nullptr;
    }
    bool joinable() const { return core_ && core_->joinable(id_); }

   private:
    friend class sim_executor;
    task(std::shared_ptr<detail::sim_core> core, std::size_t id) : core_(std::move(core)), id_(id) {}
    std::shared_ptr<detail::sim_core> core_;
    std::size_t id_ = 0;
  };

  sim_executor() = default;
  explicit sim_executor(std::shared_ptr<detail::sim_core> core) : core_(std::move(core)) {}

  task start(std::function<void()> fn) noexcept {
    if (!core_) std::abort();  // a default-constructed executor runs nothing
    return task(core_, core_->start(std::move(fn), core_));
  }

 private:
  std::shared_ptr<detail::sim_core> core_;
};
static_assert(executor<sim_executor>);

/// A seeded simulation; see the file comment.
class simulation {
 public:
  using duration = sim_clock::duration;
  using time_point = sim_clock::time_point;

  /// `name` prefixes the message printed when the simulation is stuck (no
  /// thread can ever run again), before it aborts.
  explicit simulation(std::uint64_t seed, std::string name = "simulation",
                      time_point start = time_point(std::chrono::hours(24)))
      : core_(std::make_shared<detail::sim_core>(seed, start)) {
    core_->name = std::move(name);
  }

  sim_clock clock() const { return sim_clock(core_); }
  sim_executor executor() const { return sim_executor(core_); }
  time_point now() const noexcept { return core_->now(); }

  /// The seeded generator that orders the threads; a workload may draw
  /// from it too (the run stays a function of the seed).
  std::mt19937_64& random() noexcept { return core_->random(); }

  /// The driver gives way once (it may be picked again at once).
  void yield() { core_->yield(); }
  /// The driver waits `d` of simulated time while the tasks run.
  void run_for(duration d) { core_->sleep_for(d); }

  /// Hand-overs between threads so far.
  std::uint64_t switches() const noexcept { return core_->switches(); }

 private:
  std::shared_ptr<detail::sim_core> core_;
};

}  // namespace storesync
