#pragma once
// The `write-behind` mode (the default): acknowledgements come from the fast
// store (this process's memory, or a Redis several servers share) and the
// file journal; the flusher drains to the durable store (SQLite or
// PostgreSQL). Status, metrics, flush and dead letters map onto
// write_behind's own.

#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include "reference_server/deferred_store.hpp"
#include "reference_server/record_service.hpp"
#include "storesync/store/memory_store.hpp"
#include "storesync/strategy/write_behind.hpp"

namespace storesync::server {

template <versioned_store Durable, restorable_store Fast = memory_store, journal Journal = file_journal>
class write_behind_service final : public record_service {
 public:
  using engine_type = write_behind<Fast, deferred_store<Durable>, exponential_backoff, aimd_batch_sizer, block_for,
                                   system_clock, Journal>;

  /// The journals of a service that is not given file journals: acknowledged
  /// writes and dead letters.
  struct journals {
    Journal log;
    Journal letters;
  };

  /// Opens the durable store through `open_durable` (now or, if it is down,
  /// once it is back: see deferred_store), which admits what `admits` does;
  /// recovers the journals (`given`, or file journals under
  /// `options.directory`), in front of `fast` (named `fast_name` in
  /// readiness and status).
  static result<std::unique_ptr<write_behind_service>> open(typename deferred_store<Durable>::opener open_durable,
                                                            typename deferred_store<Durable>::admission admits,
                                                            std::string durable_name, std::unique_ptr<Fast> fast,
                                                            std::string fast_name, write_behind_options options,
                                                            exponential_backoff retry, aimd_batch_sizer sizer,
                                                            block_for backpressure,
                                                            std::shared_ptr<metrics_registry> metrics,
                                                            std::optional<journals> given = std::nullopt) {
    std::unique_ptr<write_behind_service> s(new write_behind_service(
        std::move(open_durable), std::move(admits), std::move(durable_name), std::move(fast), std::move(fast_name)));
    s->inline_writes_ = options.journal.durability != durability::always;
    s->retry_max_attempts_ = retry.configuration().max_attempts;
    if (given) {
      BOOST_OUTCOME_TRY(s->engine_, engine_type::open(*s->fast_, s->durable_, std::move(given->log),
                                                      std::move(given->letters), std::move(options), std::move(retry),
                                                      std::move(sizer), std::move(backpressure), system_clock{},
                                                      std::move(metrics)));
    } else if constexpr (std::is_same_v<Journal, file_journal>) {
      BOOST_OUTCOME_TRY(s->engine_, engine_type::open(*s->fast_, s->durable_, std::move(options), std::move(retry),
                                                      std::move(sizer), std::move(backpressure), system_clock{},
                                                      std::move(metrics)));
    } else {
      return error{errc::invalid_argument, "write_behind_service: no journals given"};
    }
    if constexpr (shared_stream) s->watch_stream();
    return s;
  }

  result<std::optional<entry>> get(std::string_view key) override { return engine_->read(key); }

  value_rules rules() const override { return engine_->rules(); }
  /// From the engine's clock; a fast store several servers share that
  /// issues versions (`redis_store::issue_versions`) lifts them above what
  /// any of the servers stored or was given.
  result<version_type> next_versions(std::size_t count) override {
    const version_type local = engine_->next_versions(count);
    if constexpr (issues_versions) return fast_->issue_versions(count, local);
    else return local;
  }
  bool versions_wait() const override { return issues_versions; }

  /// Acknowledged once in the journal; the durable store follows.
  result<write_report> write(std::span<const entry> batch) override { return engine_->write(batch); }

  /// A memory store, a journal append to the page cache and the pending map:
  /// no waiting, unless the journal fsyncs every record (`always`), the
  /// fast store is across the network (Redis) or the pending bound is
  /// reached (then `write` waits as the policy says).
  std::optional<result<write_report>> try_write(const entry& e) override {
    if (!inline_writes_ || !std::is_same_v<Fast, memory_store>) return std::nullopt;
    auto r = engine_->try_write(e);
    if (!r && r.error() == errc::queue_full) return std::nullopt;
    return r;
  }

  std::string mode() const override { return "write-behind"; }

  readiness ready() override {
    readiness out;
    auto durable = probe_store([&] { return durable_.read("storesync:readyz"); });
    auto fast = probe_store([&] { return fast_->read("storesync:readyz"); });
    const auto s = engine_->status();
    out.stores[durable_name_] = std::move(durable.entry);
    out.stores["journal"] = {{"state", s.accepting ? "up" : "stopped"}, {"bytes", s.journal_bytes}};
    if constexpr (shared_stream) {
      // The shared stream answers, and how much it holds.
      auto stream = engine_->journal().stream_stats();
      if (stream) out.stores["journal"].update(stream_json(stream.value()));
      else out.stores["journal"] = {{"state", "down"}, {"error", stream.error().message()}};
    }
    out.stores[fast_name_] = std::move(fast.entry);
    out.ready = durable.up && s.accepting && fast.up && out.stores["journal"]["state"] == "up";
    return out;
  }

