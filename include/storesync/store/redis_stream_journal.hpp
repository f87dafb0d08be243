#pragma once
/// \file
/// `redis_stream_journal`: a `shared_journal` in a Redis stream (Redis 7 or
/// later), so several processes keep one journal: each appends to the same
/// stream, and what a process that died still owed is taken over by the
/// others.
///
/// \code
///   BOOST_OUTCOME_TRY(auto log, storesync::redis_stream_journal::open(
///       {.url = "redis://cache:6379/0", .stream = "orders:journal", .consumer = "server-1"}));
///   BOOST_OUTCOME_TRY(auto at, log.append(record));         // acknowledged once Redis has it
///   BOOST_OUTCOME_TRY(log.commit_checkpoint(at));           // XACK and XDEL: Redis forgets it
/// \endcode
///
/// **Consumer groups.** The stream has one consumer group per slow store
/// (`group`); each process is one consumer in it (`consumer`, a name that
/// stays the same across the process's restarts). An append is one Lua
/// script: XADD, then XREADGROUP of that record for this consumer, so from
/// the moment it is acknowledged the record is *pending* for its writer in
/// the group's pending entries list, never unowned. The writer sends it to
/// the slow store (write-behind keeps it in its coalescing map meanwhile)
/// and `commit_checkpoint` then acknowledges it: XACK and XDEL in one
/// script, so only acknowledged records leave the stream, and the stream
/// holds exactly what is still owed.
///
/// **Taking over.** Each consumer keeps a liveness key, `STREAM:alive:NAME`,
/// that expires `dead_after` after it was last refreshed (`open` and every
/// `take_over` refresh it). `take_over` (write-behind calls it every
/// `take_over_interval`, which must stay well below `dead_after`: the
/// reference server uses a quarter of it) suspects a consumer whose key has
/// lapsed (`STREAM:suspect:NAME` holds when, by Redis's clock), and once it
/// is still silent `dead_after` later, claims its pending records with
/// XCLAIM in one script: a dead process's records move to exactly one
/// survivor, which replays them into its own map. So a take-over comes
/// between 2 and 3 `dead_after` after the last sign of life, and after a
/// Redis outage (a restart from the AOF finds every liveness key lapsed) the
/// live processes have `dead_after` to show themselves before anything of
/// theirs is taken. A
/// consumer is declared dead by silence, not by the idle time of each of its
/// records (XAUTOCLAIM's rule), so a live process that holds records through
/// a long outage of the slow store keeps them. A process that restarts
/// under its name within `dead_after` finds its own records again in
/// `replay`; after that, a survivor may have taken them.
///
/// **Moving a record** to another stream (`move_to`: a refused record into
/// the dead letters, say) checks, appends and acknowledges in one script,
/// and only while this consumer owns the record: when a process thought
/// dead comes back after a survivor took its records over, the two never
/// both move one record.
///
/// **Lost replies.** When the connection fails after Redis ran an append
/// (or a move into this stream) but before its answer arrived, the call
/// fails (`unavailable`: not acknowledged), yet the record may be in the
/// stream, pending for this consumer. The next `take_over` looks for such
/// records and hands them to its caller like taken-over ones, so they are
/// delivered rather than left in the stream until the process restarts.
///
/// **Lsns** are this process's numbers for the records it owns: consecutive
/// from 1 in each session, the records found pending at `open` first, in
/// stream order. `load_checkpoint` is 0 after `open`, since the pending list
/// itself is the checkpoint: what `commit_checkpoint` acknowledged never
/// comes back.
///
/// **Durability** is Redis's: with `appendonly yes` and `appendfsync always`
/// an acknowledged record survives a power failure of the Redis host; with
/// `everysec`, up to a second of acknowledged records can be lost with it;
/// without AOF, everything since the last snapshot. A killed storesync
/// process loses nothing in any mode. `sync` has nothing to add.
///
/// **Errors**: as `redis_store` (connection loss `unavailable`, `OOM`
/// `overloaded`, ...); `invalid_input` for a checkpoint beyond the last lsn;
/// `corrupt` when the stream holds a record no journal added (the append
/// script found another record first); `errc::stopped` after `close`.
/// Never throws. **Thread safety**: every member but `close` is safe from
/// many threads at once.
///
/// A standalone Redis (or one primary): the scripts name the liveness keys
/// from consumer names. With Redis Cluster, put `{...}` around a common part
/// of the stream name so the stream and its liveness keys share a slot.

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

