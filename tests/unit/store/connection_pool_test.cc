#include "storesync/store/detail/connection_pool.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <thread>
#include <vector>

namespace storesync::detail {
namespace {

using namespace std::chrono_literals;

// Counts itself in `alive` from open to close.
struct fake_connection {
  explicit fake_connection(int n, std::shared_ptr<std::atomic<int>> count)
      : id(n), alive(std::move(count)) {
    ++*alive;
  }
  fake_connection(const fake_connection&) = delete;
  fake_connection& operator=(const fake_connection&) = delete;
  ~fake_connection() { --*alive; }

  int id;
  bool open = true;
  std::shared_ptr<std::atomic<int>> alive;
};

using lease = connection_pool<fake_connection>::lease;

// Opens numbered connections, or fails while `refuse` is set.
struct fake_server {
  std::atomic<int> opened{0};
  std::atomic<bool> refuse{false};
  std::shared_ptr<std::atomic<int>> alive = std::make_shared<std::atomic<int>>(0);

  connection_pool<fake_connection>::opener opener() {
    return [this]() -> result<std::unique_ptr<fake_connection>> {
      if (refuse) return error{errc::connection_failed, "refused"};
      return std::make_unique<fake_connection>(++opened, alive);
    };
  }
};

// The id of the connection `acquire` hands out now, returned at once (0 when
// it fails).
int next_id(connection_pool<fake_connection>& pool) {
  auto l = pool.acquire();
  return l ? l.value()->id : 0;
}

TEST(ConnectionPool, ReusesTheConnectionReturnedLast) {
  fake_server server;
  connection_pool<fake_connection> pool({.size = 2}, server.opener());
  EXPECT_EQ(next_id(pool), 1);
  EXPECT_EQ(next_id(pool), 1);
  EXPECT_EQ(server.opened, 1);
  EXPECT_EQ(pool.live(), 1u);
}

TEST(ConnectionPool, OpensNoMoreThanItsSize) {
  fake_server server;
  connection_pool<fake_connection> pool({.size = 0}, server.opener());  // 0 counts as 1
  EXPECT_EQ(pool.options().size, 1u);
  auto acquired = pool.acquire();
  ASSERT_TRUE(acquired);
  lease a = std::move(acquired).value();
  std::atomic<bool> got{false};
  std::thread waiter([&] {
    auto b = pool.acquire();  // no timeout: waits for `a`
    got = static_cast<bool>(b);
  });
  std::this_thread::sleep_for(50ms);
  EXPECT_FALSE(got);
  a = lease{};  // returns the connection
  waiter.join();
  EXPECT_TRUE(got);
  EXPECT_EQ(server.opened, 1);
}

TEST(ConnectionPool, TimesOutNamingTheConnectionsAndTheSize) {
  fake_server server;
  connection_pool<fake_connection> pool({.size = 1, .acquire_timeout = 30ms, .what = "fake connection"},
                                        server.opener());
  auto a = pool.acquire();
  ASSERT_TRUE(a);
  const auto start = std::chrono::steady_clock::now();
  auto b = pool.acquire();
  ASSERT_FALSE(b);
  EXPECT_GE(std::chrono::steady_clock::now() - start, 30ms);
  EXPECT_TRUE(b.error() == errc::timeout);
  EXPECT_EQ(b.error().context(), "no fake connection free within 30 ms (pool of 1)");
}

TEST(ConnectionPool, DiscardedAndUnusableConnectionsAreClosedAndReplaced) {
  fake_server server;
  connection_pool<fake_connection> pool({.size = 1}, server.opener(),
                                        [](fake_connection& c) { return c.open; });
  {
    auto a = pool.acquire();
    ASSERT_TRUE(a);
    a.value().discard();
  }
  EXPECT_EQ(*server.alive, 0);
  EXPECT_EQ(pool.live(), 0u);
  {
    auto b = pool.acquire();
    ASSERT_TRUE(b);
    b.value()->open = false;  // broke while leased
  }
  EXPECT_EQ(*server.alive, 0);
  EXPECT_EQ(next_id(pool), 3);
  EXPECT_EQ(next_id(pool), 3) << "a usable connection is kept";
  EXPECT_EQ(server.opened, 3);
}

TEST(ConnectionPool, FailedOpenFreesItsPlace) {
  fake_server server;
  connection_pool<fake_connection> pool({.size = 1, .acquire_timeout = 1s}, server.opener());
  server.refuse = true;
  auto refused = pool.acquire();
  ASSERT_FALSE(refused);
  EXPECT_TRUE(refused.error() == errc::connection_failed);
  EXPECT_EQ(pool.live(), 0u);
  server.refuse = false;
  EXPECT_EQ(next_id(pool), 1) << "the failed open left room for this one";
}

TEST(ConnectionPool, MovedLeaseReturnsItsConnectionOnce) {
  fake_server server;
  connection_pool<fake_connection> pool({.size = 1, .acquire_timeout = 1s}, server.opener());
  auto acquired = pool.acquire();
  ASSERT_TRUE(acquired);
  lease moved = std::move(acquired).value();
  lease other = std::move(moved);
  EXPECT_EQ(other->id, 1);
  moved = lease{};  // held nothing: returns nothing
  EXPECT_EQ(pool.live(), 1u);
  other = lease{};
  EXPECT_EQ(next_id(pool), 1);
  EXPECT_EQ(pool.live(), 1u);
}

TEST(ConnectionPool, ManyThreadsNeverHoldMoreThanTheSize) {
  fake_server server;
  connection_pool<fake_connection> pool({.size = 3}, server.opener());
  std::atomic<int> held{0}, most{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 200; ++i) {
        auto l = pool.acquire();
        ASSERT_TRUE(l);
        const int now = ++held;
        int seen = most;
        while (now > seen && !most.compare_exchange_weak(seen, now)) {
        }
        std::this_thread::yield();
        --held;
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_LE(most, 3);
  EXPECT_LE(server.opened, 3);
  EXPECT_EQ(*server.alive, static_cast<int>(pool.live()));
}

}  // namespace
}  // namespace storesync::detail