  nlohmann::json status() override {
    const write_behind_status s = engine_->status();
    nlohmann::json out = {{"mode", mode()},
            {"durable", durable_name_},
            {"fast", fast_name_},
            {"accepting", s.accepting},
            {"pending", s.pending},
            {"pending_bytes", s.pending_bytes},
            {"in_flight", s.in_flight},
            {"in_flight_bytes", s.in_flight_bytes},
            {"journal_bytes", s.journal_bytes},
            {"acknowledged", s.acknowledged_total},
            {"flushed", s.flushed_total},
            {"coalesced", s.coalesced_total},
            {"dead_letters", s.dead_letters},
            {"stale_at_flush", s.stale_at_flush_total},
            {"taken_over", s.taken_over_total},
            {"version_floor_known", s.floor_known},
            {"max_pending", engine_->options().max_pending_entries},
            {"max_pending_bytes", engine_->options().max_pending_bytes},
            {"batch_size", s.batch_size},
            {"retry", {{"retries_total", s.retries_total},
                       {"failing_attempts", s.failing_attempts},
                       {"max_attempts", retry_max_attempts_},
                       {"outages_total", s.outages_total}}},
            {"lag_ms", s.lag.count()},
            {"last_error", s.last_error},
            {"last_error_at_ms", s.last_error.empty() ? nlohmann::json() : nlohmann::json(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                                          s.last_error_at.time_since_epoch())
                                                                          .count())}};
    if constexpr (std::is_same_v<Fast, memory_store>) {
      out["fast_bytes"] = fast_->bytes();
      out["fast_evicted"] = fast_->evicted();
    }
    if constexpr (shared_stream) {
      auto stream = engine_->journal().stream_stats();
      out["stream"] = stream ? stream_json(stream.value()) : nlohmann::json{{"error", stream.error().message()}};
    }
    return out;
  }

  std::string metrics() override {
    return engine_->metrics()->render_prometheus();
  }

  flush_outcome flush(std::chrono::milliseconds timeout) override {
    const auto flushed = engine_->flush(timeout);
    if (!flushed) return {false, {{"last_error", flushed.error().message()}}};
    const flush_report& f = flushed.value();
    return {f.complete, {{"remaining", f.remaining}, {"last_error", f.last_error}}};
  }

  result<std::string> dead_letters(std::size_t limit) override {
    BOOST_OUTCOME_TRY(auto letters, engine_->dead_letters(limit));
    std::string out = "[";
    for (const dead_letter& d : letters) {
      const nlohmann::json fields = {
          {"key", d.item.key},
          {"version", d.item.version},
          {"deleted", d.item.tombstone},
          {"error", d.error},
          {"failed_at_ms",
           std::chrono::duration_cast<std::chrono::milliseconds>(d.time.time_since_epoch()).count()}};
      // The value goes in as the text that was written, never re-serialised.
      std::string item = fields.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
      item.pop_back();
      item += R"(,"value":)";
      item += d.item.tombstone ? std::string_view("null") : std::string_view(d.item.value);
      item += '}';
      if (out.size() > 1) out += ',';
      out += item;
    }
    out += ']';
    return out;
  }

  result<nlohmann::json> retry_dead_letters() override {
    BOOST_OUTCOME_TRY(auto n, engine_->retry_dead_letters());
    return nlohmann::json{{"retried", n}};
  }

  /// Stops accepting, flushes until `timeout`, closes the journal.
  result<flush_report> stop(std::chrono::milliseconds timeout) { return engine_->stop(timeout); }

 private:
  write_behind_service(typename deferred_store<Durable>::opener open_durable,
                       typename deferred_store<Durable>::admission admits, std::string name,
                       std::unique_ptr<Fast> fast, std::string fast_name)
      : fast_(std::move(fast)),
        fast_name_(std::move(fast_name)),
        durable_(std::move(open_durable), std::move(admits)),
        durable_name_(std::move(name)) {}

  /// Whether the journal is a stream the servers share, with figures of its
  /// own (`redis_stream_journal::stream_stats`).
  static constexpr bool shared_stream = requires(const Journal& j) {
    { j.stream_stats().value().pending } -> std::convertible_to<std::uint64_t>;
  };

  template <class Stats>
  static nlohmann::json stream_json(const Stats& st) {
    return {{"stream_length", st.length},
            {"stream_pending", st.pending},
            {"stream_oldest_age_ms", st.oldest_age_ms},
            {"stream_consumers", st.consumers}};
  }

  /// Gauges of the shared stream, read from Redis whenever /metrics renders.
  void watch_stream() {
    const auto& m = engine_->metrics();
    auto length = m->gauge("journal_stream_length", "Records in the shared journal stream: what is still owed");
    auto pending = m->gauge("journal_stream_pending", "Records of the shared journal stream owned by a server");
    auto oldest = m->gauge("journal_stream_oldest_age_seconds", "Age of the oldest record in the shared journal stream");
    stream_gauges_ = m->on_render([this, length, pending, oldest] {
      if (auto st = engine_->journal().stream_stats()) {
        length.set(static_cast<double>(st.value().length));
        pending.set(static_cast<double>(st.value().pending));
        oldest.set(static_cast<double>(st.value().oldest_age_ms) / 1000);
      }
    });
  }

  /// Whether the fast store hands out versions ordered across the servers
  /// that share it.
  static constexpr bool issues_versions = requires(Fast& f, std::size_t n, version_type v) {
    { f.issue_versions(n, v) } -> std::same_as<result<version_type>>;
  };

  std::unique_ptr<Fast> fast_;
  std::string fast_name_;
  deferred_store<Durable> durable_;
  std::string durable_name_;
  std::unique_ptr<engine_type> engine_;
  bool inline_writes_ = false;
  std::uint32_t retry_max_attempts_ = 0;
  render_hook stream_gauges_;  // last: unregistered before the engine goes
};

}  // namespace storesync::server