#include "storesync/core/result.hpp"
#include "storesync/journal/journal.hpp"
#include "storesync/store/detail/redis_client.hpp"

namespace storesync {

/// Where a `redis_stream_journal` keeps its records, and who this process is.
struct redis_stream_journal_options {
  /// `redis://[[user]:password@]host[:port][/db]`.
  std::string url = "redis://127.0.0.1:6379/0";
  /// The stream's key (1 to 256 bytes).
  std::string stream = "storesync:journal";
  /// The consumer group: one per slow store the records go to.
  std::string group = "storesync";
  /// This process in the group (1 to 200 bytes of letters, digits and
  /// `._:-`): unique among the processes sharing the stream, and the same
  /// after a restart, so the process finds its own records again.
  std::string consumer;
  /// A consumer whose liveness key was not refreshed for this long is
  /// suspected, and silent as long again, dead: its records are taken over
  /// (at least 100 ms; see Taking over).
  std::chrono::milliseconds dead_after{10'000};
  /// Connections open at once, at most.
  std::size_t pool_size = 2;
  std::chrono::milliseconds connect_timeout{2000};
  std::chrono::milliseconds command_timeout{5000};
};

/// The stream as a whole, from any of its processes (for status and metrics).
struct redis_stream_stats {
  /// Records in the stream: every one still owed to the slow store.
  std::uint64_t length = 0;
  /// Records in the group's pending list (owned by some consumer).
  std::uint64_t pending = 0;
  /// How long ago the oldest record still in the stream was appended
  /// (from its id's time, Redis's clock), in milliseconds; 0 when empty.
  std::uint64_t oldest_age_ms = 0;
  /// Consumers in the group, live or not yet taken over.
  std::uint64_t consumers = 0;
};

class redis_stream_journal {
 public:
  /// Connects, creates the stream and the group if missing, marks this
  /// consumer alive and finds the records still pending for it. Fails with
  /// `invalid_argument` (URL, names, `dead_after`) or as a call would.
  static result<redis_stream_journal> open(redis_stream_journal_options options) {
    BOOST_OUTCOME_TRY(check(options));
    BOOST_OUTCOME_TRY(auto address, detail::parse_redis_url(options.url));
    auto s = std::make_unique<state>(std::move(options), std::move(address));
    BOOST_OUTCOME_TRY(s->client.connect());
    const std::string_view create[] = {"XGROUP", "CREATE", s->options.stream, s->options.group, "0", "MKSTREAM"};
    if (auto made = s->client.command(create, "XGROUP CREATE");
        !made && made.error().context().find("BUSYGROUP") == std::string::npos)
      return made.error();
    BOOST_OUTCOME_TRY(s->refresh_alive());
    BOOST_OUTCOME_TRY(s->find_own_records());
    return redis_stream_journal(std::move(s));
  }

  /// What `open` checks before it connects, naming the problem (never
  /// repeating the URL, which may hold a password).
  static result<void> check(const redis_stream_journal_options& o) {
    BOOST_OUTCOME_TRY(detail::parse_redis_url(o.url));
    const auto bad = [](std::string what) { return error{errc::invalid_argument, std::move(what)}; };
    if (o.stream.empty() || o.stream.size() > 256) return bad("stream name must be 1 to 256 bytes");
    if (o.group.empty() || o.group.size() > 200) return bad("group name must be 1 to 200 bytes");
    if (o.consumer.empty() || o.consumer.size() > 200) return bad("consumer name must be 1 to 200 bytes");
    for (const char c : o.consumer)
      if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == ':' || c == '-'))
        return bad("consumer name may hold only letters, digits and ._:-");
    if (o.dead_after < std::chrono::milliseconds(100)) return bad("dead_after must be at least 100 ms");
    if (o.pool_size == 0) return bad("pool_size must be at least 1");
    return success();
  }

