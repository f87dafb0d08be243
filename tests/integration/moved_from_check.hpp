#pragma once
// What every adapter's integration test checks of a moved-from store: each
// call that returns a `result` fails with `errc::stopped`, naming the store,
// instead of touching the state that moved away; and assigning a store to it
// makes it whole again.

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "storesync/core/store.hpp"

namespace storesync::testing {

/// Moves `a` into a new store and checks both. `name` is the store's type,
/// as its error messages name it.
template <class S>
void check_moved_from(S& a, std::string_view name) {
  S b = std::move(a);
  const std::vector<entry> batch = {entry::put("k", "1", 1)};
  ASSERT_TRUE(b.write(batch));
  ASSERT_TRUE(b.read("k").value());

  // NOLINTBEGIN(bugprone-use-after-move)
  const auto stopped = [&](const auto& r, std::string_view call) {
    ASSERT_FALSE(r) << call << " succeeded on a moved-from " << name;
    EXPECT_TRUE(r.error() == errc::stopped) << call << ": " << r.error().message();
    EXPECT_NE(r.error().message().find(name), std::string::npos) << r.error().message();
  };
  stopped(a.read("k"), "read");
  stopped(a.write(batch), "write");
  if constexpr (scannable_store<S>) stopped(a.scan({}, {}, 10), "scan");
  if constexpr (change_source<S>) stopped(a.changes_after({}, 10), "changes_after");
  if constexpr (checksum_store<S>) stopped(a.checksum({}), "checksum");
  if constexpr (versioned_store<S>) stopped(a.max_version(), "max_version");
  if constexpr (checkpoint_store<S>) {
    stopped(a.write_with_checkpoint(batch, {"cp", "1"}), "write_with_checkpoint");
    stopped(a.load_checkpoint("cp"), "load_checkpoint");
  }

  a = std::move(b);
  EXPECT_TRUE(a.read("k").value()) << "a store assigned to a moved-from one works again";
  // NOLINTEND(bugprone-use-after-move)
}

}  // namespace storesync::testing
