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
/// A `simulation` is used from the thread that made it; it must outlive
/// every task started on its executor, joined or not.

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <semaphore>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "storesync/policy/clock.hpp"
#include "storesync/policy/executor.hpp"

namespace storesync {

class sim_clock;
class sim_executor;

namespace detail {

/// The scheduler behind a simulation, shared by its clock and executor.
class sim_core {
 public:
  using duration = std::chrono::steady_clock::duration;
  using time_point = std::chrono::steady_clock::time_point;

  sim_core(std::uint64_t seed, time_point start) : random_(seed), now_(start) {
    actors_.push_back(std::make_unique<actor>());  // the driver
  }

  time_point now() const noexcept { return now_; }
  std::mt19937_64& random() noexcept { return random_; }
  std::uint64_t switches() const noexcept { return switches_; }

  /// The caller waits `d` of simulated time while the others run.
  void sleep_for(duration d) {
    actor& self = me();
    self.at = state::sleeping;
    self.deadline = now_ + std::max(d, duration::zero());
    park(self);
  }

  template <class Predicate>
  bool wait_until(std::unique_lock<std::mutex>& lock, time_point deadline, Predicate& pred) {
    if (pred()) return true;
    actor& self = me();
    self.at = state::waiting;
    self.deadline = deadline;
    self.mutex = lock.mutex();
    self.check = [&pred] { return static_cast<bool>(pred()); };
    self.satisfied = false;
    lock.unlock();
    park(self);
    lock.lock();
    self.check = nullptr;
    self.mutex = nullptr;
    // Picked because the predicate held (it ran once, under the lock, and
    // may have claimed something): do not run it again.
    return self.satisfied || pred();
  }

  /// Starts `fn` as a new actor, runnable; the caller goes on.
  std::size_t start(std::function<void()> fn, std::shared_ptr<sim_core> self) {
    const std::size_t id = actors_.size();
    actors_.push_back(std::make_unique<actor>());
    actor& a = *actors_.back();
    a.at = state::runnable;
    a.thread = std::thread([core = std::move(self), id, fn = std::move(fn)] {
      current_ = id;
      core->actors_[id]->go.acquire();
      fn();
      core->finish(id);
    });
    return id;
  }

  void join(std::size_t id) {
    actor& task = *actors_[id];
    if (task.at != state::finished) {
      actor& self = me();
      self.at = state::joining;
      self.joined = id;
      park(self);
    }
    task.thread.join();
  }

  bool joinable(std::size_t id) const { return actors_[id]->thread.joinable(); }

  /// Gives way once: any actor that may go on, the caller included, runs next.
  void yield() {
    actor& self = me();
    self.at = state::runnable;
    park(self);
  }

  /// Prefixed to the message when no actor can ever run again.
  std::string name;

 private:
  enum class state { running, runnable, sleeping, waiting, joining, finished };

  struct actor {
    std::binary_semaphore go{0};
    state at = state::running;
    time_point deadline{};
    std::mutex* mutex = nullptr;
    std::function<bool()> check;
    bool satisfied = false;
    std::size_t joined = 0;
    std::thread thread;
  };

  actor& me() { return *actors_[current_]; }

  /// Hands the turn to the next actor and returns when it is the caller's again.
  void park(actor& self) {
    const std::size_t next = pick();
    if (actors_[next].get() == &self) return;
    ++switches_;
    actors_[next]->go.release();
    self.go.acquire();
  }

  void finish(std::size_t id) {
    actors_[id]->at = state::finished;
    const std::size_t next = pick();
    ++switches_;
    actors_[next]->go.release();
  }

  /// The actor that runs next, marked running: drawn among those that may
  /// go on; time moves to the earliest deadline while none may.
  std::size_t pick() {
    for (;;) {
      order_.clear();
      for (std::size_t i = 0; i < actors_.size(); ++i)
        if (actors_[i]->at != state::finished && actors_[i]->at != state::running) order_.push_back(i);
      std::shuffle(order_.begin(), order_.end(), random_);
      for (const std::size_t i : order_)
        if (may_go(*actors_[i])) {
          actors_[i]->at = state::running;
          return i;
        }
      time_point earliest = time_point::max();
      for (const std::size_t i : order_) {
        const actor& a = *actors_[i];
        if (a.at == state::sleeping || a.at == state::waiting) earliest = std::min(earliest, a.deadline);
      }
      if (earliest == time_point::max()) {
        std::fprintf(stderr, "%s: simulation stuck: every thread waits and no deadline is set\n", name.c_str());
        std::abort();
      }
      now_ = earliest;
    }
  }

  bool may_go(actor& a) {
    switch (a.at) {
      case state::runnable: return true;
      case state::sleeping: return now_ >= a.deadline;
      case state::joining: return actors_[a.joined]->at == state::finished;
      case state::waiting: {
        if (now_ >= a.deadline) return true;
        // Its owner released this mutex to wait; nobody else holds it while
        // one actor runs, unless that actor waits holding it (a misuse).
        std::unique_lock lock(*a.mutex, std::try_to_lock);
        if (!lock.owns_lock()) return false;
        a.satisfied = a.check();
        return a.satisfied;
      }
      case state::running:
      case state::finished: return false;
    }
    return false;
  }

  static inline thread_local std::size_t current_ = 0;

  std::mt19937_64 random_;
  time_point now_;
  std::vector<std::unique_ptr<actor>> actors_;
  std::vector<std::size_t> order_;
  std::uint64_t switches_ = 0;
};

}  // namespace detail

/// The simulation's `waitable_clock`: simulated time, and waits that hand
/// the turn to another thread of the simulation. Copies share the simulation.
class sim_clock {
 public:
  using duration = detail::sim_core::duration;
  using time_point = detail::sim_core::time_point;

  sim_clock() = default;
  explicit sim_clock(std::shared_ptr<detail::sim_core> core) : core_(std::move(core)) {}

  time_point now() const noexcept { return core_->now(); }
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
  class task {
   public:
    task() = default;
    void join() {
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