  /// XADD and, in the same script, XREADGROUP for this consumer: returns the
  /// record's lsn once Redis acknowledged it (see Durability).
  result<lsn> append(std::span<const std::byte> record) {
    if (!s_ || s_->closed) return stopped();
    const std::string_view rec(reinterpret_cast<const char*>(record.data()), record.size());
    const std::string_view keys[] = {s_->options.stream};
    const std::string_view args[] = {s_->options.group, s_->options.consumer, rec};
    std::shared_lock in_flight(s_->appending);
    auto reply = s_->eval(script::append, keys, args, "append");
    if (!reply) {
      s_->lost_track = true;  // Redis may have added it: see Lost replies
      return reply.error();
    }
    const redisReply& r = *reply.value();
    if (r.type != REDIS_REPLY_ARRAY || r.elements != 2)
      return error{errc::backend_failure, "Redis append: unexpected reply"};
    const std::string_view added(r.element[0]->str, r.element[0]->len);
    const std::string_view read(r.element[1]->str, r.element[1]->len);
    if (added != read)
      return error{errc::corrupt, "stream " + s_->options.stream + " holds record " + std::string(read) +
                                      ", which no journal added, before the one just appended"};
    return s_->own(std::string(added), record.size());
  }
  result<lsn> append(std::string_view record) { return append(std::as_bytes(std::span(record))); }

  /// Calls `fn(lsn, record)` for every record this consumer owns with an
  /// lsn above `after`, in lsn order, reading them from Redis in pages.
  template <class F>
  result<std::size_t> replay(lsn after, F&& fn) {
    if (!s_ || s_->closed) return stopped();
    std::vector<std::pair<lsn, std::string>> page;
    std::size_t called = 0;
    for (lsn from = after;;) {
      s_->owned_after(from, replay_page, page);
      if (page.empty()) return called;
      std::vector<std::vector<std::string_view>> reads;
      reads.reserve(page.size());
      for (const auto& [at, id] : page) reads.push_back({"XRANGE", s_->options.stream, id, id});
      BOOST_OUTCOME_TRY(auto replies, s_->client.pipeline(reads, "replay"));
      for (std::size_t i = 0; i < page.size(); ++i) {
        const redisReply& r = *replies[i];
        // A record acknowledged meanwhile (by an overlapping checkpoint) is gone.
        if (r.type != REDIS_REPLY_ARRAY || r.elements == 0) continue;
        BOOST_OUTCOME_TRY(auto rec, record_of(*r.element[0]));
        BOOST_OUTCOME_TRY(fn(page[i].first, std::as_bytes(std::span(rec.data(), rec.size()))));
        ++called;
      }
      from = page.back().first;
    }
  }

  /// Acknowledges every record of this consumer with an lsn up to `at`
  /// (XACK and XDEL in one script, a page at a time): Redis forgets them.
  result<void> commit_checkpoint(lsn at) {
    if (!s_ || s_->closed) return stopped();
    std::lock_guard one(s_->committing);
    {
      std::lock_guard lock(s_->mutex);
      if (at > s_->last)
        return error{errc::invalid_argument, "checkpoint " + std::to_string(at) + " is beyond the last lsn " +
                                                 std::to_string(s_->last)};
      if (at <= s_->checkpoint) return success();
    }
    std::vector<std::pair<lsn, std::string>> page;
    for (;;) {
      s_->owned_up_to(at, ack_page, page);
      if (page.empty()) break;
      std::vector<std::string_view> args = {s_->options.group};
      for (const auto& [l, id] : page) args.push_back(id);
      const std::string_view keys[] = {s_->options.stream};
      BOOST_OUTCOME_TRY(s_->eval(script::ack, keys, args, "commit_checkpoint"));
      s_->forget(page);
    }
    std::lock_guard lock(s_->mutex);
    s_->checkpoint = std::max(s_->checkpoint, at);
    return success();
  }

  /// 0 after `open` (see Lsns), then the last committed checkpoint.
  result<lsn> load_checkpoint() {
    if (!s_ || s_->closed) return stopped();
    std::lock_guard lock(s_->mutex);
    return s_->checkpoint;
  }

  /// Redis made each record as durable as its fsync policy says when it
  /// acknowledged it: nothing to add.
  result<void> sync() {
    if (!s_ || s_->closed) return stopped();
    return success();
  }

