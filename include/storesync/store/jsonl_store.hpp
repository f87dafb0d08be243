#pragma once
/// \file
/// JSON Lines files as a write-back sink (`jsonl_store`) and as a change
/// source (`jsonl_source`): an export directory that other tools read line
/// by line, written so that no reader ever sees half a batch.
///
/// \code
///   BOOST_OUTCOME_TRY(auto out, storesync::jsonl_store::open({.directory = "/data/export"}));
///   BOOST_OUTCOME_TRY(out.write_with_checkpoint(batch, {"write_back/scores", mark}));
///   // /data/export/segment-00000000000000000001.jsonl now holds the batch:
///   // {"key":"user:1","version":7,"hash":"…","value":{"name":"Ada"}}
///   // {"checkpoint":{"name":"write_back/scores","value":"v1:7:6:user:1"}}
///
///   BOOST_OUTCOME_TRY(auto in, storesync::jsonl_source::open({.directory = "/data/export"}));
///   BOOST_OUTCOME_TRY(auto page, in.changes_after({}, 1000));   // version = byte position
/// \endcode
///
/// **`jsonl_store`** keeps each write as a new *segment*,
/// `segment-<20-digit sequence>.jsonl`, holding one line per entry the
/// version guard applied:
/// - `{"key":K,"version":N,"hash":H,"value":V}` for a value;
/// - `{"key":K,"version":N,"hash":H,"deleted":true}` for a tombstone.
///
/// `hash` is the 32-hex-digit content hash. A write with a checkpoint ends
/// its segment with `{"checkpoint":{"name":...,"value":...}}`, so the batch
/// and its checkpoint appear together. A segment is written as
/// `<name>.tmp`, fsynced, renamed into place, and the directory fsynced. A
/// crash leaves at most a `.tmp` file, which `open` removes, never a partial
/// segment. A write that applies nothing and has no checkpoint writes no
/// segment. A value holding a raw line break is refused (`admits`), never
/// reflowed: what is read back is what was written.
///
/// `open` reads every segment to rebuild an index: per key, its version,
/// hash, deleted flag and place. That is what `read`, `lookup` and the
/// version guard use, so memory grows with the number of distinct keys, not
/// with what was written. One `jsonl_store` writes a directory at a time
/// (an exclusive `flock` on `.storesync.lock`; a second open fails with
/// `errc::busy`). A segment that does not parse fails `open` with
/// `errc::corrupt`, naming the file and the byte. The store models
/// `checkpoint_store` and `metadata_store`. It suits exports of a size an
/// index fits in memory; a database sink suits more.
///
/// **`jsonl_source`** reads the `*.jsonl` files of a directory in name order,
/// as one append-only log. Each line is `{"key":K,"value":V}` or
/// `{"key":K,"deleted":true}`. Members `version` and `hash` (as
/// `jsonl_store` writes them) are allowed and not used, and checkpoint lines
/// are skipped. An entry's version is its *byte position*, (file ordinal + 1)
/// × 2^40 + the offset just past its line, so the watermark is a byte offset
/// and a later line for a key is newer. Files must only grow, and new files
/// must sort after the existing ones (a sequence or a timestamp in the
/// name). The last line of the last file is not read until it has its
/// newline (a writer may be appending); in an earlier file it is complete. A
/// line that does not parse fails the read with `errc::corrupt`, naming the
/// file and its byte offset; a line longer than `max_line` bytes likewise.
///
/// Thread safety: every member of both is safe to call from many threads
/// (one mutex each).

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <utility>
#include <vector>

#include "storesync/core/detail/json_scan.hpp"
#include "storesync/core/detail/text.hpp"
#include "storesync/core/entry.hpp"
#include "storesync/core/lookup.hpp"
#include "storesync/core/result.hpp"
#include "storesync/core/store.hpp"
#include "storesync/core/value_rules.hpp"
#include "storesync/journal/detail/segment_file.hpp"
#include "storesync/store/detail/typed_value.hpp"

