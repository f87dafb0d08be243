#pragma once
// Internals of redis_store: the redis:// URL, one hiredis connection that
// runs binary-safe commands and pipelines, and the mapping of Redis's errors
// onto storesync's. Not part of the public API.

#include <hiredis/hiredis.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <sys/time.h>
#include <utility>
#include <vector>

#include "storesync/core/detail/text.hpp"
#include "storesync/core/error.hpp"
#include "storesync/core/result.hpp"

namespace storesync::detail {

/// Where a Redis server is, from `redis://[[user]:password@]host[:port][/db]`.
struct redis_address {
  std::string host;
  int port = 6379;
  int db = 0;
  std::string user;
  std::string password;
};

inline result<redis_address> parse_redis_url(std::string_view url) {
  // The message never repeats the URL: it may hold a password.
  const auto bad = [](std::string_view why) {
    return error{errc::invalid_argument,
                 "Redis URL: " + std::string(why) + " (the form is redis://[[user]:password@]host[:port][/db])"};
  };
  constexpr std::string_view scheme = "redis://";
  if (!url.starts_with(scheme)) return bad("not a redis:// URL");
  std::string_view rest = url.substr(scheme.size());
  redis_address a;
  if (const auto at = rest.rfind('@'); at != std::string_view::npos) {
    const std::string_view auth = rest.substr(0, at);
    const auto colon = auth.find(':');
    if (colon == std::string_view::npos) return bad("credentials without a ':' before the password");
    a.user = std::string(auth.substr(0, colon));
    a.password = std::string(auth.substr(colon + 1));
    rest = rest.substr(at + 1);
  }
  std::string_view hostport = rest;
  if (const auto slash = rest.find('/'); slash != std::string_view::npos) {
    hostport = rest.substr(0, slash);
    const std::string_view db = rest.substr(slash + 1);
    if (!db.empty()) {
      const auto [end, ec] = std::from_chars(db.data(), db.data() + db.size(), a.db);
      if (ec != std::errc{} || end != db.data() + db.size() || a.db < 0)
        return bad("the database is not a number from 0");
    }
  }
  if (const auto colon = hostport.rfind(':'); colon != std::string_view::npos) {
    const std::string_view port = hostport.substr(colon + 1);
    const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), a.port);
    if (ec != std::errc{} || end != port.data() + port.size() || a.port < 1 || a.port > 65535)
      return bad("the port is not a number from 1 to 65535");
    hostport = hostport.substr(0, colon);
  }
  if (hostport.empty()) return bad("no host");
  a.host = std::string(hostport);
  return a;
}

/// The storesync error for an error reply of Redis (`message` is the reply
/// text, its first word the error code), while doing `what`.
inline error redis_reply_error(std::string_view what, std::string_view message) {
  const std::string_view code = message.substr(0, message.find(' '));
  const std::string text = "Redis " + std::string(what) + ": " + std::string(message.substr(0, 500));
  // Out of memory under maxmemory: shed load.
  if (code == "OOM") return error{errc::resource_exhausted, text};
  // A script or a slot migration holds the server: the call may succeed later.
  if (code == "BUSY" || code == "TRYAGAIN") return error{errc::busy, text};
  // Loading its data, a replica that lost its primary, a read-only replica:
  // not usable now.
  if (code == "LOADING" || code == "MASTERDOWN" || code == "READONLY")
    return error{errc::connection_failed, text};
  // It cannot persist (a failed AOF or RDB write): nothing is acknowledged.
  if (code == "MISCONF") return error{errc::storage_failure, text};
  // Another type under one of the store's keys.
  if (code == "WRONGTYPE") return error{errc::schema_mismatch, text};
  return error{errc::backend_failure, text};
}

struct redis_reply_deleter {
  void operator()(redisReply* r) const noexcept { freeReplyObject(r); }
};
using redis_reply = std::unique_ptr<redisReply, redis_reply_deleter>;

