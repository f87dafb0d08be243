#include "storesync/store/detail/hash_blob.hpp"

#include <gtest/gtest.h>

namespace storesync::detail {
namespace {

TEST(HashBlob, IsHiThenLoBigEndianAndRoundTrips) {
  const content_hash h{.lo = 0x090a0b0c0d0e0f10ULL, .hi = 0x0102030405060708ULL};
  const auto blob = hash_to_blob(h);
  for (unsigned i = 0; i < 16; ++i) EXPECT_EQ(blob[i], i + 1) << "byte " << i;
  EXPECT_EQ(hash_from_blob(blob.data()), h);
  const content_hash content = hash_content(R"({"a":1})");
  EXPECT_EQ(hash_from_blob(hash_to_blob(content).data()), content);
}

}  // namespace
}  // namespace storesync::detail
