#pragma once
// What the HTTP layer needs from a deployment mode. The server speaks to this
// interface only, so write-behind, direct and dual-write modes plug in as new
// implementations without reshaping routes or sessions. Calls may block; the
// server runs them on its worker pool, never on an I/O thread.

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "storesync/core/store.hpp"

namespace storesync::server {

class record_service {
 public:
  virtual ~record_service() = default;
  /// The stored entry (tombstones included), or nothing.
  virtual result<std::optional<entry>> get(std::string_view key) = 0;
  /// Writes a batch under the version guard.
  virtual result<write_report> write(std::span<const entry> batch) = 0;
  /// A short name for logs and /v1/status ("memory", "write-behind", ...).
  virtual std::string mode() const = 0;
};

/// Serves straight from one store (the `direct` mode, and the embedded demo).
template <store S>
class store_service final : public record_service {
 public:
  store_service(std::shared_ptr<S> store, std::string mode)
      : store_(std::move(store)), mode_(std::move(mode)) {}

  result<std::optional<entry>> get(std::string_view key) override { return store_->read(key); }
  result<write_report> write(std::span<const entry> batch) override { return store_->write(batch); }
  std::string mode() const override { return mode_; }

 private:
  std::shared_ptr<S> store_;
  std::string mode_;
};

}  // namespace storesync::server