/// One connection, used by one thread at a time. After an I/O error (a lost
/// connection, a timeout) it is `broken` and must be dropped: hiredis cannot
/// reuse the context.
class redis_connection {
 public:
  /// Connects, authenticates and selects the database.
  static result<std::unique_ptr<redis_connection>> open(const redis_address& a,
                                                        std::chrono::milliseconds connect_timeout,
                                                        std::chrono::milliseconds command_timeout) {
    const timeval connect = to_timeval(connect_timeout);
    redisContext* ctx = redisConnectWithTimeout(a.host.c_str(), a.port, connect);
    const std::string where = a.host + ":" + std::to_string(a.port);
    if (ctx == nullptr) return error{errc::connection_failed, "Redis at " + where + ": out of memory"};
    std::unique_ptr<redis_connection> c(new redis_connection(ctx));
    if (ctx->err) return error{errc::connection_failed, "Redis at " + where + ": " + std::string(ctx->errstr)};
    if (redisSetTimeout(ctx, to_timeval(command_timeout)) != REDIS_OK)
      return error{errc::connection_failed, "Redis at " + where + ": cannot set the command timeout"};
    if (!a.password.empty()) {
      std::vector<std::string_view> auth = {"AUTH"};
      if (!a.user.empty()) auth.push_back(a.user);
      auth.push_back(a.password);
      if (auto r = c->command(auth, "AUTH"); !r) return r.error();
    }
    if (a.db != 0) {
      const std::string db = std::to_string(a.db);
      const std::string_view select[] = {"SELECT", db};
      if (auto r = c->command(select, "SELECT " + db); !r) return r.error();
    }
    return c;
  }

  redis_connection(const redis_connection&) = delete;
  redis_connection& operator=(const redis_connection&) = delete;
  ~redis_connection() { redisFree(ctx_); }

  /// Runs one command; an error reply becomes an error (`what` names the
  /// call in it).
  result<redis_reply> command(std::span<const std::string_view> args, std::string_view what) {
    BOOST_OUTCOME_TRY(append(args));
    return next_reply(what);
  }

  /// Sends every command, then reads their replies in order: one round trip.
  /// Fails with the first error reply (the rest are still read).
  result<std::vector<redis_reply>> pipeline(std::span<const std::vector<std::string_view>> commands,
                                            std::string_view what) {
    for (const auto& args : commands) {
      BOOST_OUTCOME_TRY(append(args));
    }
    std::vector<redis_reply> replies;
    replies.reserve(commands.size());
    std::optional<error> first;
    for (std::size_t i = 0; i < commands.size(); ++i) {
      auto r = next_reply(what);
      if (!r) {
        if (broken_) return r.error();
        if (!first) first = r.error();
        replies.emplace_back();
        continue;
      }
      replies.push_back(std::move(r).value());
    }
    if (first) return *first;
    return replies;
  }

  /// The connection failed (I/O, protocol, timeout) and cannot be used again.
  bool broken() const noexcept { return broken_; }

 private:
  explicit redis_connection(redisContext* ctx) noexcept : ctx_(ctx) {}

  static timeval to_timeval(std::chrono::milliseconds ms) noexcept {
    timeval tv{};
    tv.tv_sec = static_cast<decltype(tv.tv_sec)>(ms.count() / 1000);
    tv.tv_usec = static_cast<decltype(tv.tv_usec)>((ms.count() % 1000) * 1000);
    return tv;
  }

  result<void> append(std::span<const std::string_view> args) {
    thread_local std::vector<const char*> argv;
    thread_local std::vector<std::size_t> lens;
    argv.clear();
    lens.clear();
    for (const std::string_view a : args) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    if (redisAppendCommandArgv(ctx_, static_cast<int>(args.size()), argv.data(), lens.data()) != REDIS_OK)
      return context_error("sending a command");
    return success();
  }

  result<redis_reply> next_reply(std::string_view what) {
    void* raw = nullptr;
    if (redisGetReply(ctx_, &raw) != REDIS_OK || raw == nullptr) return context_error(what);
    redis_reply reply(static_cast<redisReply*>(raw));
    if (reply->type == REDIS_REPLY_ERROR) return redis_reply_error(what, std::string_view(reply->str, reply->len));
    return reply;
  }

  /// The error of a failed context: the connection is gone for good.
  error context_error(std::string_view what) {
    broken_ = true;
    const std::string text = "Redis " + std::string(what) + ": " + std::string(ctx_->errstr);
    if (ctx_->err == REDIS_ERR_IO && (errno == EAGAIN || errno == ETIMEDOUT))
      return error{errc::timeout, "Redis " + std::string(what) + ": no reply within the command timeout"};
    if (ctx_->err == REDIS_ERR_OOM) return error{errc::resource_exhausted, text};
    return error{errc::connection_lost, text};
  }

  redisContext* ctx_;
  bool broken_ = false;
};

}  // namespace storesync::detail
