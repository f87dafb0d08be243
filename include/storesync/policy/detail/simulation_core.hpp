#pragma once
// The scheduler behind storesync/policy/simulation.hpp.

#include <algorithm>
#include <chrono>
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

namespace storesync::detail {

/// The scheduler behind a `simulation` (storesync/policy/simulation.hpp),
/// shared by its clock and executor. Only the actor that has the turn
/// touches its state; the hand-over (a semaphore) orders what each did.
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
    actor* a = actors_.back().get();  // stable while actors_ grows
    a->at = state::runnable;
    a->thread = std::thread([core = std::move(self), a, id, fn = std::move(fn)]() mutable {
      current_ = id;
      a->go.acquire();
      // What the task holds is released while it still has the turn.
      std::exchange(fn, nullptr)();
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
        // Its owner released this mutex to wait; nobody else holds it while
        // one actor runs, unless an actor waits holding it (a misuse, which
        // then shows as a stuck simulation rather than two threads running).
        std::unique_lock lock(*a.mutex, std::try_to_lock);
        if (!lock.owns_lock()) return false;
        if (now_ >= a.deadline) return true;
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

}  // namespace storesync::detail
