// Every JSON configuration storesync reads, on any text: each ready
// policy's config (policy/config.hpp), journal options, a typed table
// mapping, and the write-back configuration of the server and
// storesync-writeback. None may throw; what a reader accepts it must
// accept again after writing it back out, unchanged (a config that does not
// survive its own JSON would change meaning when a tool saves it).
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "reference_server/write_back_config.hpp"
#include "storesync/journal/journal_options_json.hpp"
#include "storesync/policy/config.hpp"
#include "storesync/store/table_mapping_json.hpp"
#include "tests/fuzz/fuzz_support.hpp"
#include "tests/printable.hpp"

namespace storesync::fuzz {
namespace {

using json = nlohmann::json;

/// A refusal must be an `invalid_argument` error, not some other failure.
void check_refusal(const error& e, std::string_view what) {
  STORESYNC_FUZZ_CHECK(e == errc::invalid_argument,
                       std::string(what) + " refused with the wrong error: " + e.message());
}

template <class Config>
void check_policy(const json& j, std::string_view what) {
  auto c = load_config<Config>(j);
  if (!c) return check_refusal(c.error(), what);
  const json once = c.value();
  auto again = load_config<Config>(once);
  STORESYNC_FUZZ_CHECK(again && json(again.value()) == once,
                       std::string(what) + " does not survive its own JSON " + once.dump());
}

void check_journal_options(const json& j) {
  auto o = parse_journal_options(j);
  if (!o) return check_refusal(o.error(), "journal options");
  const json once = o.value();
  auto again = parse_journal_options(once);
  STORESYNC_FUZZ_CHECK(again && again.value() == o.value(), "journal options do not survive " + once.dump());
}

void check_table_mapping(const json& j) {
  auto t = parse_typed_table(j);
  if (!t) return check_refusal(t.error(), "table mapping");
  STORESYNC_FUZZ_CHECK(!t.value().table.empty() && !t.value().mapping.key.empty(),
                       "a table mapping without a table or a key was accepted");
}

void check_write_back_config(std::string_view text) {
  auto c = server::parse_write_back_config(text);
  if (!c) return check_refusal(c.error(), "write-back config");
  std::set<std::string> names;
  for (const auto& stage : c.value().stages)
    STORESYNC_FUZZ_CHECK(names.insert(stage.name).second, "two stages named " + stage.name + " were accepted");
  STORESYNC_FUZZ_CHECK(!names.empty() && c.value().batch.validate() && c.value().retry.validate(),
                       "a write-back config that its checks refuse was accepted");
}

}  // namespace
}  // namespace storesync::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace storesync;
  using namespace storesync::fuzz;
  const std::string_view text = as_text(data, size);

  if (auto c = load_config<exponential_backoff::config>(text); !c) check_refusal(c.error(), "policy text");
  check_write_back_config(text);

  const json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return 0;
  check_policy<no_retry::config>(j, "no_retry");
  check_policy<exponential_backoff::config>(j, "exponential_backoff");
  check_policy<retry_budget_config>(j, "retry_budget");
  check_policy<fixed_batch_sizer::config>(j, "fixed_batch_sizer");
  check_policy<aimd_batch_sizer::config>(j, "aimd_batch_sizer");
  check_policy<block_for::config>(j, "block_for");
  check_policy<reject::config>(j, "reject");
  check_policy<strict_consistency::config>(j, "consistency");
  check_journal_options(j);
  check_table_mapping(j);
  return 0;
}
