#pragma once
/// \file
/// The `executor` policy: where a strategy's background work runs (the
/// write-behind flusher and its writer, with their retry waits; write-back's
/// read-ahead of the next batch). The default, `thread_executor`, gives each
/// task a thread of its own. A simulator swaps in an executor that runs the
/// tasks one step at a time;
/// the tasks block only through the strategy's Clock (`wait_until`,
/// `sleep_for`), so such an executor, paired with `manual_clock`, decides
/// which task moves next.
///
/// \code
///   storesync::thread_executor threads;
///   auto task = threads.start([&] { run_until_stopped(); });
///   stop_flag = true;
///   task.join();
/// \endcode

#include <concepts>
#include <functional>
#include <thread>
#include <utility>

namespace storesync {

/// Runs background tasks.
///
/// **Requirements** (`e` an `E&`, `fn` a `std::function<void()>`, `t` an
/// `E::task&`)
/// | expression         | returns   | meaning |
/// |--------------------|-----------|---------|
/// | `e.start(fn)`      | `E::task` | runs `fn` to its end, concurrently with the caller and with other tasks |
/// | `t.join()`         | `void`    | returns once the task's `fn` has returned |
/// | `t.joinable()`     | convertible to `bool` | whether the task was started and not yet joined |
///
/// **Guarantees**: every started `fn` runs to its end (unless the process
/// ends); effects of `fn` happen before `join` returns.
/// **Errors**: none: `start` is `noexcept`; a model that cannot start a
/// task (no threads left) terminates the process rather than throw.
/// **Thread safety**: `start` may be called from any thread; each task is
/// joined by one thread.
/// **Models**: `thread_executor`.
///
/// A type models `executor` if `start` runs each function to its end
/// alongside the others and the task it returns can be joined.
template <class E>
concept executor = std::default_initializable<E> && requires(E& e, std::function<void()> fn) {
  { e.start(std::move(fn)) } noexcept -> std::same_as<typename E::task>;
  requires requires(typename E::task& t) {
    t.join();
    { t.joinable() } -> std::convertible_to<bool>;
  };
};

/// One thread per task.
struct thread_executor {
  using task = std::thread;
  task start(std::function<void()> fn) noexcept { return std::thread(std::move(fn)); }
};
static_assert(executor<thread_executor>);

}  // namespace storesync
