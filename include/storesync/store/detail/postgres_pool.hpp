#pragma once
// PostgreSQL adapter internals: the pool of libpqxx connections of one store,
// the shared `connection_pool` plus how to open a PostgreSQL connection. A
// broken connection is discarded when its lease ends, so the next checkout
// opens a fresh connection in its place.

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <utility>

#include <pqxx/pqxx>

#include "storesync/core/result.hpp"
#include "storesync/store/detail/connection_pool.hpp"
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

  using lease = connection_pool<pqxx::connection>::lease;

  explicit postgres_pool(settings s)
      : settings_(std::move(s)),
        password_(pg_password_of(settings_.conninfo)),
        pool_({settings_.size, settings_.checkout_timeout, "PostgreSQL connection"},
              [this] { return connect(); },
              [](pqxx::connection& c) { return c.is_open(); }) {
    if (settings_.size == 0) settings_.size = 1;
  }
  postgres_pool(const postgres_pool&) = delete;
  postgres_pool& operator=(const postgres_pool&) = delete;

  /// An idle connection, a new one if the pool is below its size, or the
  /// next one returned, waiting at most `checkout_timeout`.
  result<lease> checkout() { return pool_.acquire(); }

  /// Connections currently open (idle or leased).
  std::size_t live() const { return pool_.live(); }
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

  settings settings_;
  std::string password_;
  // Last: its opener uses the members above.
  connection_pool<pqxx::connection> pool_;
};

}  // namespace storesync::detail
