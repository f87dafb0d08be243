#pragma once
// The server's log of what an operator should know happened: one JSON object
// per line, for instance
//   {"ts":"2026-12-03T14:30:00.123456Z","event":"slow_store_down","store":"postgresql://db/app","error":"..."}
// for write-behind's state changes (write_behind_event: the durable store
// down and up again, backpressure on and off, dead letters). Dead letters
// come in bursts: at most one line per `interval`, and the next one says how
// many were left out (`not_logged`); the dead-letter list has them all.

#include <chrono>
#include <cstdint>
#include <mutex>
#include <ostream>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

#include "storesync/store/detail/typed_value.hpp"
#include "storesync/strategy/write_behind.hpp"

namespace storesync::server {

class event_log {
 public:
  /// Lines go to `out`, naming the durable store `store`.
  event_log(std::ostream& out, std::string store, std::chrono::milliseconds interval = std::chrono::seconds(1))
      : out_(out), store_(std::move(store)), interval_(interval) {}

  /// Logs `e` (thread-safe).
  void operator()(const write_behind_event& e) {
    using kind = write_behind_event::kind;
    const auto now = std::chrono::system_clock::now();
    std::lock_guard lock(mutex_);
    nlohmann::json line = {{"ts", detail::format_timestamp(std::chrono::duration_cast<std::chrono::microseconds>(
                                                                now.time_since_epoch())
                                                                .count(),
                                                            false)},
                           {"event", std::string(to_string(e.what))},
                           {"store", store_}};
    switch (e.what) {
      case kind::slow_store_down: line["error"] = e.detail; break;
      case kind::dead_lettered:
        if (now < next_dead_letter_line_) {
          ++dead_letters_not_logged_;
          return;
        }
        next_dead_letter_line_ = now + interval_;
        line["key"] = e.key;
        line["error"] = e.detail;
        line["not_logged"] = std::exchange(dead_letters_not_logged_, 0);
        break;
      default: break;
    }
    // Keys and errors may hold bytes that are not UTF-8: replaced, not thrown.
    out_ << line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << std::endl;
  }

 private:
  std::ostream& out_;
  const std::string store_;
  const std::chrono::milliseconds interval_;
  std::mutex mutex_;
  std::chrono::system_clock::time_point next_dead_letter_line_{};
  std::uint64_t dead_letters_not_logged_ = 0;
};

}  // namespace storesync::server