namespace storesync {

namespace detail {

inline constexpr std::string_view jsonl_segment_prefix = "segment-";
inline constexpr std::string_view jsonl_suffix = ".jsonl";

inline std::string hash_hex(const content_hash& h) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out(32, '0');
  for (int i = 0; i < 16; ++i) {
    out[15 - i] = digits[(h.hi >> (4 * i)) & 15];
    out[31 - i] = digits[(h.lo >> (4 * i)) & 15];
  }
  return out;
}

inline std::optional<content_hash> hash_from_hex(std::string_view s) {
  if (s.size() != 32) return std::nullopt;
  content_hash h;
  for (std::size_t i = 0; i < 32; ++i) {
    const int d = json_scan_impl::hex_value(s[i]);
    if (d < 0) return std::nullopt;
    (i < 16 ? h.hi : h.lo) = ((i < 16 ? h.hi : h.lo) << 4) | static_cast<std::uint64_t>(d);
  }
  return h;
}

/// One line of a JSONL file, taken apart: an entry, a checkpoint, or what
/// is wrong with it.
struct jsonl_line {
  std::optional<entry> item;
  std::optional<checkpoint> marker;
  /// Members `version` and `hash` were present (`jsonl_store`'s form).
  bool stored_form = false;
  std::string fault;
};

/// Parses one line (without its newline) of at most `max_depth` nesting.
inline jsonl_line parse_jsonl_line(std::string_view line, std::size_t max_depth) {
  jsonl_line out;
  if (const auto f = scan_json(line, {max_depth, false, false})) {
    out.fault = std::string(f.what) + " at byte " + std::to_string(f.at) + " of the line";
    return out;
  }
  const std::size_t open = json_skip_space(line, 0);
  if (line[open] != '{') {
    out.fault = "a line must be a JSON object";
    return out;
  }
  std::optional<std::string> key;
  std::optional<std::string_view> value, marker;
  std::optional<std::int64_t> version;
  std::optional<content_hash> hash;
  bool deleted = false;
  json_members(line.substr(open), [&](std::string_view name_literal, std::string_view v) {
    if (!out.fault.empty()) return;
    const std::string name = json_unescape(name_literal);
    if (name == "key" && v.starts_with('"')) key = json_unescape(v);
    else if (name == "value") value = v;
    else if (name == "deleted" && (v == "true" || v == "false")) deleted = v == "true";
    else if (name == "checkpoint" && v.starts_with('{')) marker = v;
    else if (name == "version") {
      std::int64_t n = 0;
      const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
      if (ec != std::errc{} || end != v.data() + v.size()) out.fault = "\"version\" is not an integer";
      else version = n;
    } else if (name == "hash" && v.starts_with('"')) {
      hash = hash_from_hex(json_unescape(v));
      if (!hash) out.fault = "\"hash\" is not 32 hex digits";
    } else {
      out.fault = "unexpected member " + detail::quoted(name) + " (or a value of the wrong type)";
    }
  });
  if (!out.fault.empty()) return out;
  if (marker) {
    checkpoint cp;
    json_members(*marker, [&](std::string_view n, std::string_view v) {
      const std::string name = json_unescape(n);
      if (name == "name" && v.starts_with('"')) cp.name = json_unescape(v);
      else if (name == "value" && v.starts_with('"')) cp.value = json_unescape(v);
    });
    if (cp.name.empty()) out.fault = "a checkpoint line without a name";
    else out.marker = std::move(cp);
    return out;
  }
  if (!key) {
    out.fault = "no \"key\" string";
    return out;
  }
  if (deleted == value.has_value()) {
    out.fault = "a line holds either a \"value\" or \"deleted\": true";
    return out;
  }
  entry e = deleted ? entry::erase(std::move(*key), version.value_or(0))
                    : entry::put(std::move(*key), std::string(*value), version.value_or(0));
  if (hash && !deleted) e.hash = *hash;
  out.stored_form = version.has_value() && (deleted || hash.has_value());
  out.item = std::move(e);
  return out;
}

/// The lines of `text` that end in a newline, each with the offset of its
/// first byte and the offset just past its newline.
template <class F>
void for_each_jsonl_line(std::string_view text, F&& f) {
  std::size_t at = 0;
  while (at < text.size()) {
    const std::size_t nl = text.find('\n', at);
    if (nl == std::string_view::npos) return;
    if (!f(text.substr(at, nl - at), at, nl + 1)) return;
    at = nl + 1;
  }
}

inline result<std::string> read_whole_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return errno_error("open " + path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return errno_error("read " + path);
  return text;
}

}  // namespace detail

