// The store conformance suite on memory_store and on faulty_store<memory_store>
// with no faults configured (the decorator must forward every tier unchanged).
#include "storesync/testing/store_conformance.hpp"

#include <memory>

#include "storesync/store/faulty_store.hpp"
#include "storesync/store/memory_store.hpp"

namespace {

struct memory_store_factory {
  static constexpr bool transactional = true;
  std::unique_ptr<storesync::memory_store> make() { return std::make_unique<storesync::memory_store>(); }
};

struct faulty_memory_store_factory {
  static constexpr bool transactional = true;
  std::unique_ptr<storesync::faulty_store<storesync::memory_store>> make() {
    return std::make_unique<storesync::faulty_store<storesync::memory_store>>();
  }
};

static_assert(storesync::checkpoint_store<storesync::faulty_store<storesync::memory_store>>);
static_assert(storesync::change_source<storesync::faulty_store<storesync::memory_store>>);
static_assert(storesync::metadata_store<storesync::faulty_store<storesync::memory_store>>);
static_assert(storesync::restorable_store<storesync::faulty_store<storesync::memory_store>>);
static_assert(storesync::partitionable_store<storesync::faulty_store<storesync::memory_store>>);

}  // namespace

namespace storesync::testing {
using Factories = ::testing::Types<memory_store_factory, faulty_memory_store_factory>;
INSTANTIATE_TYPED_TEST_SUITE_P(Memory, StoreConformance, Factories);
}  // namespace storesync::testing
