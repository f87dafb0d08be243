#pragma once
// Internals of the SQL adapters: one bounded, thread-safe pool of database
// connections, whatever the database. The adapter says how to open a
// connection and, optionally, whether a returned one is still usable; the
// pool hands connections out as leases. Not part of the public API.

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "storesync/core/result.hpp"

namespace storesync::detail {

/// Sizes and waits of a `connection_pool`.
struct connection_pool_options {
  /// Most connections open at once, idle or leased (0 counts as 1).
  std::size_t size = 4;
  /// How long `acquire` waits for a connection when all are leased; none:
  /// as long as it takes.
  std::optional<std::chrono::milliseconds> acquire_timeout{};
  /// What the connections are, as the timeout error names them.
  std::string what = "connection";
};

/// A bounded pool of `Connection`s, each used by one thread at a time.
///
/// `acquire` hands out an idle connection (the most recently returned), opens
/// a new one while fewer than `size` are open (outside the lock), or waits for
/// one to come back. A `lease` returns its connection when it ends; a
/// connection the lease discarded, or that `usable` rejects, is closed
/// (outside the lock) and its place freed, so the next `acquire` opens a fresh
/// one. A failed open frees its place too. Every member is thread-safe; the
/// pool must outlive its leases.
template <class Connection>
class connection_pool {
 public:
  /// Opens one connection; may fail.
  using opener = std::function<result<std::unique_ptr<Connection>>()>;
  /// Whether a returned connection may be handed out again.
  using checker = std::function<bool(Connection&)>;

  /// One leased connection; returns it to the pool when it ends.
  class lease {
   public:
    lease() = default;
    lease(lease&& o) noexcept
        : pool_(std::exchange(o.pool_, nullptr)), conn_(std::move(o.conn_)), broken_(o.broken_) {}
    lease& operator=(lease&& o) noexcept {
      if (this != &o) {
        release();
        pool_ = std::exchange(o.pool_, nullptr);
        conn_ = std::move(o.conn_);
        broken_ = o.broken_;
      }
      return *this;
    }
    lease(const lease&) = delete;
    lease& operator=(const lease&) = delete;
    ~lease() { release(); }

    Connection& operator*() const noexcept { return *conn_; }
    Connection* operator->() const noexcept { return conn_.get(); }
    Connection* get() const noexcept { return conn_.get(); }
    /// Closes the connection when the lease ends instead of returning it.
    void discard() noexcept { broken_ = true; }

   private:
    friend class connection_pool;
    lease(connection_pool* pool, std::unique_ptr<Connection> conn) noexcept
        : pool_(pool), conn_(std::move(conn)) {}
    void release() noexcept {
      if (pool_ != nullptr) pool_->give_back(std::move(conn_), broken_);
      pool_ = nullptr;
    }

    connection_pool* pool_ = nullptr;
    std::unique_ptr<Connection> conn_;
    bool broken_ = false;
  };

  connection_pool(connection_pool_options options, opener open, checker usable = {})
      : options_(std::move(options)), open_(std::move(open)), usable_(std::move(usable)) {
    if (options_.size == 0) options_.size = 1;
  }
  connection_pool(const connection_pool&) = delete;
  connection_pool& operator=(const connection_pool&) = delete;

  /// An idle connection, a new one while the pool is below its size, or the
  /// next one returned (waiting at most `acquire_timeout`, when set).
  result<lease> acquire() {
    std::unique_lock lock(mutex_);
    std::optional<std::chrono::steady_clock::time_point> deadline;
    if (options_.acquire_timeout)
      deadline = std::chrono::steady_clock::now() + *options_.acquire_timeout;
    for (;;) {
      if (!idle_.empty()) {
        auto conn = std::move(idle_.back());
        idle_.pop_back();
        return lease(this, std::move(conn));
      }
      if (live_ < options_.size) {
        ++live_;
        lock.unlock();
        auto conn = open_();
        if (!conn) {
          lock.lock();
          --live_;
          available_.notify_one();
          return std::move(conn).error();
        }
        return lease(this, std::move(conn).value());
      }
      if (!deadline) {
        available_.wait(lock);
      } else if (available_.wait_until(lock, *deadline) == std::cv_status::timeout &&
                 idle_.empty() && live_ >= options_.size) {
        return error{errc::timeout, "no " + options_.what + " free within " +
                                        std::to_string(options_.acquire_timeout->count()) +
                                        " ms (pool of " + std::to_string(options_.size) + ")"};
      }
    }
  }

  /// Connections open now, idle or leased.
  std::size_t live() const {
    std::lock_guard lock(mutex_);
    return live_;
  }
  const connection_pool_options& options() const noexcept { return options_; }

 private:
  void give_back(std::unique_ptr<Connection> conn, bool broken) noexcept {
    bool keep = conn && !broken;
    if (keep && usable_) {
      try {
        keep = usable_(*conn);
      } catch (...) {
        keep = false;
      }
    }
    if (!keep) conn.reset();  // closes it outside the lock
    std::lock_guard lock(mutex_);
    if (keep) {
      try {
        idle_.push_back(std::move(conn));
      } catch (...) {
        --live_;
      }
    } else {
      --live_;
    }
    available_.notify_one();
  }

  connection_pool_options options_;
  opener open_;
  checker usable_;
  mutable std::mutex mutex_;
  std::condition_variable available_;
  std::vector<std::unique_ptr<Connection>> idle_;
  std::size_t live_ = 0;
};

}  // namespace storesync::detail