/// Where a `jsonl_store` keeps its segments.
struct jsonl_store_options {
  /// Created when missing.
  std::string directory;
  /// Deepest nesting of a value.
  std::size_t max_depth = default_max_depth;
};

class jsonl_store {
 public:
  /// Opens (creating) the directory, removes what a crash left (`*.tmp`)
  /// and indexes every segment. `errc::corrupt` naming the file and byte
  /// for a segment that does not parse.
  static result<jsonl_store> open(jsonl_store_options options) {
    std::error_code ec;
    std::filesystem::create_directories(options.directory, ec);
    if (ec) return error{ec, "creating " + options.directory};
    auto st = std::make_unique<state>(std::move(options));
    // One writer per directory: segment numbers are only learnt at open.
    const std::string lock_path = st->options.directory + "/.storesync.lock";
    BOOST_OUTCOME_TRY(st->lock, detail::open_file(lock_path, O_RDWR | O_CREAT));
    if (::flock(st->lock.get(), LOCK_EX | LOCK_NB) < 0)
      return errno == EWOULDBLOCK ? error{errc::busy, st->options.directory + " is open for writing elsewhere"}
                                  : errno_error("lock " + lock_path);
    BOOST_OUTCOME_TRY(st->load());
    return jsonl_store(std::move(st));
  }

  jsonl_store(jsonl_store&&) noexcept = default;
  jsonl_store& operator=(jsonl_store&&) noexcept = default;

  value_rules rules() const noexcept { return {.max_depth = state_->options.max_depth}; }

  /// One entry is one line: a value with a raw line break (JSON whitespace
  /// a pretty-printer puts between tokens) is refused, never reflowed.
  result<void> admits(const entry& e) const {
    if (e.value.find_first_of("\r\n") != std::string::npos)
      return error{errc::invalid_value, "key " + detail::quoted(e.key) +
                                            ": a JSON Lines file holds a value on one line; this one has a raw line break"};
    return success();
  }

  result<std::optional<entry>> read(std::string_view key) {
    std::lock_guard lock(state_->mutex);
    return state_->read(key);
  }

  result<write_report> write(std::span<const entry> batch) {
    std::lock_guard lock(state_->mutex);
    return state_->write(batch, nullptr);
  }

  result<write_report> write_with_checkpoint(std::span<const entry> batch, const checkpoint& cp) {
    std::lock_guard lock(state_->mutex);
    return state_->write(batch, &cp);
  }

  result<std::optional<std::string>> load_checkpoint(std::string_view name) const {
    std::lock_guard lock(state_->mutex);
    const auto it = state_->checkpoints.find(std::string(name));
    if (it == state_->checkpoints.end()) return std::optional<std::string>{};
    return std::optional<std::string>{it->second};
  }

  result<std::vector<std::optional<entry_meta>>> lookup(std::span<const std::string_view> keys) const {
    BOOST_OUTCOME_TRY(detail::check_lookup_keys(keys));
    std::lock_guard lock(state_->mutex);
    std::vector<std::optional<entry_meta>> out(keys.size());
    for (std::size_t i = 0; i < keys.size(); ++i)
      if (const auto it = state_->index.find(std::string(keys[i])); it != state_->index.end()) out[i] = it->second.meta;
    return out;
  }

  /// Segments written so far.
  std::uint64_t segments() const {
    std::lock_guard lock(state_->mutex);
    return state_->next_segment - 1;
  }

