#pragma once
// The `direct` mode: every write goes synchronously to one durable store.
// The baseline users compare write-behind with; nothing is ever pending, so
// flush is immediate and there are no dead letters.

#include <atomic>
#include <memory>
#include <string>
#include <utility>

#include "reference_server/record_service.hpp"
#include "storesync/core/version_clock.hpp"

namespace storesync::server {

template <versioned_store S>
class direct_service final : public record_service {
 public:
  /// Reads the durable store's largest version, so that server-assigned
  /// versions start above it: fails (naming the store) when it is down.
  static result<std::unique_ptr<direct_service>> open(std::shared_ptr<S> durable, std::string durable_name,
                                                      value_rules door) {
    auto max = durable->max_version();
    if (!max)
      return error{max.error().code(), "direct mode needs the durable store (" + durable_name +
                                           ") at start-up: " + max.error().message()};
    return std::unique_ptr<direct_service>(
        new direct_service(std::move(durable), std::move(durable_name), door, max.value()));
  }

  result<std::optional<entry>> get(std::string_view key) override { return durable_->read(key); }

  result<write_report> write(std::span<const entry> batch) override {
    BOOST_OUTCOME_TRY(validate_batch(batch, rules_));
    auto r = durable_->write(batch);
    (r ? written_ : failed_).fetch_add(r ? batch.size() : 1, std::memory_order_relaxed);
    if (r)
      for (const entry& e : batch) versions_.observe(e.version);
    return r;
  }

  value_rules rules() const override { return rules_; }
  result<version_type> next_versions(std::size_t count) override { return versions_.reserve(count); }

  std::string mode() const override { return "direct"; }

  readiness ready() override {
    auto durable = probe_store([&] { return durable_->read("storesync:readyz"); });
    readiness out;
    out.ready = durable.up;
    out.stores[durable_name_] = std::move(durable.entry);
    return out;
  }

  nlohmann::json status() override {
    return {{"mode", mode()},
            {"durable", durable_name_},
            {"written", written_.load()},
            {"failed_writes", failed_.load()},
            {"pending", 0},
            {"in_flight", 0},
            {"dead_letters", 0}};
  }

  std::string metrics() override {
    return "# HELP storesync_direct_written_total Entries written to the durable store.\n"
           "# TYPE storesync_direct_written_total counter\n"
           "storesync_direct_written_total " + std::to_string(written_.load()) + "\n"
           "# HELP storesync_direct_failed_writes_total Failed write calls.\n"
           "# TYPE storesync_direct_failed_writes_total counter\n"
           "storesync_direct_failed_writes_total " + std::to_string(failed_.load()) + "\n";
  }

  flush_outcome flush(std::chrono::milliseconds) override {
    return {true, {{"pending", 0}}};
  }

  result<std::string> dead_letters(std::size_t) override { return std::string("[]"); }
  result<nlohmann::json> retry_dead_letters() override { return nlohmann::json{{"retried", 0}}; }

 private:
  direct_service(std::shared_ptr<S> durable, std::string durable_name, value_rules door, version_type floor)
      : durable_(std::move(durable)),
        durable_name_(std::move(durable_name)),
        rules_(stricter(door, rules_of(*durable_))),
        versions_(floor) {}

  std::shared_ptr<S> durable_;
  std::string durable_name_;
  const value_rules rules_;
  version_clock versions_;
  std::atomic<std::uint64_t> written_{0};
  std::atomic<std::uint64_t> failed_{0};
};

}  // namespace storesync::server
