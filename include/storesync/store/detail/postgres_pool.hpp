#pragma once
// PostgreSQL adapter internals: a small, thread-safe pool of libpqxx
// connections. A checkout hands out a `lease`; returning it puts a healthy
// connection back and discards a broken one, so the next checkout opens a
// fresh connection in its place.

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include <pqxx/pqxx>

#include "storesync/core/result.hpp"
#include "storesync/store/detail/postgres_errors.hpp"

namespace storesync::detail {

class postgres_pool {
 public:
  struct settings {
    /// libpq URL or key=value string; empty lets libpq read PG* variables.
    std::string conninfo;
    std::size_t size = 4;
    std::chrono::milliseconds checkout_timeout{30'000};
    /// Run once on each new connection (session settings, temp table,
    /// prepared statements). May throw libpqxx exceptions.
    std::function<void(pqxx::connection&)> setup;
  };

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

    pqxx::connection& operator*() const noexcept { return *conn_; }
    pqxx::connection* operator->() const noexcept { return conn_.get(); }
    pqxx::connection* get() const noexcept { return conn_.get(); }
    /// Do not return this connection to the pool.
    void discard() noexcept { broken_ = true; }

   private:
    friend class postgres_pool;
    lease(postgres_pool* pool, std::unique_ptr<pqxx::connection> conn)
        : pool_(pool), conn_(std::move(conn)) {}
    void release() noexcept {
      if (pool_ != nullptr) pool_->give_back(std::move(conn_), broken_);
      pool_ = nullptr;
    }

    postgres_pool* pool_ = nullptr;
    std::unique_ptr<pqxx::connection> conn_;
    bool broken_ = false;
  };

  explicit postgres_pool(settings s) : settings_(std::move(s)) {
    if (settings_.size == 0) settings_.size = 1;
    password_ = pg_password_of(settings_.conninfo);
  }
  postgres_pool(const postgres_pool&) = delete;
  postgres_pool& operator=(const postgres_pool&) = delete;

  /// An idle connection, a new one if the pool is below its size, or the
  /// next one returned, waiting at most `checkout_timeout`.
  result<lease> checkout() {
    std::unique_lock lock(mutex_);
    const auto deadline = std::chrono::steady_clock::now() + settings_.checkout_timeout;
    for (;;) {
      if (!idle_.empty()) {
        auto conn = std::move(idle_.back());
        idle_.pop_back();
        return lease(this, std::move(conn));
      }
      if (live_ < settings_.size) {
        ++live_;
        lock.unlock();
        auto conn = connect();
        if (!conn) {
          lock.lock();
          --live_;
          available_.notify_one();
          return std::move(conn).error();
        }
        return lease(this, std::move(conn).value());
      }
      if (available_.wait_until(lock, deadline) == std::cv_status::timeout && idle_.empty() &&
          live_ >= settings_.size)
        return error{errc::timeout, "no PostgreSQL connection free within " +
                                        std::to_string(settings_.checkout_timeout.count()) +
                                        " ms (pool of " + std::to_string(settings_.size) + ")"};
    }
  }

  /// Connections currently open (idle or leased).
  std::size_t live() const {
    std::lock_guard lock(mutex_);
    return live_;
  }
  const settings& config() const noexcept { return settings_; }
  /// The connection string with any password replaced by `***`.
  std::string redacted() const { return pg_redact(settings_.conninfo); }
  const std::string& password() const noexcept { return password_; }

 private:
  result<std::unique_ptr<pqxx::connection>> connect() {
    pg_call_context ctx{"connect to " + redacted(), password_, {}};
    pqxx::connection* raw = nullptr;
    try {
      auto conn = std::make_unique<pqxx::connection>(settings_.conninfo);
      raw = conn.get();
      if (settings_.setup) settings_.setup(*conn);
      return conn;
    } catch (...) {
      error e = pg_current_error(ctx, raw);
      // Failing to reach the server is "connection_failed", not "lost".
      if (e == errc::connection_lost) return error{errc::connection_failed, e.context()};
      return e;
    }
  }

  void give_back(std::unique_ptr<pqxx::connection> conn, bool broken) noexcept {
    const bool keep = conn && !broken && conn->is_open();
    if (!keep) conn.reset();  // closes the socket outside the lock
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

  settings settings_;
  std::string password_;
  mutable std::mutex mutex_;
  std::condition_variable available_;
  std::vector<std::unique_ptr<pqxx::connection>> idle_;
  std::size_t live_ = 0;
};

}  // namespace storesync::detail
