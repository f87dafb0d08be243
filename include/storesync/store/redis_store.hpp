#pragma once
/// \file
/// `redis_store`: entries in Redis (6.2 or later), the fast store most
/// write-behind deployments already run, shared by every process that
/// connects to it.
///
/// \code
///   BOOST_OUTCOME_TRY(auto cache, storesync::redis_store::open({.url = "redis://127.0.0.1:6379/0"}));
///   auto e = storesync::entry::put("user:1", R"({"name":"Ada"})", 7);
///   BOOST_OUTCOME_TRY(auto report, cache.write(std::span(&e, 1)));   // applied: 1
/// \endcode
///
/// **Tiers**: `store`, `restorable_store`, `versioned_store`,
/// `scannable_store`, `change_source`, `metadata_store`, `checkpoint_store`
/// and `partitionable_store`. Not `checksum_store`: Redis cannot sum 64-bit row
/// hashes exactly (Lua has only doubles), so a range checksum is summed
/// client-side over `scan` pages, as for any scannable store (the
/// reconciler's fallback, `checksum_of` in the conformance suite).
///
/// **The version guard runs inside Redis**: each batch is one Lua script,
/// loaded once and called by its SHA, that compares and writes every entry
/// of the batch atomically (no other command runs in between). Writers in
/// several processes therefore converge on the newest version of each key,
/// whatever the interleaving. Versions are compared as zero-padded 19-digit
/// decimals, exactly (Lua's numbers would round above 2^53).
///
/// **Layout**, under `options.prefix` (P), so several stores share one
/// database:
/// | key     | type       | holds |
/// |---------|------------|-------|
/// | P e:KEY | hash       | `v` version (19 digits), `h` content hash (16 bytes), `t` "1" for a tombstone, `d` the value |
/// | P k     | sorted set | every key, score 0: `scan` ranges by ZRANGE BYLEX (byte order, as everywhere) |
/// | P v     | sorted set | version (19 digits) followed by the key: `max_version` and `changes_after` |
/// | P c     | hash       | checkpoints |
/// | P t     | string     | the last version `issue_versions` handed out (19 digits) |
/// Scripts touch rows they name by the prefix, so the store needs a
/// standalone Redis (or one primary), not Redis Cluster.
///
/// **Durability** is Redis's: with `appendonly yes` and `appendfsync
/// always`, a write is on disk when `write` returns; with `everysec` (Redis's
/// default for AOF) a power failure loses up to a second of acknowledged
/// writes; with no AOF, everything since the last snapshot. A batch is
/// atomic against other clients; Redis has no rollback, but nothing in the
/// script can fail after its first write except the server itself.
///
/// **Errors**: an unreachable server or a lost connection `unavailable`
/// (`connection_failed`, `connection_lost`); a command that outlived
/// `command_timeout` `transient` (`timeout`: it may still have run, which the
/// version guard makes harmless to repeat); `OOM` `overloaded`
/// (`resource_exhausted`); `BUSY` `transient` (`busy`); `LOADING`,
/// `MASTERDOWN` and `READONLY` `unavailable`; `MISCONF` (Redis cannot
/// persist) `unavailable` (`storage_failure`); `WRONGTYPE` (another type
/// under one of the store's keys) `permanent` (`schema_mismatch`). Never throws.
///
/// **Thread safety**: every member is safe to call from many threads; calls
/// take a connection from a pool of `pool_size`. The store is movable; a
/// moved-from store fails every call with `errc::stopped`.

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "storesync/core/lookup.hpp"
#include "storesync/core/restore.hpp"
#include "storesync/core/store.hpp"
#include "storesync/store/detail/hash_blob.hpp"
#include "storesync/store/detail/redis_client.hpp"

namespace storesync {

/// Where and how a `redis_store` connects.
struct redis_options {
  /// `redis://[[user]:password@]host[:port][/db]` (port 6379 and database 0
  /// by default).
  std::string url = "redis://127.0.0.1:6379/0";
  /// Starts every Redis key the store uses (1 to 256 bytes).
  std::string prefix = "storesync:";
  /// Connections open at once, at most.
  std::size_t pool_size = 4;
  std::chrono::milliseconds connect_timeout{2000};
  /// How long one command may take before the call fails with `timeout`.
  std::chrono::milliseconds command_timeout{5000};
};

class redis_store {
 public:
  /// Connects, loads the scripts and returns the store. Fails with
  /// `invalid_argument` (a bad URL, prefix or size) or as a call would
  /// (`connection_failed` when the server is unreachable).
  static result<redis_store> open(redis_options options) {
    BOOST_OUTCOME_TRY(check(options));
    BOOST_OUTCOME_TRY(auto address, detail::parse_redis_url(options.url));
    auto state = std::make_unique<shared>(std::move(options), std::move(address));
    BOOST_OUTCOME_TRY(state->client.connect());
    return redis_store(std::move(state));
  }

