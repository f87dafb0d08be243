// The store conformance suite on memory_store and on faulty_store<memory_store>
// with no faults configured (the decorator must forward every tier unchanged),
// and on memory_store again through the key_of and value_of hooks: memory_store
// holds any key and value, so this checks that the suite applies the hooks
// everywhere (a key or value it misses is a mismatch).
#include "storesync/testing/store_conformance.hpp"

#include <memory>
#include <string>
#include <string_view>

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

// As a typed table would: keys under a tenant prefix (injective, order-preserving),
// values wrapped in an object.
struct mapped_memory_store_factory {
  static constexpr bool transactional = true;
  std::unique_ptr<storesync::memory_store> make() { return std::make_unique<storesync::memory_store>(); }
  static std::string key_of(std::string_view plain) { return "tenant " + std::string(plain); }
  static std::string value_of(std::string_view json) { return R"({"doc":)" + std::string(json) + "}"; }
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
INSTANTIATE_TYPED_TEST_SUITE_P(MemoryMapped, StoreConformance, ::testing::Types<mapped_memory_store_factory>);
}  // namespace storesync::testing
