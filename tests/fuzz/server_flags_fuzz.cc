// The reference server's command line (reference_server/config.cpp): the
// input split on NUL bytes is argv. An argument "@mapping" or "@write-back"
// stands for a valid file of that kind (samples.hpp), so the flags that read
// files get a file to read. parse_config must not throw, and must either
// return a configuration that meets its own checks or exit (0 after help, 2
// after an error message).
#include <cstddef>
#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "reference_server/config.hpp"
#include "tests/fuzz/fuzz_support.hpp"
#include "tests/fuzz/samples.hpp"
#include "tests/printable.hpp"

namespace storesync::fuzz {
namespace {

std::string written(const std::string& dir, std::string_view name, std::string_view text) {
  const std::string path = dir + "/" + std::string(name);
  std::ofstream(path) << text;
  return path;
}

/// The argument `arg` stands for.
std::string argument(std::string_view arg) {
  static const std::string dir = fresh_dir("flags");
  static const std::string mapping = written(dir, "mapping.json", sample_table_mapping);
  static const std::string write_back = written(dir, "write-back.json", sample_write_back_config);
  if (arg == "@mapping") return mapping;
  if (arg == "@write-back") return write_back;
  return std::string(arg);
}

}  // namespace
}  // namespace storesync::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace storesync;
  using namespace storesync::fuzz;
  std::string_view rest = as_text(data, size);
  std::vector<std::string> args{"reference_server"};
  while (!rest.empty()) {
    const std::size_t nul = rest.find('\0');
    args.push_back(argument(rest.substr(0, nul)));
    rest.remove_prefix(nul == std::string_view::npos ? rest.size() : nul + 1);
  }
  std::vector<const char*> argv;
  for (const std::string& a : args) argv.push_back(a.c_str());
  argv.push_back(nullptr);

  std::ostringstream out, err;
  const server::parsed_config parsed = server::parse_config(static_cast<int>(args.size()), argv.data(), out, err);
  const std::string context = "\n  argv: " + testing::printable(as_text(data, size)) +
                              "\n  stderr: " + testing::printable(err.str());
  if (!parsed.config) {
    STORESYNC_FUZZ_CHECK((parsed.exit_code == 0 && !out.str().empty()) ||
                             (parsed.exit_code == 2 && err.str().starts_with("storesync: ")),
                         "exit " + std::to_string(parsed.exit_code) + " without help or a message" + context);
    return 0;
  }
  const server::server_config& c = *parsed.config;
  STORESYNC_FUZZ_CHECK(parsed.exit_code == 0 && err.str().empty(), "a config with an error" + context);
  STORESYNC_FUZZ_CHECK(c.mode == "write-behind" || c.mode == "direct" || c.mode == "dual-write", "mode" + context);
  STORESYNC_FUZZ_CHECK(c.durable.starts_with("sqlite:") || c.durable.starts_with("postgres"), "durable" + context);
  STORESYNC_FUZZ_CHECK(c.http.io_threads > 0 && c.http.worker_threads > 0, "threads" + context);
  STORESYNC_FUZZ_CHECK(c.write_behind.rules.max_depth >= 1 && c.write_behind.rules.max_depth <= max_supported_depth,
                       "max depth" + context);
  STORESYNC_FUZZ_CHECK(c.retry.base.count() > 0 && c.retry.cap >= c.retry.base && c.batch.validate(),
                       "retry or batch" + context);
  STORESYNC_FUZZ_CHECK(c.write_behind.max_pending_entries > 0 && c.write_behind.max_pending_bytes > 0,
                       "pending bounds" + context);
  return 0;
}
