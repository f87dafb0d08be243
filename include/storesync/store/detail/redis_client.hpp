#pragma once
// Internals of the Redis adapter (redis_store, redis_stream_journal): a pool
// of connections to one server and the Lua scripts loaded on it, called by
// their SHA and loaded again when the server has forgotten them. Not part of
// the public API.

#include <array>
#include <chrono>
#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "storesync/core/result.hpp"
#include "storesync/store/detail/connection_pool.hpp"
#include "storesync/store/detail/redis_connection.hpp"

namespace storesync::detail {

/// How a `redis_client` connects.
struct redis_client_options {
  std::size_t pool_size = 4;
  std::chrono::milliseconds connect_timeout{2000};
  std::chrono::milliseconds command_timeout{5000};
};

/// Connections to one Redis server and `N` scripts (`texts`, which must
/// outlive the client) loaded on it. Thread-safe; not movable (the pool's
/// opener refers to it), so it lives behind a pointer.
template <std::size_t N>
class redis_client {
 public:
  redis_client(redis_address address, redis_client_options options, const std::array<std::string_view, N>& texts)
      : address_(std::move(address)),
        options_(options),
        texts_(texts),
        pool_({.size = options.pool_size, .what = "Redis connection"},
              [this]() { return redis_connection::open(address_, options_.connect_timeout, options_.command_timeout); },
              [](redis_connection& c) { return !c.broken(); }) {}

  redis_client(const redis_client&) = delete;
  redis_client& operator=(const redis_client&) = delete;

  /// Connects once and loads the scripts, learning their SHAs: what an
  /// `open` checks. Call it once, before anything else.
  result<void> connect() {
    BOOST_OUTCOME_TRY(auto conn, pool_.acquire());
    for (std::size_t i = 0; i < N; ++i) {
      BOOST_OUTCOME_TRY(auto sha, load(*conn, i));
      sha_[i] = std::move(sha);
    }
    return success();
  }

  result<redis_reply> command(std::span<const std::string_view> args, std::string_view what) {
    BOOST_OUTCOME_TRY(auto conn, pool_.acquire());
    return conn->command(args, what);
  }

  result<std::vector<redis_reply>> pipeline(std::span<const std::vector<std::string_view>> commands,
                                            std::string_view what) {
    BOOST_OUTCOME_TRY(auto conn, pool_.acquire());
    return conn->pipeline(commands, what);
  }

  /// EVALSHA of script `which`; when the server no longer has it (it
  /// restarted, or SCRIPT FLUSH), loads every script again and retries once.
  result<redis_reply> eval(std::size_t which, std::span<const std::string_view> keys,
                           std::span<const std::string_view> args, std::string_view what) {
    const std::string count = std::to_string(keys.size());
    std::vector<std::string_view> argv;
    argv.reserve(3 + keys.size() + args.size());
    BOOST_OUTCOME_TRY(auto conn, pool_.acquire());
    for (int attempt = 0;; ++attempt) {
      argv.assign({"EVALSHA", sha_[which], count});
      argv.insert(argv.end(), keys.begin(), keys.end());
      argv.insert(argv.end(), args.begin(), args.end());
      auto reply = conn->command(argv, what);
      if (reply || attempt > 0 || conn->broken() || reply.error().context().find(": NOSCRIPT") == std::string::npos)
        return reply;
      // A script's SHA is the hash of its text: loading it again gives the
      // same one, so sha_ is never written after connect().
      for (std::size_t i = 0; i < N; ++i) {
        BOOST_OUTCOME_TRY(load(*conn, i));
      }
    }
  }

 private:
  result<std::string> load(redis_connection& conn, std::size_t i) {
    const std::string_view args[] = {"SCRIPT", "LOAD", texts_[i]};
    BOOST_OUTCOME_TRY(auto reply, conn.command(args, "SCRIPT LOAD"));
    return std::string(reply->str, reply->len);
  }

  redis_address address_;
  redis_client_options options_;
  const std::array<std::string_view, N>& texts_;
  std::array<std::string, N> sha_;
  connection_pool<redis_connection> pool_;
};

}  // namespace storesync::detail