 private:
  struct place {
    entry_meta meta;
    std::uint64_t segment = 0;
    std::uint64_t offset = 0;
  };

  struct state {
    explicit state(jsonl_store_options o) : options(std::move(o)) {}

    std::string segment_path(std::uint64_t n) const {
      std::string name = std::string(detail::jsonl_segment_prefix);
      detail::append_padded(name, static_cast<std::int64_t>(n), 20);
      return options.directory + "/" + name + std::string(detail::jsonl_suffix);
    }

    result<void> load() {
      std::vector<std::pair<std::uint64_t, std::string>> found;
      std::error_code ec;
      for (const auto& f : std::filesystem::directory_iterator(options.directory, ec)) {
        const std::string name = f.path().filename().string();
        if (name.starts_with(detail::jsonl_segment_prefix) && name.ends_with(std::string(detail::jsonl_suffix) + ".tmp")) {
          std::error_code ignored;
          std::filesystem::remove(f.path(), ignored);  // a write a crash cut short
          continue;
        }
        if (!name.starts_with(detail::jsonl_segment_prefix) || !name.ends_with(detail::jsonl_suffix)) continue;
        const std::string_view digits = std::string_view(name).substr(
            detail::jsonl_segment_prefix.size(),
            name.size() - detail::jsonl_segment_prefix.size() - detail::jsonl_suffix.size());
        std::uint64_t n = 0;
        const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
        if (ec != std::errc{} || end != digits.data() + digits.size() || n == 0) continue;
        found.emplace_back(n, f.path().string());
      }
      if (ec) return error{ec, "listing " + options.directory};
      std::sort(found.begin(), found.end());
      for (const auto& [n, path] : found) {
        BOOST_OUTCOME_TRY(auto text, detail::read_whole_file(path));
        if (!text.empty() && text.back() != '\n')
          return error{errc::corrupt, path + ": the last line has no newline (a segment is written whole)"};
        std::optional<error> bad;
        // `n` and `path` by init-capture: clang before 16 cannot capture a
        // structured binding.
        detail::for_each_jsonl_line(text, [&, &n = n, &path = path](std::string_view line, std::size_t at, std::size_t) {
          auto parsed = detail::parse_jsonl_line(line, options.max_depth);
          if (!parsed.fault.empty() || (parsed.item && !parsed.stored_form)) {
            bad = error{errc::corrupt, path + " at byte " + std::to_string(at) + ": " +
                                           (parsed.fault.empty() ? "a line without version and hash" : parsed.fault)};
            return false;
          }
          if (parsed.marker) checkpoints[parsed.marker->name] = parsed.marker->value;
          else index[parsed.item->key] = {meta_of(*parsed.item), n, at};
          return true;
        });
        if (bad) return *bad;
        next_segment = n + 1;
      }
      return success();
    }

    result<std::optional<entry>> read(std::string_view key) {
      const auto it = index.find(std::string(key));
      if (it == index.end()) return std::optional<entry>{};
      const std::string path = segment_path(it->second.segment);
      std::ifstream in(path, std::ios::binary);
      in.seekg(static_cast<std::streamoff>(it->second.offset));
      std::string line;
      if (!in || !std::getline(in, line)) return errno_error("read " + path);
      auto parsed = detail::parse_jsonl_line(line, options.max_depth);
      if (!parsed.item || parsed.item->key != key)
        return error{errc::corrupt, path + " at byte " + std::to_string(it->second.offset) + ": not the line of key " +
                                        detail::quoted(key)};
      return std::optional<entry>{std::move(*parsed.item)};
    }

