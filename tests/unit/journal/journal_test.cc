#include "storesync/journal/journal.hpp"

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <span>

namespace storesync {
namespace {

// A minimal in-memory model, to show the concept is satisfiable without files.
struct toy_journal {
  result<lsn> append(std::span<const std::byte>) { return ++last; }
  template <class F>
  result<std::size_t> replay(lsn, F&&) { return std::size_t{0}; }
  result<void> commit_checkpoint(lsn) { return success(); }
  result<lsn> load_checkpoint() { return lsn{0}; }
  result<void> sync() { return success(); }
  std::uint64_t size_bytes() const noexcept { return 0; }
  result<void> close() { return success(); }
  lsn last = 0;
};

// size_bytes may throw: not a journal.
struct throwing_size : toy_journal {
  std::uint64_t size_bytes() const { return 0; }
};

// append returns a plain number: not a journal.
struct unchecked_append : toy_journal {
  lsn append(std::span<const std::byte>) { return 0; }
};

TEST(JournalConcept, ModelsAndNonModels) {
  static_assert(journal<toy_journal>);
  static_assert(!journal<throwing_size>);
  static_assert(!journal<unchecked_append>);
  static_assert(!journal<int>);
}

TEST(Durability, ParsesAndPrintsItsNames) {
  for (auto d : {durability::process, durability::interval, durability::always}) {
    auto parsed = parse_durability(to_string(d));
    ASSERT_TRUE(parsed);
    EXPECT_EQ(parsed.value(), d);
  }
  auto bad = parse_durability("sometimes");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error(), condition::invalid_input);
  EXPECT_NE(bad.error().message().find("sometimes"), std::string::npos);
}

}  // namespace
}  // namespace storesync