  /// Bytes of the records this consumer owns.
  std::uint64_t size_bytes() const noexcept { return s_ ? s_->bytes.load(std::memory_order_relaxed) : 0; }

  /// Refreshes this consumer's liveness (also with `limit` 0), then claims up to `limit` records
  /// of consumers that are dead (see Taking over), gives each an lsn and
  /// calls `fn(lsn, record)` for each, in lsn order; returns how many. After
  /// a lost reply, the records of this consumer it lost track of come first
  /// (see Lost replies), however many. The
  /// records are this consumer's from the claim on: when `fn` fails, the
  /// rest are still owned and come back in `replay`.
  template <class F>
  result<std::size_t> take_over(std::size_t limit, F&& fn) {
    if (!s_ || s_->closed) return stopped();
    const std::string count = std::to_string(limit);
    const std::string ttl = std::to_string(s_->options.dead_after.count());
    const std::string_view keys[] = {s_->options.stream};
    const std::string_view args[] = {s_->options.group, s_->options.consumer, s_->alive_prefix, count, ttl,
                                     s_->suspect_prefix};
    std::vector<std::pair<lsn, std::string>> claimed;
    if (s_->lost_track.exchange(false)) {
      std::unique_lock no_append(s_->appending);
      if (auto found = s_->find_lost_records(claimed); !found) {
        s_->lost_track = true;
        return found.error();
      }
    }
    {
      std::shared_lock in_flight(s_->appending);
      BOOST_OUTCOME_TRY(auto reply, s_->eval(script::take_over, keys, args, "take_over"));
      if (reply->type != REDIS_REPLY_ARRAY) return error{errc::backend_failure, "Redis take_over: unexpected reply"};
      for (std::size_t i = 0; i < reply->elements; ++i) {
        const redisReply& e = *reply->element[i];
        if (e.type != REDIS_REPLY_ARRAY || e.elements != 2) continue;  // deleted meanwhile
        BOOST_OUTCOME_TRY(auto rec, record_of(e));
        const lsn at = s_->own(std::string(e.element[0]->str, e.element[0]->len), rec.size());
        claimed.emplace_back(at, std::move(rec));
      }
    }
    for (const auto& [at, rec] : claimed) {
      BOOST_OUTCOME_TRY(fn(at, std::as_bytes(std::span(rec.data(), rec.size()))));
    }
    return claimed.size();
  }