    result<write_report> write(std::span<const entry> batch, const checkpoint* cp) {
      BOOST_OUTCOME_TRY(validate_batch(batch, {.max_depth = options.max_depth}));
      for (const entry& e : batch)
        if (e.value.find_first_of("\r\n") != std::string::npos)
          return error{errc::invalid_value, "key " + detail::quoted(e.key) + ": a raw line break in the value"};
      write_report report;
      // The guard against the index and the batch itself (newest of
      // duplicates wins, in batch order).
      std::unordered_map<std::string_view, const entry*> winners;
      std::vector<const entry*> applied;
      for (const entry& e : batch) {
        const entry_meta* held = nullptr;
        if (const auto w = winners.find(e.key); w != winners.end()) {
          if (e.version > w->second->version) {
            w->second = &e;
            report.applied++;
          } else {
            report.count(e.version == w->second->version ? guard_outcome::unchanged : guard_outcome::stale);
          }
          continue;
        }
        if (const auto it = index.find(e.key); it != index.end()) held = &it->second.meta;
        const guard_outcome o = !held || e.version > held->version ? guard_outcome::applied
                                : e.version == held->version      ? guard_outcome::unchanged
                                                                  : guard_outcome::stale;
        report.count(o);
        if (o == guard_outcome::applied) winners.emplace(e.key, &e);
      }
      for (const entry& e : batch)
        if (const auto w = winners.find(e.key); w != winners.end() && w->second == &e) applied.push_back(&e);
      if (applied.empty() && cp == nullptr) return report;

      std::string text;
      std::vector<std::pair<const entry*, std::uint64_t>> offsets;
      for (const entry* e : applied) {
        offsets.emplace_back(e, text.size());
        text += "{\"key\":";
        detail::append_json_string(text, e->key);
        text += ",\"version\":" + std::to_string(e->version) + ",\"hash\":\"" + detail::hash_hex(e->hash) + "\"";
        if (e->tombstone) text += ",\"deleted\":true}\n";
        else text += ",\"value\":" + e->value + "}\n";
      }
      if (cp != nullptr) {
        if (detail::invalid_utf8_at(cp->name) != std::string_view::npos ||
            detail::invalid_utf8_at(cp->value) != std::string_view::npos)
          return error{errc::invalid_argument, "checkpoint " + detail::quoted(cp->name) + ": not valid UTF-8"};
        text += "{\"checkpoint\":{\"name\":";
        detail::append_json_string(text, cp->name);
        text += ",\"value\":";
        detail::append_json_string(text, cp->value);
        text += "}}\n";
      }
      const std::uint64_t n = next_segment;
      const std::string path = segment_path(n);
      const auto name = std::string_view(path).substr(options.directory.size() + 1);
      BOOST_OUTCOME_TRY(detail::replace_file(
          options.directory, name, std::as_bytes(std::span<const char>(text.data(), text.size()))));
      ++next_segment;
      for (const auto& [e, at] : offsets) index[e->key] = {meta_of(*e), n, at};
      if (cp != nullptr) checkpoints[cp->name] = cp->value;
      return report;
    }

    jsonl_store_options options;
    detail::unique_fd lock;
    mutable std::mutex mutex;
    std::unordered_map<std::string, place> index;
    std::map<std::string, std::string> checkpoints;
    std::uint64_t next_segment = 1;
  };

  explicit jsonl_store(std::unique_ptr<state> s) noexcept : state_(std::move(s)) {}

  std::unique_ptr<state> state_;
};

static_assert(checkpoint_store<jsonl_store>);
static_assert(metadata_store<jsonl_store>);

/// Where a `jsonl_source` reads.
struct jsonl_source_options {
  std::string directory;
  /// Longest line read, in bytes.
  std::size_t max_line = 16 * 1024 * 1024;
  std::size_t max_depth = default_max_depth;
};

class jsonl_source {
 public:
  /// Bits of a position that hold the byte offset within a file.
  static constexpr int offset_bits = 40;

  static result<jsonl_source> open(jsonl_source_options options) {
    std::error_code ec;
    if (!std::filesystem::is_directory(options.directory, ec))
      return error{errc::invalid_argument, "jsonl_source: " + detail::quoted(options.directory) + " is not a directory"};
    return jsonl_source(std::make_unique<state>(std::move(options)));
  }

  jsonl_source(jsonl_source&&) noexcept = default;
  jsonl_source& operator=(jsonl_source&&) noexcept = default;