  /// What `open` checks before it connects: the URL's form (the message
  /// never repeats the URL, which may hold a password), the prefix and the
  /// pool size; `invalid_argument` naming the problem.
  static result<void> check(const redis_options& options) {
    BOOST_OUTCOME_TRY(detail::parse_redis_url(options.url));
    if (options.prefix.empty() || options.prefix.size() > 256)
      return error{errc::invalid_argument, "prefix must be 1 to 256 bytes"};
    if (options.pool_size == 0) return error{errc::invalid_argument, "pool_size must be at least 1"};
    return success();
  }

  result<std::optional<entry>> read(std::string_view key) const {
    if (!state_) return stopped();
    const std::string row = state_->row_key(key);
    const std::string_view args[] = {"HMGET", row, "v", "h", "t", "d"};
    BOOST_OUTCOME_TRY(auto reply, state_->command(args, "read"));
    return parse_row(key, *reply);
  }

  result<write_report> write(std::span<const entry> batch) { return write_batch(batch, nullptr); }

  result<write_report> write_with_checkpoint(std::span<const entry> batch, const checkpoint& cp) {
    return write_batch(batch, &cp);
  }

  result<std::optional<std::string>> load_checkpoint(std::string_view name) const {
    if (!state_) return stopped();
    const std::string_view args[] = {"HGET", state_->checkpoints, name};
    BOOST_OUTCOME_TRY(auto reply, state_->command(args, "load_checkpoint"));
    if (reply->type == REDIS_REPLY_NIL) return std::optional<std::string>{};
    return std::optional<std::string>{std::string(reply->str, reply->len)};
  }

  result<std::vector<entry>> scan(const key_range& range, std::string_view after, std::size_t limit) const {
    if (!state_) return stopped();
    std::vector<entry> page;
    if (limit == 0 || range.empty()) return page;
    const std::string min = !after.empty() && after >= range.first ? "(" + std::string(after)
                            : range.first.empty()                  ? std::string("-")
                                                                   : "[" + range.first;
    const std::string max = range.last ? "(" + *range.last : std::string("+");
    const std::string count = std::to_string(limit);
    const std::string_view keys[] = {state_->keys};
    const std::string_view args[] = {state_->row_prefix, min, max, count};
    BOOST_OUTCOME_TRY(auto reply, state_->eval(lua::scan, keys, args, "scan"));
    BOOST_OUTCOME_TRY(rows_into(*reply, page));
    return page;
  }

  result<std::vector<entry>> changes_after(const watermark& mark, std::size_t limit) const {
    if (!state_) return stopped();
    std::vector<entry> page;
    if (limit == 0) return page;
    const std::string min = "(" + padded(mark.version) + mark.key;
    const std::string count = std::to_string(limit);
    const std::string_view keys[] = {state_->versions};
    const std::string_view args[] = {state_->row_prefix, min, count};
    BOOST_OUTCOME_TRY(auto reply, state_->eval(lua::changes, keys, args, "changes_after"));
    BOOST_OUTCOME_TRY(rows_into(*reply, page));
    return page;
  }

  /// The largest stored version: the last member of the version index.
  result<version_type> max_version() const {
    if (!state_) return stopped();
    const std::string_view args[] = {"ZRANGE", state_->versions, "+", "-", "BYLEX", "REV", "LIMIT", "0", "1"};
    BOOST_OUTCOME_TRY(auto reply, state_->command(args, "max_version"));
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements == 0) return version_type{0};
    const redisReply* m = reply->element[0];
    return parse_version(std::string_view(m->str, std::min<std::size_t>(m->len, version_digits)));
  }

