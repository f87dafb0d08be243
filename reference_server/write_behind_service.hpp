#pragma once
// The `write-behind` mode (the default): acknowledgements come from a memory
// fast store and the file journal; the flusher drains to the durable store
// (SQLite or PostgreSQL). Status, metrics, flush and dead letters map onto
// write_behind's own.

#include <chrono>
#include <memory>
#include <string>
#include <utility>

#include "reference_server/record_service.hpp"
#include "storesync/store/memory_store.hpp"
#include "storesync/strategy/write_behind.hpp"

namespace storesync::server {

template <store Durable>
class write_behind_service final : public record_service {
 public:
  using engine_type = write_behind<memory_store, Durable, exponential_backoff, aimd_batch_sizer, block_for>;

  /// Takes ownership of the durable store; opens (and recovers) the journal.
  static result<std::unique_ptr<write_behind_service>> open(Durable durable, std::string durable_name,
                                                            write_behind_options options,
                                                            exponential_backoff retry, aimd_batch_sizer sizer,
                                                            block_for backpressure,
                                                            std::shared_ptr<metrics_registry> metrics) {
    std::unique_ptr<write_behind_service> s(new write_behind_service(std::move(durable), std::move(durable_name)));
    s->inline_writes_ = options.durability != durability::always;
    BOOST_OUTCOME_TRY(s->engine_, engine_type::open(s->fast_, s->durable_, std::move(options), std::move(retry),
                                                    std::move(sizer), std::move(backpressure), system_clock{},
                                                    std::move(metrics)));
    return s;
  }

  result<std::optional<entry>> get(std::string_view key) override { return engine_->read(key); }

  /// Acknowledged once in the journal; the durable store follows.
  result<write_report> write(std::span<const entry> batch) override { return engine_->write(batch); }

  /// A memory store, a journal append to the page cache and the pending map:
  /// no waiting, unless the journal fsyncs every record (`always`) or the
  /// pending bound is reached (then `write` waits as the policy says).
  std::optional<result<write_report>> try_write(const entry& e) override {
    if (!inline_writes_) return std::nullopt;
    auto r = engine_->try_write(e);
    if (!r && r.error() == errc::queue_full) return std::nullopt;
    return r;
  }

  std::string mode() const override { return "write-behind"; }

  readiness ready() override {
    readiness out;
    auto probe = durable_.read("storesync:readyz");
    const auto s = engine_->status();
    out.stores[durable_name_] = probe ? nlohmann::json{{"state", "up"}}
                                      : nlohmann::json{{"state", "down"}, {"error", probe.error().message()}};
    out.stores["journal"] = {{"state", s.accepting ? "up" : "stopped"}, {"bytes", s.journal_bytes}};
    out.stores["memory"] = {{"state", "up"}};
    out.ready = probe && s.accepting;
    return out;
  }

  nlohmann::json status() override {
    const write_behind_status s = engine_->status();
    return {{"mode", mode()},
            {"durable", durable_name_},
            {"accepting", s.accepting},
            {"pending", s.pending},
            {"pending_bytes", s.pending_bytes},
            {"in_flight", s.in_flight},
            {"journal_bytes", s.journal_bytes},
            {"acknowledged", s.acknowledged_total},
            {"flushed", s.flushed_total},
            {"coalesced", s.coalesced_total},
            {"dead_letters", s.dead_letters},
            {"batch_size", s.batch_size},
            {"lag_ms", s.lag.count()},
            {"last_error", s.last_error}};
  }

  std::string metrics() override {
    (void)engine_->status();  // brings the gauges up to date
    return engine_->metrics()->render_prometheus();
  }

  flush_outcome flush(std::chrono::milliseconds timeout) override {
    const flush_report f = engine_->flush(timeout);
    return {f.complete, {{"remaining", f.remaining}, {"last_error", f.last_error}}};
  }

  result<nlohmann::json> dead_letters(std::size_t limit) override {
    BOOST_OUTCOME_TRY(auto letters, engine_->dead_letters(limit));
    nlohmann::json out = nlohmann::json::array();
    for (const dead_letter& d : letters) {
      out.push_back({{"key", d.item.key},
                     {"version", d.item.version},
                     {"deleted", d.item.tombstone},
                     {"value", d.item.tombstone ? nlohmann::json(nullptr) : nlohmann::json::parse(d.item.value)},
                     {"error", d.error},
                     {"failed_at_ms", std::chrono::duration_cast<std::chrono::milliseconds>(
                                          d.time.time_since_epoch())
                                          .count()}});
    }
    return out;
  }

  result<nlohmann::json> retry_dead_letters() override {
    BOOST_OUTCOME_TRY(auto n, engine_->retry_dead_letters());
    return nlohmann::json{{"retried", n}};
  }

  /// Stops accepting, flushes until `timeout`, closes the journal.
  flush_report stop(std::chrono::milliseconds timeout) { return engine_->stop(timeout); }

 private:
  write_behind_service(Durable durable, std::string name)
      : durable_(std::move(durable)), durable_name_(std::move(name)) {}

  memory_store fast_;
  Durable durable_;
  std::string durable_name_;
  std::unique_ptr<engine_type> engine_;
  bool inline_writes_ = false;
};

}  // namespace storesync::server