  /// The entries after byte position `mark.version`, in file order, at most
  /// `limit` (`mark.key` is not used: positions are unique).
  result<std::vector<entry>> changes_after(const watermark& mark, std::size_t limit) {
    std::lock_guard lock(state_->mutex);
    return state_->next(mark, limit);
  }

 private:
  struct state {
    explicit state(jsonl_source_options o) : options(std::move(o)) {}

    result<std::vector<std::string>> files() const {
      std::vector<std::string> out;
      std::error_code ec;
      for (const auto& f : std::filesystem::directory_iterator(options.directory, ec)) {
        const std::string name = f.path().filename().string();
        if (name.ends_with(detail::jsonl_suffix) && f.is_regular_file()) out.push_back(name);
      }
      if (ec) return error{ec, "listing " + options.directory};
      std::sort(out.begin(), out.end());
      return out;
    }

    result<std::vector<entry>> next(const watermark& mark, std::size_t limit) {
      std::vector<entry> out;
      if (limit == 0) return out;
      BOOST_OUTCOME_TRY(auto names, files());
      const std::uint64_t mask = (std::uint64_t{1} << offset_bits) - 1;
      // A position before the first file's (a watermark moved back) starts
      // at the beginning.
      const auto from = static_cast<std::uint64_t>(std::max<version_type>(0, mark.version));
      const bool at_start = (from >> offset_bits) == 0;
      std::size_t file = at_start ? 0 : static_cast<std::size_t>((from >> offset_bits) - 1);
      std::uint64_t offset = at_start ? 0 : from & mask;
      for (; file < names.size() && out.size() < limit; ++file, offset = 0) {
        const std::string path = options.directory + "/" + names[file];
        std::ifstream in(path, std::ios::binary);
        if (!in) return errno_error("open " + path);
        if (offset > 0) {
          // A position inside a line (not just past a newline) moves on to
          // the next line.
          in.seekg(static_cast<std::streamoff>(offset - 1));
          char before = '\n';
          if (in.get(before) && before != '\n') {
            std::string rest;
            if (!std::getline(in, rest)) continue;  // that line ends the file: on to the next
            offset += rest.size() + 1;
          }
        }
        in.seekg(static_cast<std::streamoff>(offset));
        const bool last_file = file + 1 == names.size();
        std::string line;
        while (out.size() < limit) {
          const std::uint64_t at = offset;
          line.clear();
          // One line, at most max_line bytes, only if it ends in a newline.
          bool ended = false;
          for (char c; in.get(c);) {
            if (c == '\n') {
              ended = true;
              break;
            }
            if (line.size() == options.max_line)
              return error{errc::corrupt, path + " at byte " + std::to_string(at) + ": a line longer than " +
                                              std::to_string(options.max_line) + " bytes"};
            line += c;
          }
          // At the end: a last line without its newline is still being
          // written in the last file, and complete in an earlier one.
          if (!ended && (last_file || line.empty())) break;
          offset = at + line.size() + (ended ? 1 : 0);
          if (offset > mask)
            return error{errc::corrupt, path + ": larger than a position can address (2^40 bytes)"};
          if (json_is_blank(line)) continue;
          auto parsed = detail::parse_jsonl_line(line, options.max_depth);
          if (!parsed.fault.empty())
            return error{errc::corrupt, path + " at byte " + std::to_string(at) + ": " + parsed.fault};
          if (parsed.marker) continue;
          entry e = std::move(*parsed.item);
          e.version = static_cast<version_type>(((static_cast<std::uint64_t>(file) + 1) << offset_bits) | offset);
          if (!e.tombstone) e.hash = hash_content(e.value);
          out.push_back(std::move(e));
        }
      }
      return out;
    }

    static bool json_is_blank(std::string_view line) { return detail::json_skip_space(line, 0) == line.size(); }

    jsonl_source_options options;
    std::mutex mutex;
  };

  explicit jsonl_source(std::unique_ptr<state> s) noexcept : state_(std::move(s)) {}

  std::unique_ptr<state> state_;
};

static_assert(change_source<jsonl_source>);

}  // namespace storesync