  /// The first of `count` consecutive versions (`count` from 1 to
  /// `max_issued_versions`) that no caller of this store, in any process,
  /// was given before: above every version issued here before, above every
  /// version the store holds, at least `at_least`, and otherwise Redis's
  /// clock (microseconds since the epoch). One script, atomic against every
  /// other client, so writes that take their versions from here are ordered
  /// as they asked for them, however skewed the clocks of their processes.
  /// The last version issued is kept as durable as Redis keeps writes; were
  /// it lost, the versions stored and the clock still order what follows.
  /// Fails with `invalid_argument` for a bad `count`, `invalid_version`
  /// when the versions would pass `max_entry_version` (a stored version
  /// near it leaves no room above).
  result<version_type> issue_versions(std::size_t count, version_type at_least = 0) {
    if (!state_) return stopped();
    if (count == 0 || count > max_issued_versions)
      return error{errc::invalid_argument, "issue_versions: count " + std::to_string(count) + " is not from 1 to " +
                                               std::to_string(max_issued_versions)};
    const std::string n = std::to_string(count);
    const std::string floor = padded(std::max<version_type>(at_least, 0));
    const std::string highest = padded(max_entry_version - static_cast<version_type>(count - 1));
    const std::string_view keys[] = {state_->versions, state_->issued};
    const std::string_view args[] = {n, floor, highest};
    BOOST_OUTCOME_TRY(auto reply, state_->eval(lua::clock, keys, args, "issue_versions"));
    if (reply->type != REDIS_REPLY_STRING)
      return error{errc::backend_failure, "Redis issue_versions: unexpected reply"};
    if (reply->len == 0)
      return error{errc::invalid_version, "issue_versions: " + n + " versions would pass max_entry_version"};
    return parse_version(std::string_view(reply->str, reply->len));
  }

  /// The most versions one `issue_versions` call hands out.
  static constexpr std::size_t max_issued_versions = 1'000'000;

  /// The metadata of each of `keys`, in order: one pipelined round trip.
  result<std::vector<std::optional<entry_meta>>> lookup(std::span<const std::string_view> keys) const {
    if (!state_) return stopped();
    BOOST_OUTCOME_TRY(detail::check_lookup_keys(keys));
    std::vector<std::optional<entry_meta>> out;
    if (keys.empty()) return out;
    std::vector<std::string> rows;
    rows.reserve(keys.size());
    std::vector<std::vector<std::string_view>> commands;
    commands.reserve(keys.size());
    for (const std::string_view key : keys) {
      rows.push_back(state_->row_key(key));
      commands.push_back({"HMGET", rows.back(), "v", "h", "t", "d"});
    }
    BOOST_OUTCOME_TRY(auto replies, state_->pipeline(commands, "lookup"));
    out.reserve(keys.size());
    for (std::size_t i = 0; i < keys.size(); ++i) {
      BOOST_OUTCOME_TRY(auto row, parse_row(keys[i], *replies[i]));
      out.push_back(row ? std::optional<entry_meta>{meta_of(*row)} : std::nullopt);
    }
    return out;
  }

