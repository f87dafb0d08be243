#include "storesync/policy/executor.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <thread>

namespace storesync {
namespace {

static_assert(executor<thread_executor>);

// Does not model: `start` returns something that cannot be joined.
struct fire_and_forget {
  struct task {};
  task start(std::function<void()> fn) {
    fn();
    return {};
  }
};
static_assert(!executor<fire_and_forget>);

TEST(ThreadExecutor, RunsATaskAndJoinWaitsForItsEffect) {
  thread_executor threads;
  int value = 0;                  // not atomic: join must order the write before the read
  std::atomic<bool> go{false};
  auto task = threads.start([&] {
    while (!go.load()) std::this_thread::yield();
    value = 42;
  });
  EXPECT_TRUE(task.joinable());
  go = true;
  task.join();
  EXPECT_EQ(value, 42);
  EXPECT_FALSE(task.joinable());
}

TEST(ThreadExecutor, RunsTasksOnTheirOwnThreads) {
  thread_executor threads;
  std::thread::id ran_on;
  auto task = threads.start([&] { ran_on = std::this_thread::get_id(); });
  task.join();
  EXPECT_NE(ran_on, std::thread::id{});
  EXPECT_NE(ran_on, std::this_thread::get_id());
}

}  // namespace
}  // namespace storesync