  /// When this consumer still owns the record at `at`: appends `record` to
  /// `to` (owned there by `to`'s consumer) and acknowledges `at` here, in one
  /// script, and returns the lsn it has in `to`. When another consumer took
  /// it over meanwhile, changes nothing and returns no lsn. `to` must live in
  /// the same Redis (with Redis Cluster, in the same slot: see above).
  result<std::optional<lsn>> move_to(lsn at, redis_stream_journal& to, std::span<const std::byte> record) {
    if (!s_ || s_->closed || !to.s_ || to.s_->closed) return stopped();
    std::string id;
    {
      std::lock_guard lock(s_->mutex);
      const auto it = s_->owned.find(at);
      if (it == s_->owned.end())
        return error{errc::invalid_argument, "lsn " + std::to_string(at) + " is not a record this journal holds"};
      id = it->second.id;
    }
    const std::string_view rec(reinterpret_cast<const char*>(record.data()), record.size());
    const std::string_view keys[] = {s_->options.stream, to.s_->options.stream};
    const std::string_view args[] = {s_->options.group, s_->options.consumer, id,
                                     to.s_->options.group, to.s_->options.consumer, rec};
    std::shared_lock in_flight(to.s_->appending);
    auto moved = s_->eval(script::move, keys, args, "move_to");
    if (!moved) {
      to.s_->lost_track = true;  // Redis may have moved it: see Lost replies
      return moved.error();
    }
    const detail::redis_reply& reply = moved.value();
    s_->forget({{at, id}});  // acknowledged here, or another consumer's now
    if (reply->type == REDIS_REPLY_NIL) return std::optional<lsn>();
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2)
      return error{errc::backend_failure, "Redis move_to: unexpected reply"};
    const std::string_view added(reply->element[0]->str, reply->element[0]->len);
    const std::string_view read(reply->element[1]->str, reply->element[1]->len);
    if (added != read)
      return error{errc::corrupt, "stream " + to.s_->options.stream + " holds record " + std::string(read) +
                                      ", which no journal added, before the one just moved there"};
    return std::optional<lsn>(to.s_->own(std::string(added), record.size()));
  }
  result<std::optional<lsn>> move_to(lsn at, redis_stream_journal& to, std::string_view record) {
    return move_to(at, to, std::as_bytes(std::span(record)));
  }

  /// The stream as a whole: length, pending records, the oldest record's
  /// age and the consumers (one pipelined round trip).
  result<redis_stream_stats> stream_stats() const {
    if (!s_ || s_->closed) return stopped();
    const std::vector<std::vector<std::string_view>> calls = {
        {"XLEN", s_->options.stream},
        {"XPENDING", s_->options.stream, s_->options.group},
        {"XRANGE", s_->options.stream, "-", "+", "COUNT", "1"},
        {"XINFO", "CONSUMERS", s_->options.stream, s_->options.group},
        {"TIME"}};
    BOOST_OUTCOME_TRY(auto r, s_->client.pipeline(calls, "stream_stats"));
    redis_stream_stats out;
    out.length = static_cast<std::uint64_t>(r[0]->integer);
    if (r[1]->type == REDIS_REPLY_ARRAY && r[1]->elements > 0)
      out.pending = static_cast<std::uint64_t>(r[1]->element[0]->integer);
    if (r[3]->type == REDIS_REPLY_ARRAY) out.consumers = r[3]->elements;
    if (r[2]->type == REDIS_REPLY_ARRAY && r[2]->elements > 0 && r[4]->type == REDIS_REPLY_ARRAY) {
      const redisReply& first = *r[2]->element[0]->element[0];
      const std::uint64_t appended_ms = std::strtoull(std::string(first.str, first.len).c_str(), nullptr, 10);
      const std::uint64_t now_ms =
          std::strtoull(r[4]->element[0]->str, nullptr, 10) * 1000 + std::strtoull(r[4]->element[1]->str, nullptr, 10) / 1000;
      out.oldest_age_ms = now_ms > appended_ms ? now_ms - appended_ms : 0;
    }
    return out;
  }

  /// The options it was opened with (not on a moved-from journal).
  const redis_stream_journal_options& options() const noexcept { return s_->options; }

  /// Takes no more calls; the records stay in Redis, pending for this
  /// consumer. Idempotent.
  result<void> close() {
    if (s_) s_->closed = true;
    return success();
  }

 private:
  enum class script : std::size_t { append, ack, take_over, move };
  static constexpr std::size_t script_count = 4;
  static constexpr std::size_t replay_page = 500;
  static constexpr std::size_t ack_page = 1000;

  static constexpr std::array<std::string_view, script_count> script_text = {
      // append. KEYS: stream. ARGV: group, consumer, record. Returns the id
      // added and the id XREADGROUP delivered (the same unless a record
      // added some other way was waiting).
      R"lua(
local id = redis.call('XADD', KEYS[1], '*', 'r', ARGV[3])
local got = redis.call('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT', 1, 'STREAMS', KEYS[1], '>')
return {id, got[1][2][1][1]}
)lua",
      // ack. KEYS: stream. ARGV: group, then ids.
      R"lua(
local ids = {unpack(ARGV, 2)}
redis.call('XACK', KEYS[1], ARGV[1], unpack(ids))
redis.call('XDEL', KEYS[1], unpack(ids))
return #ids
)lua",
      // take_over. KEYS: stream. ARGV: group, consumer, liveness key
      // prefix, limit, dead_after ms, suspicion key prefix. Refreshes the
      // consumer's liveness (and clears suspicion of it); a consumer whose
      // liveness lapsed is suspected (its key holds Redis's time then) and,
      // still silent dead_after later, dead: claims up to limit records of
      // dead consumers, removes them once they own nothing. Returns the
      // claimed records as XCLAIM does ({id, {'r', record}} each).
      R"lua(