  /// Puts `previous` back (or removes the key) if `key` is stored at
  /// `expected`: one script, atomic against every other client.
  result<void> restore(std::string_view key, version_type expected, const std::optional<entry>& previous) {
    if (!state_) return stopped();
    BOOST_OUTCOME_TRY(validate_restore(key, expected, previous, any_json));
    const std::string row = state_->row_key(key);
    const std::string want = padded(expected);
    std::vector<std::string> args = {std::string(key), want, previous ? "1" : "0"};
    if (previous) append_row_fields(*previous, args);
    const std::vector<std::string_view> argv(args.begin(), args.end());
    const std::string_view keys[] = {state_->keys, state_->versions, row};
    BOOST_OUTCOME_TRY(auto reply, state_->eval(lua::restore, keys, argv, "restore"));
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2)
      return error{errc::backend_failure, "Redis restore: unexpected reply"};
    if (reply->element[0]->integer == 0) return success();
    const redisReply* held = reply->element[1];
    std::optional<version_type> stored;
    if (held->len > 0) {
      BOOST_OUTCOME_TRY(auto v, parse_version(std::string_view(held->str, held->len)));
      stored = v;
    }
    return detail::restore_conflict(key, expected, stored);
  }

  /// The keys that deal the rows of `range` into `parts` runs, as `ntile`
  /// does: a count and one rank lookup per point in the key index.
  result<std::vector<std::string>> split_points(const key_range& range, std::size_t parts) const {
    if (!state_) return stopped();
    std::vector<std::string> points;
    if (parts <= 1 || range.empty()) return points;
    const std::string min = range.first.empty() ? std::string("-") : "[" + range.first;
    const std::string max = range.last ? "(" + *range.last : std::string("+");
    const std::string count = std::to_string(parts);
    const std::string_view keys[] = {state_->keys};
    const std::string_view args[] = {min, max, count};
    BOOST_OUTCOME_TRY(auto reply, state_->eval(lua::split, keys, args, "split_points"));
    if (reply->type != REDIS_REPLY_ARRAY) return error{errc::backend_failure, "Redis split_points: unexpected reply"};
    points.reserve(reply->elements);
    for (std::size_t i = 0; i < reply->elements; ++i) points.emplace_back(reply->element[i]->str, reply->element[i]->len);
    return points;
  }

  /// The options it was opened with (not on a moved-from store).
  const redis_options& options() const noexcept { return state_->options; }

 private:
  enum class lua { write, restore, scan, changes, split, clock };
  static constexpr std::size_t script_count = 6;
  static constexpr std::size_t version_digits = 19;  // 2^63 - 1 has 19

  // Versions are zero-padded to 19 digits, so byte order is numeric order.
  // Rows are hashes of v, h, t, d; the key index `k` orders keys for scans,
  // the version index `v` orders (version, key) for changes and the maximum.
  static constexpr std::array<std::string_view, script_count> script_text = {
      // write. KEYS: k, v, c, then each entry's row. ARGV: n, then key, v,
      // h, t, d per entry, then an optional checkpoint name and value.
      // Returns per entry 0 applied, 1 unchanged, 2 stale.
      R"lua(
local n = tonumber(ARGV[1])
local out = {}
for i = 1, n do
  local a = 1 + (i - 1) * 5
  local key, v = ARGV[a + 1], ARGV[a + 2]
  local row = KEYS[3 + i]
  local held = redis.call('HGET', row, 'v')
  if held == false or v > held then
    if held ~= false then redis.call('ZREM', KEYS[2], held .. key) end
    redis.call('HSET', row, 'v', v, 'h', ARGV[a + 3], 't', ARGV[a + 4], 'd', ARGV[a + 5])
    redis.call('ZADD', KEYS[1], 0, key)
    redis.call('ZADD', KEYS[2], 0, v .. key)
    out[i] = 0
  elseif v == held then
    out[i] = 1
  else
    out[i] = 2
  end
end
local c = 2 + n * 5
if ARGV[c] then redis.call('HSET', KEYS[3], ARGV[c], ARGV[c + 1]) end
return out
)lua",
      // restore. KEYS: k, v, row. ARGV: key, expected, "1" with a previous
      // entry (then its v, h, t, d) or "0". Returns {0, ''} done, or
      // {1, stored version or ''} on a conflict.
      R"lua(
local held = redis.call('HGET', KEYS[3], 'v')
if held ~= ARGV[2] then return {1, held or ''} end
redis.call('ZREM', KEYS[2], held .. ARGV[1])
if ARGV[3] == '1' then
  redis.call('HSET', KEYS[3], 'v', ARGV[4], 'h', ARGV[5], 't', ARGV[6], 'd', ARGV[7])
  redis.call('ZADD', KEYS[2], 0, ARGV[4] .. ARGV[1])
else
  redis.call('DEL', KEYS[3])
  redis.call('ZREM', KEYS[1], ARGV[1])
end
return {0, ''}
)lua",
      // scan. KEYS: k. ARGV: row prefix, min, max, limit. Returns key, v,
      // h, t, d per row, in key order.
      R"lua(
