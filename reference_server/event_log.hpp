#pragma once
// The server's log of what an operator should know happened: one JSON object
// per line, for instance
//   {"ts":"2026-12-03T14:30:00.123456Z","event":"slow_store_down","store":"postgresql://db/app","error":"...","not_logged":0}
// for write-behind's state changes (write_behind_event: the durable store
// down and up again, backpressure on and off, dead letters).
//
// Rate limits, so a flapping store or a burst of refusals cannot flood the
// log. Each stream of lines (the store's state, backpressure, dead letters)
// gets at most one line per `interval`:
// - dead letters: one that comes sooner is counted, and the next line says
//   how many were left out (`not_logged`); the dead-letter list has them all;
// - state changes: one that comes sooner is held, and a background thread
//   writes the latest held change when the interval is over, with
//   `not_logged` counting the changes before it that were left out. So the
//   last line of each stream always tells the current state, at most one
//   interval late, also when no further event comes. Held changes are
//   written when the log is destroyed.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <ostream>
#include <string>
#include <thread>
#include <utility>

#include <nlohmann/json.hpp>

#include "storesync/store/detail/typed_value.hpp"
#include "storesync/strategy/write_behind.hpp"

namespace storesync::server {

class event_log {
 public:
  /// Lines go to `out`, naming the durable store `store`.
  event_log(std::ostream& out, std::string store, std::chrono::milliseconds interval = std::chrono::seconds(1))
      : out_(out), store_(std::move(store)), interval_(interval), timer_([this](std::stop_token stop) {
          write_held_until(stop);
        }) {}

  event_log(const event_log&) = delete;
  event_log& operator=(const event_log&) = delete;

  /// Writes the state changes still held.
  ~event_log() {
    {
      std::lock_guard lock(mutex_);  // so the timer is waiting, or sees the stop
      timer_.request_stop();
    }
    wake_.notify_all();
    timer_.join();
    std::lock_guard lock(mutex_);
    for (stream& s : streams_)
      if (s.held) write_locked(s, *std::exchange(s.held, std::nullopt), clock::now());
  }

  /// Logs `e`, or holds or counts it (see the rate limits above). Thread-safe.
  void operator()(const write_behind_event& e) {
    const auto now = clock::now();
    std::lock_guard lock(mutex_);
    stream& s = stream_of(e.what);
    if (s.held) {  // superseded by `e`: left out
      ++s.not_logged;
      s.held.reset();
    }
    if (now >= s.next_line) {
      write_locked(s, e, now);
    } else if (e.what == write_behind_event::kind::dead_lettered) {
      ++s.not_logged;
    } else {
      s.held = e;
      wake_.notify_all();
    }
  }

 private:
  using clock = std::chrono::system_clock;

  // The lines of one stream and its limit.
  struct stream {
    clock::time_point next_line{};  // no line before this
    std::uint64_t not_logged = 0;   // left out since the last line
    std::optional<write_behind_event> held;
  };

  stream& stream_of(write_behind_event::kind k) noexcept {
    using enum write_behind_event::kind;
    switch (k) {
      case slow_store_down:
      case slow_store_up: return streams_[0];
      case backpressure_on:
      case backpressure_off: return streams_[1];
      case dead_lettered: break;
    }
    return streams_[2];
  }

  void write_locked(stream& s, const write_behind_event& e, clock::time_point now) {
    using kind = write_behind_event::kind;
    s.next_line = now + interval_;
    nlohmann::json line = {
        {"ts", detail::format_timestamp(
                   std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count(), false)},
        {"event", std::string(to_string(e.what))},
        {"store", store_}};
    if (e.what == kind::dead_lettered) line["key"] = e.key;
    if (e.what == kind::slow_store_down || e.what == kind::dead_lettered) line["error"] = e.detail;
    line["not_logged"] = std::exchange(s.not_logged, 0);
    // Keys and errors may hold bytes that are not UTF-8: replaced, not thrown.
    out_ << line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << std::endl;
  }

  // The timer thread: writes each held change once its stream's interval is over.
  void write_held_until(std::stop_token stop) {
    std::unique_lock lock(mutex_);
    while (!stop.stop_requested()) {
      std::optional<clock::time_point> due;
      const auto now = clock::now();
      for (stream& s : streams_) {
        if (!s.held) continue;
        if (now >= s.next_line) write_locked(s, *std::exchange(s.held, std::nullopt), now);
        else if (!due || s.next_line < *due) due = s.next_line;
      }
      if (due) wake_.wait_until(lock, *due);
      else wake_.wait(lock);
    }
  }

  std::ostream& out_;
  const std::string store_;
  const std::chrono::milliseconds interval_;
  std::mutex mutex_;
  std::condition_variable wake_;
  stream streams_[3];
  std::jthread timer_;  // last: starts after the members it uses
};

}  // namespace storesync::server
