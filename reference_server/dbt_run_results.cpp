#include "reference_server/dbt_run_results.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <exception>
#include <initializer_list>
#include <new>
#include <optional>
#include <system_error>
#include <utility>

#include "storesync/core/detail/json_scan.hpp"
#include "storesync/core/detail/text.hpp"

// The text is walked with json_scan's helpers for scanned text rather than
// handed whole to nlohmann: nlohmann refuses a number beyond a double's range
// anywhere in a document (out_of_range.406), and dbt writes numbers in many
// members this reader never needs (elapsed_time, execution_time, timing,
// adapter_response). Only the few strings read are decoded.

namespace storesync::server {
namespace {

constexpr std::string_view schema_prefix = "https://schemas.getdbt.com/dbt/run-results/v";
constexpr std::string_view schema_suffix = ".json";
constexpr int oldest_schema = 4;
constexpr int newest_schema = 6;

/// A malformed file: `source` is the path, or "run_results.json".
error invalid(std::string_view source, std::string_view what) {
  std::string context(source);
  context += ": ";
  context += what;
  return error{errc::invalid_argument, std::move(context)};
}

/// What a value in scanned text is, from its first character.
std::string_view kind_of(std::string_view value) {
  switch (value.front()) {
    case '"': return "a string";
    case '{': return "an object";
    case '[': return "an array";
    case 't':
    case 'f': return "a boolean";
    case 'n': return "null";
    default: return "a number";
  }
}

/// The values of the members of `object` (scanned text) named in `names`,
/// in that order; absent ones empty. `repeated` gets a name given twice: a
/// file saying both "error" and "success" for one node is refused, never
/// read as whichever came last.
std::array<std::optional<std::string_view>, 3> pick(std::string_view object,
                                                    std::initializer_list<std::string_view> names,
                                                    std::string_view& repeated) {
  std::array<std::optional<std::string_view>, 3> values;
  std::string decoded;
  detail::json_members(object, [&](std::string_view literal, std::string_view value) {
    std::string_view name = literal.substr(1, literal.size() - 2);
    if (name.find('\\') != std::string_view::npos) {
      decoded = detail::json_unescape(literal);
      name = decoded;
    }
    std::size_t k = 0;
    for (const std::string_view wanted : names) {
      if (name == wanted) {
        if (values[k]) repeated = wanted;
        values[k] = value;
      }
      ++k;
    }
  });
  return values;
}

/// A string member that names something: present, a string, no control
/// character. `field` is its path for messages ("results[3].status").
result<std::string> name_like(std::string_view source, const std::string& field,
                              const std::optional<std::string_view>& value) {
  if (!value) return invalid(source, field + " is missing");
  if (value->front() != '"') return invalid(source, field + " is not a string (it is " + std::string(kind_of(*value)) + ")");
  std::string text = detail::json_unescape(*value);
  if (text.empty()) return invalid(source, field + " is empty");
  for (const char c : text)
    if (static_cast<unsigned char>(c) < 0x20)
      return invalid(source, field + " " + detail::quoted(text) + " has a control character");
  return text;
}

/// The N of ".../run-results/vN.json", or 0 when `url` is not of that form.
int schema_number(std::string_view url) {
  if (!url.starts_with(schema_prefix) || !url.ends_with(schema_suffix)) return 0;
  const std::string_view digits =
      url.substr(schema_prefix.size(), url.size() - schema_prefix.size() - schema_suffix.size());
  int n = 0;
  if (digits.empty() || digits.size() > 4 || digits.front() == '0') return 0;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
  return ec == std::errc{} && end == digits.data() + digits.size() ? n : 0;
}

result<int> schema_version_of(std::string_view source, std::string_view metadata) {
  std::string_view repeated;
  const auto picked = pick(metadata, {"dbt_schema_version"}, repeated);
  if (!repeated.empty()) return invalid(source, "metadata has more than one \"dbt_schema_version\"");
  BOOST_OUTCOME_TRY(auto url, name_like(source, "metadata.dbt_schema_version", picked[0]));
  const int version = schema_number(url);
  if (version == 0)
    return invalid(source, "metadata.dbt_schema_version " + detail::quoted(url) +
                               " is not a dbt run-results schema (" + std::string(schema_prefix) + "N.json)");
  if (version < oldest_schema || version > newest_schema)
    return invalid(source, "run-results schema v" + std::to_string(version) +
                               " is not supported (v4, v5 or v6 are): metadata.dbt_schema_version " +
                               detail::quoted(url));
  return version;
}

result<dbt_node_result> node_of(std::string_view source, std::size_t index, std::string_view element) {
  const std::string where = "results[" + std::to_string(index) + "]";
  if (element.front() != '{')
    return invalid(source, where + " is not an object (it is " + std::string(kind_of(element)) + ")");
  std::string_view repeated;
  const auto picked = pick(element, {"unique_id", "status", "message"}, repeated);
  if (!repeated.empty()) return invalid(source, where + " has more than one \"" + std::string(repeated) + "\"");
  dbt_node_result node;
  BOOST_OUTCOME_TRY(node.unique_id, name_like(source, where + ".unique_id", picked[0]));
  // <resource_type>.<package>.<name>, each part non-empty.
  const std::string& id = node.unique_id;
  const auto first_dot = id.find('.');
  const auto second_dot = first_dot == std::string::npos ? first_dot : id.find('.', first_dot + 1);
  if (first_dot == 0 || second_dot == std::string::npos || second_dot == first_dot + 1 || second_dot + 1 == id.size())
    return invalid(source, where + ".unique_id " + detail::quoted(id) + " is not <resource_type>.<package>.<name>");
  node.resource_type = id.substr(0, first_dot);
  node.name = id.substr(second_dot + 1);
  BOOST_OUTCOME_TRY(node.status, name_like(source, where + ".status", picked[1]));
  if (const auto& message = picked[2]; message && message->front() != 'n') {
    if (message->front() != '"')
      return invalid(source,
                     where + ".message is not a string or null (it is " + std::string(kind_of(*message)) + ")");
    node.message = detail::json_unescape(*message);
  }
  return node;
}

result<dbt_run_results> parse(std::string_view text, std::string_view source) {
  if (text.size() > max_dbt_run_results_size)
    return invalid(source, "is larger than 16 MiB (" + std::to_string(text.size()) + " bytes)");
  // storesync's scanner first: it never recurses and refuses invalid UTF-8,
  // so what follows walks a valid text of bounded depth.
  if (const auto fault = detail::scan_json(text, {max_dbt_run_results_depth, true, false}))
    return invalid(source, (fault.rule ? "nests deeper than " + std::to_string(max_dbt_run_results_depth) + " at byte "
                                       : "is not valid JSON at byte ") +
                               std::to_string(fault.at) + ": " + std::string(fault.what));
  const std::size_t at = detail::json_skip_space(text, 0);
  const std::string_view root = text.substr(at, detail::json_value_end(text, at) - at);
  if (root.front() != '{')
    return invalid(source, "is not a JSON object (it is " + std::string(kind_of(root)) + ")");

  std::string_view repeated;
  const auto top = pick(root, {"metadata", "results"}, repeated);
  if (!repeated.empty()) return invalid(source, "has more than one \"" + std::string(repeated) + "\"");
  const auto& metadata = top[0];
  const auto& results = top[1];
  if (!metadata) return invalid(source, "metadata is missing");
  if (metadata->front() != '{')
    return invalid(source, "metadata is not an object (it is " + std::string(kind_of(*metadata)) + ")");
  dbt_run_results out;
  BOOST_OUTCOME_TRY(out.schema_version, schema_version_of(source, *metadata));
  if (!results) return invalid(source, "results is missing");
  if (results->front() != '[')
    return invalid(source, "results is not an array (it is " + std::string(kind_of(*results)) + ")");

  std::optional<error> failure;
  std::size_t index = 0;
  detail::json_elements(*results, [&](std::string_view element) {
    if (failure) return;
    auto node = node_of(source, index++, element);
    if (node) out.results.push_back(std::move(node).value());
    else failure = node.error();
  });
  if (failure) return *failure;
  return out;
}

/// Runs `f` (which returns a result) and turns an exception into an error;
/// only allocation can throw here.
template <class F>
result<dbt_run_results> guarded(std::string_view source, F&& f) {
  try {
    return f();
  } catch (const std::bad_alloc&) {
    return error{errc::resource_exhausted};  // no context: building one allocates
  } catch (const std::exception& e) {
    return error{errc::backend_failure, std::string(source) + ": " + e.what()};
  }
}

/// Closes a descriptor on every path out.
struct fd_closer {
  int fd;
  ~fd_closer() { ::close(fd); }
};

}  // namespace

const dbt_node_result* dbt_run_results::model(std::string_view name_or_unique_id) const {
  // A unique_id first; a name only when no unique_id matches. More than one
  // match is no answer.
  const dbt_node_result* found = nullptr;
  std::size_t matches = 0;
  for (const auto& r : results)
    if (r.resource_type == "model" && r.unique_id == name_or_unique_id) {
      found = &r;
      ++matches;
    }
  if (matches == 0)
    for (const auto& r : results)
      if (r.resource_type == "model" && r.name == name_or_unique_id) {
        found = &r;
        ++matches;
      }
  return matches == 1 ? found : nullptr;
}

result<dbt_run_results> parse_dbt_run_results(std::string_view text) {
  return guarded("run_results.json", [&] { return parse(text, "run_results.json"); });
}

result<dbt_run_results> load_dbt_run_results(const std::string& path) {
  return guarded(path, [&]() -> result<dbt_run_results> {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno_error("open " + path);
    const fd_closer closer{fd};
    std::string text;
    struct stat st {};
    if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0)
      text.reserve(std::min<std::size_t>(static_cast<std::size_t>(st.st_size), max_dbt_run_results_size + 1));
    // Read at most one byte past the limit: a larger file is refused without
    // holding it (and a FIFO works as well as a file).
    std::array<char, 64 * 1024> buffer;
    while (text.size() <= max_dbt_run_results_size) {
      const ::ssize_t n = ::read(fd, buffer.data(), buffer.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        return errno_error("read " + path);
      }
      if (n == 0) break;
      text.append(buffer.data(), static_cast<std::size_t>(n));
    }
    if (text.size() > max_dbt_run_results_size)
      return invalid(path, "is larger than 16 MiB");
    return parse(text, path);
  });
}

}  // namespace storesync::server