local keys = redis.call('ZRANGE', KEYS[1], ARGV[2], ARGV[3], 'BYLEX', 'LIMIT', 0, tonumber(ARGV[4]))
local out = {}
for _, key in ipairs(keys) do
  local r = redis.call('HMGET', ARGV[1] .. key, 'v', 'h', 't', 'd')
  if r[1] then
    out[#out + 1] = key
    for j = 1, 4 do out[#out + 1] = r[j] end
  end
end
return out
)lua",
      // changes. KEYS: v. ARGV: row prefix, min, limit. Returns key, v, h,
      // t, d per row, in (version, key) order.
      R"lua(
local members = redis.call('ZRANGE', KEYS[1], ARGV[2], '+', 'BYLEX', 'LIMIT', 0, tonumber(ARGV[3]))
local out = {}
for _, m in ipairs(members) do
  local key = string.sub(m, 20)
  local r = redis.call('HMGET', ARGV[1] .. key, 'v', 'h', 't', 'd')
  if r[1] then
    out[#out + 1] = key
    for j = 1, 4 do out[#out + 1] = r[j] end
  end
end
return out
)lua",
      // split. KEYS: k. ARGV: min, max, parts. Returns the keys that deal
      // the range's rows into min(parts, n) runs, as ntile does: counts and
      // ranks in the index, no pass over the keys.
      R"lua(
local n = redis.call('ZLEXCOUNT', KEYS[1], ARGV[1], ARGV[2])
local runs = math.min(tonumber(ARGV[3]), n)
if runs <= 1 then return {} end
local first = redis.call('ZRANGE', KEYS[1], ARGV[1], ARGV[2], 'BYLEX', 'LIMIT', 0, 1)
local r0 = redis.call('ZRANK', KEYS[1], first[1])
local size, longer = math.floor(n / runs), n % runs
local out = {}
for i = 1, runs - 1 do
  local rank = r0 + i * size + math.min(i, longer)
  out[i] = redis.call('ZRANGE', KEYS[1], rank, rank)[1]
end
return out
)lua",
      // clock. KEYS: v, t. ARGV: count, at least, highest first (19 digits
      // each). Returns the first of count versions (19 digits): the highest
      // of Redis's clock, at least, one past the last issued and one past
      // the largest stored; or '' when that is above highest first.
      R"lua(
local function plus(s, k)
  local out, carry = {}, k
  for i = 19, 1, -1 do
    local d = string.byte(s, i) - 48 + carry
    out[i] = string.char(48 + d % 10)
    carry = math.floor(d / 10)
  end
  return table.concat(out)
end
local t = redis.call('TIME')
local first = t[1] .. string.format('%06d', tonumber(t[2]))
first = string.rep('0', 19 - #first) .. first
if ARGV[2] > first then first = ARGV[2] end
local issued = redis.call('GET', KEYS[2])
if issued and plus(issued, 1) > first then first = plus(issued, 1) end
local top = redis.call('ZRANGE', KEYS[1], '+', '-', 'BYLEX', 'REV', 'LIMIT', 0, 1)[1]
if top and plus(string.sub(top, 1, 19), 1) > first then first = plus(string.sub(top, 1, 19), 1) end
if first > ARGV[3] then return '' end
redis.call('SET', KEYS[2], plus(first, tonumber(ARGV[1]) - 1))
return first
)lua",
  };

  struct shared {
    shared(redis_options o, detail::redis_address a)
        : options(std::move(o)),
          row_prefix(options.prefix + "e:"),
          keys(options.prefix + "k"),
          versions(options.prefix + "v"),
          checkpoints(options.prefix + "c"),
          issued(options.prefix + "t"),
          client(std::move(a),
                 {.pool_size = options.pool_size,
                  .connect_timeout = options.connect_timeout,
                  .command_timeout = options.command_timeout},
                 script_text) {}

    std::string row_key(std::string_view key) const { return row_prefix + std::string(key); }

    result<detail::redis_reply> command(std::span<const std::string_view> args, std::string_view what) {
      return client.command(args, what);
    }
    result<std::vector<detail::redis_reply>> pipeline(std::span<const std::vector<std::string_view>> commands,
                                                      std::string_view what) {
      return client.pipeline(commands, what);
    }
    result<detail::redis_reply> eval(lua which, std::span<const std::string_view> keys,
                                     std::span<const std::string_view> args, std::string_view what) {
      return client.eval(static_cast<std::size_t>(which), keys, args, what);
    }

    redis_options options;
    std::string row_prefix, keys, versions, checkpoints, issued;
    detail::redis_client<script_count> client;
  };

  explicit redis_store(std::unique_ptr<shared> state) noexcept : state_(std::move(state)) {}

  static error stopped() { return error{errc::stopped, "redis_store was moved from"}; }

  static std::string padded(version_type v) {
    std::string s = std::to_string(v);
    return std::string(version_digits - std::min(version_digits, s.size()), '0') + s;
  }

  static result<version_type> parse_version(std::string_view digits) {
    version_type v = 0;
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
    if (ec != std::errc{} || end != digits.data() + digits.size())
      return error{errc::corrupt, "Redis holds a version that is not a number: " + detail::quoted(digits)};
    return v;
  }

  /// v, h, t, d of `e`, appended to `args`.
  static void append_row_fields(const entry& e, std::vector<std::string>& args) {
    const auto blob = detail::hash_to_blob(e.hash);
    args.push_back(padded(e.version));
    args.emplace_back(reinterpret_cast<const char*>(blob.data()), blob.size());
    args.emplace_back(e.tombstone ? "1" : "0");
    args.push_back(e.value);
  }

  /// The entry of `key` from the four fields v, h, t, d (nil v: none).
  static result<std::optional<entry>> parse_fields(std::string_view key, const redisReply* const* f) {
    if (f[0]->type == REDIS_REPLY_NIL) return std::optional<entry>{};
    if (f[0]->type != REDIS_REPLY_STRING || f[1]->type != REDIS_REPLY_STRING || f[1]->len != 16 ||
        f[2]->type != REDIS_REPLY_STRING || f[3]->type != REDIS_REPLY_STRING)
      return error{errc::corrupt, "Redis holds a malformed row for key " + detail::quoted(key)};
    entry e;
    e.key = std::string(key);
    BOOST_OUTCOME_TRY(e.version, parse_version(std::string_view(f[0]->str, f[0]->len)));
    e.hash = detail::hash_from_blob(reinterpret_cast<const unsigned char*>(f[1]->str));
    e.tombstone = std::string_view(f[2]->str, f[2]->len) == "1";
    e.value.assign(f[3]->str, f[3]->len);
    return std::optional<entry>{std::move(e)};
  }

  static result<std::optional<entry>> parse_row(std::string_view key, const redisReply& reply) {
    if (reply.type != REDIS_REPLY_ARRAY || reply.elements != 4)
      return error{errc::backend_failure, "Redis read of " + detail::quoted(key) + ": unexpected reply"};
    return parse_fields(key, reply.element);
  }

  /// Rows of a scan or changes script (key, v, h, t, d each) into `page`.
  static result<void> rows_into(const redisReply& reply, std::vector<entry>& page) {
    if (reply.type != REDIS_REPLY_ARRAY || reply.elements % 5 != 0)
      return error{errc::backend_failure, "Redis scan: unexpected reply"};
    page.reserve(reply.elements / 5);
    for (std::size_t i = 0; i < reply.elements; i += 5) {
      const redisReply* k = reply.element[i];
      BOOST_OUTCOME_TRY(auto row, parse_fields(std::string_view(k->str, k->len), reply.element + i + 1));
      if (row) page.push_back(std::move(*row));
    }
    return success();
  }

  result<write_report> write_batch(std::span<const entry> batch, const checkpoint* cp) {
    if (!state_) return stopped();
    BOOST_OUTCOME_TRY(validate_batch(batch, any_json));
    write_report report;
    if (batch.empty() && !cp) return report;
    std::vector<std::string> rows;
    rows.reserve(batch.size());
    std::vector<std::string> args;
    args.reserve(1 + batch.size() * 5 + 2);
    args.push_back(std::to_string(batch.size()));
    for (const entry& e : batch) {
      rows.push_back(state_->row_key(e.key));
      args.push_back(e.key);
      append_row_fields(e, args);
    }
    if (cp) {
      args.push_back(cp->name);
      args.push_back(cp->value);
    }
    std::vector<std::string_view> keys = {state_->keys, state_->versions, state_->checkpoints};
    keys.insert(keys.end(), rows.begin(), rows.end());
    const std::vector<std::string_view> argv(args.begin(), args.end());
    BOOST_OUTCOME_TRY(auto reply, state_->eval(lua::write, keys, argv, "write"));
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != batch.size())
      return error{errc::backend_failure, "Redis write: unexpected reply"};
    for (std::size_t i = 0; i < reply->elements; ++i) {
      const auto o = reply->element[i]->integer;
      report.count(o == 0 ? guard_outcome::applied : o == 1 ? guard_outcome::unchanged : guard_outcome::stale);
    }
    return report;
  }

  std::unique_ptr<shared> state_;
};

static_assert(store<redis_store>);
static_assert(restorable_store<redis_store>);
static_assert(versioned_store<redis_store>);
static_assert(scannable_store<redis_store>);
static_assert(change_source<redis_store>);
static_assert(metadata_store<redis_store>);
static_assert(checkpoint_store<redis_store>);
static_assert(partitionable_store<redis_store>);

}  // namespace storesync