local ttl = tonumber(ARGV[5])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('SET', ARGV[3] .. ARGV[2], '1', 'PX', ttl)
redis.call('DEL', ARGV[6] .. ARGV[2])
local want = tonumber(ARGV[4])
local out = {}
for _, c in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])) do
  local name, pending
  for i = 1, #c, 2 do
    if c[i] == 'name' then name = c[i + 1] elseif c[i] == 'pending' then pending = c[i + 1] end
  end
  local dead = false
  if name ~= ARGV[2] and redis.call('EXISTS', ARGV[3] .. name) == 0 then
    local since = tonumber(redis.call('GET', ARGV[6] .. name))
    if since == nil then
      redis.call('SET', ARGV[6] .. name, string.format('%.0f', now), 'PX', 3 * ttl)
    else
      redis.call('PEXPIRE', ARGV[6] .. name, 3 * ttl)
      dead = now - since >= ttl
    end
  end
  if dead then
    if pending == 0 then
      redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], name)
      redis.call('DEL', ARGV[6] .. name)
    elseif #out < want then
      local ids = {}
      for _, p in ipairs(redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', want - #out, name)) do
        ids[#ids + 1] = p[1]
      end
      if #ids > 0 then
        for _, e in ipairs(redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, unpack(ids))) do
          out[#out + 1] = e
        end
      end
    end
  end
end
return out
)lua",
      // move. KEYS: stream, target stream. ARGV: group, consumer, id,
      // target group, target consumer, record. Nothing when the consumer
      // does not own id; else as append on the target, then ack of id.
      R"lua(
if #redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1, ARGV[2]) == 0 then return nil end
local id = redis.call('XADD', KEYS[2], '*', 'r', ARGV[6])
local got = redis.call('XREADGROUP', 'GROUP', ARGV[4], ARGV[5], 'COUNT', 1, 'STREAMS', KEYS[2], '>')
redis.call('XACK', KEYS[1], ARGV[1], ARGV[3])
redis.call('XDEL', KEYS[1], ARGV[3])
return {id, got[1][2][1][1]}
)lua",
  };

  struct owned_record {
    std::string id;
    std::size_t bytes = 0;
  };

  struct state {
    state(redis_stream_journal_options o, detail::redis_address a)
        : options(std::move(o)),
          alive_prefix(options.stream + ":alive:"),
          suspect_prefix(options.stream + ":suspect:"),
          client(std::move(a),
                 {.pool_size = options.pool_size,
                  .connect_timeout = options.connect_timeout,
                  .command_timeout = options.command_timeout},
                 script_text) {}

    result<detail::redis_reply> eval(script which, std::span<const std::string_view> keys,
                                     std::span<const std::string_view> args, std::string_view what) {
      return client.eval(static_cast<std::size_t>(which), keys, args, what);
    }

    result<void> refresh_alive() {
      const std::string key = alive_prefix + options.consumer;
      const std::string suspicion = suspect_prefix + options.consumer;
      const std::string ttl = std::to_string(options.dead_after.count());
      const std::vector<std::vector<std::string_view>> calls = {{"SET", key, "1", "PX", ttl}, {"DEL", suspicion}};
      BOOST_OUTCOME_TRY(client.pipeline(calls, "SET liveness"));
      return success();
    }

    /// The records pending for this consumer, in stream order, as lsns 1..n.
    result<void> find_own_records() {
      std::string cursor = "-";
      const std::string page = std::to_string(ack_page);
      for (;;) {
        const std::string_view args[] = {"XPENDING", options.stream, options.group, cursor, "+", page, options.consumer};
        BOOST_OUTCOME_TRY(auto reply, client.command(args, "XPENDING"));
        if (reply->type != REDIS_REPLY_ARRAY || reply->elements == 0) return success();
        for (std::size_t i = 0; i < reply->elements; ++i) {
          const redisReply& id = *reply->element[i]->element[0];
          own(std::string(id.str, id.len), 0);
          cursor = "(" + std::string(id.str, id.len);
        }
      }
    }

    /// With no append in flight (the caller holds `appending`): the records
    /// pending for this consumer that it does not know of, owned and added
    /// to `out` with their lsns.
    result<void> find_lost_records(std::vector<std::pair<lsn, std::string>>& out) {
      std::unordered_set<std::string> known;
      {
        std::lock_guard lock(mutex);
        for (const auto& [at, r] : owned) known.insert(r.id);
      }
      std::vector<std::string> lost;
      std::string cursor = "-";
      const std::string page = std::to_string(ack_page);
      for (;;) {
        const std::string_view args[] = {"XPENDING", options.stream, options.group, cursor, "+", page, options.consumer};
        BOOST_OUTCOME_TRY(auto reply, client.command(args, "XPENDING"));
        if (reply->type != REDIS_REPLY_ARRAY || reply->elements == 0) break;
        for (std::size_t i = 0; i < reply->elements; ++i) {
          const redisReply& id = *reply->element[i]->element[0];
          std::string s(id.str, id.len);
          cursor = "(" + s;
          if (!known.contains(s)) lost.push_back(std::move(s));
        }
      }
      std::vector<std::vector<std::string_view>> reads;
      for (const std::string& id : lost) reads.push_back({"XRANGE", options.stream, id, id});
      if (reads.empty()) return success();
      BOOST_OUTCOME_TRY(auto replies, client.pipeline(reads, "XRANGE lost records"));
      for (std::size_t i = 0; i < lost.size(); ++i) {
        const redisReply& r = *replies[i];
        if (r.type != REDIS_REPLY_ARRAY || r.elements == 0) continue;
        BOOST_OUTCOME_TRY(auto rec, record_of(*r.element[0]));
        out.emplace_back(own(lost[i], rec.size()), std::move(rec));
      }
      return success();
    }

    lsn own(std::string id, std::size_t size) {
      std::lock_guard lock(mutex);
      const lsn at = ++last;
      owned.emplace(at, owned_record{std::move(id), size});
      bytes.fetch_add(size, std::memory_order_relaxed);
      return at;
    }

    void owned_after(lsn after, std::size_t n, std::vector<std::pair<lsn, std::string>>& out) {
      out.clear();
      std::lock_guard lock(mutex);
      for (auto it = owned.upper_bound(after); it != owned.end() && out.size() < n; ++it)
        out.emplace_back(it->first, it->second.id);
    }

    void owned_up_to(lsn at, std::size_t n, std::vector<std::pair<lsn, std::string>>& out) {
      out.clear();
      std::lock_guard lock(mutex);
      for (auto it = owned.begin(); it != owned.end() && it->first <= at && out.size() < n; ++it)
        out.emplace_back(it->first, it->second.id);
    }

    void forget(const std::vector<std::pair<lsn, std::string>>& page) {
      std::lock_guard lock(mutex);
      for (const auto& [at, id] : page) {
        if (auto it = owned.find(at); it != owned.end()) {
          bytes.fetch_sub(it->second.bytes, std::memory_order_relaxed);
          owned.erase(it);
        }
      }
    }

    redis_stream_journal_options options;
    std::string alive_prefix;
    std::string suspect_prefix;
    detail::redis_client<script_count> client;
    std::mutex mutex;  // guards last, checkpoint and owned
    std::mutex committing;  // one checkpoint at a time
    lsn last = 0;
    lsn checkpoint = 0;
    std::map<lsn, owned_record> owned;
    std::atomic<std::uint64_t> bytes{0};
    std::atomic<bool> closed{false};
    /// Appends hold it shared from their script to `own`; looking for lost
    /// records holds it alone, so it never mistakes one in flight for lost.
    std::shared_mutex appending;
    /// A reply was lost: `take_over` looks for records Redis holds for this
    /// consumer that it does not know of.
    std::atomic<bool> lost_track{false};
  };

  explicit redis_stream_journal(std::unique_ptr<state> s) noexcept : s_(std::move(s)) {}

  static error stopped() { return error{errc::stopped, "redis_stream_journal is closed or was moved from"}; }

  /// The record of an entry as XRANGE and XCLAIM return it: {id, {'r', record}}.
  static result<std::string> record_of(const redisReply& e) {
    if (e.type != REDIS_REPLY_ARRAY || e.elements != 2 || e.element[1]->type != REDIS_REPLY_ARRAY ||
        e.element[1]->elements != 2)
      return error{errc::corrupt, "Redis stream entry without a record"};
    const redisReply& rec = *e.element[1]->element[1];
    return std::string(rec.str, rec.len);
  }

  std::unique_ptr<state> s_;
};

static_assert(shared_journal<redis_stream_journal>);

}  // namespace storesync
