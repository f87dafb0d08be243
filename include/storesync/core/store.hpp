#pragma once
/// \file
/// The tiered Store concepts. Each strategy asks only for the tier it uses:
///
/// | concept             | adds                                   | used by                  |
/// |---------------------|----------------------------------------|--------------------------|
/// | `store`             | read one key, write a batch            | every strategy           |
/// | `scannable_store`   | ordered keyset scan over a key range   | reconciler, repair       |
/// | `change_source`     | entries after a (version, key) mark    | write-back source (read-only is fine) |
/// | `checksum_store`    | (count, digest) of a key range         | reconciler               |
/// | `checkpoint_store`  | batch + named checkpoint, one commit   | write-back sink          |
/// | `versioned_store`   | the largest version it holds           | write-behind's version floor |
/// | `metadata_store`    | version, hash, tombstone of many keys  | write-back's "skip unchanged rows" |
/// | `restorable_store`  | compare-and-restore a previous entry   | strict dual-write's undo |
/// | `partitionable_store` | keys that cut a range by row count   | reconciler's bisection   |
/// | `sampling_store`    | such keys from a sample, cheaply       | reconciler's first cut of a large range |
/// | `part_checksum_store` | checksums of many parts in one call  | reconciler's bisection   |
///
/// \code
///   template <storesync::checkpoint_store Sink>
///   storesync::result<void> land(Sink& sink, std::span<const storesync::entry> batch) {
///     BOOST_OUTCOME_TRY(sink.write_with_checkpoint(batch, {"nightly", "v=42"}));
///     return storesync::success();
///   }
/// \endcode
///
/// What the compiler cannot check (the version guard, atomicity, ordering) is
/// checked by the conformance suite in storesync/testing/store_conformance.hpp,
/// which an adapter instantiates in its tests.
///
/// Keys order byte-wise (memcmp), in every adapter, so ranges and checksums
/// mean the same thing in every store.

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "storesync/core/entry.hpp"
#include "storesync/core/result.hpp"

namespace storesync {

/// The half-open key interval [first, last). `first` empty: from the first
/// key; `last` absent: to the last key.
struct key_range {
  std::string first;
  std::optional<std::string> last;

  bool contains(std::string_view key) const noexcept {
    return key >= first && (!last || key < *last);
  }
  /// True when no key can fall inside: `last` is at or before `first`.
  bool empty() const noexcept { return last && *last <= first; }
  friend bool operator==(const key_range&, const key_range&) = default;
};

/// A position in a change stream: everything up to and including
/// (version, key) has been consumed. The default is "from the beginning".
struct watermark {
  version_type version = 0;
  std::string key;

  friend auto operator<=>(const watermark&, const watermark&) = default;
};

/// The checksum of a key range: the number of rows (tombstones included) and
/// the sum of their `row_hash` values modulo 2^64. Two stores hold the same
/// rows in a range exactly when, short of a 2^-64 accident, the checksums match.
struct range_checksum {
  std::uint64_t count = 0;
  std::uint64_t digest = 0;

  void add(std::uint64_t row) noexcept {
    ++count;
    digest += row;  // unsigned: wraps modulo 2^64 by definition
  }
  friend bool operator==(const range_checksum&, const range_checksum&) = default;
};

/// A named position that commits together with a batch (see `checkpoint_store`).
struct checkpoint {
  std::string name;
  std::string value;
};

/// Reads one key and writes batches under the version guard.
///
/// **Requirements** (`s` an `S&`, `cs` a `const S&`, `key` a
/// `std::string_view`, `batch` a `std::span<const entry>`)
/// | expression       | returns                        | meaning |
/// |------------------|--------------------------------|---------|
/// | `s.read(key)`    | `result<std::optional<entry>>` | the stored entry, tombstones included (`tombstone == true`), or nothing if never written |
/// | `s.write(batch)` | `result<write_report>`         | applies each entry under the version guard, in batch order (so the newest of duplicates wins) |
/// | `cs.rules()`     | convertible to `value_rules`   | optional, not checked by the concept: the values the store can hold (storesync/core/value_rules.hpp); `rules_of(s)` reads it, and gives `any_json` for a store that states none |
/// | `cs.admits(e)`   | `result<void>`                 | optional, not checked by the concept: whether the store could hold entry `e` beyond `rules()` (a typed table converts its key and value); `store_admits(s, e)` calls it, and succeeds for a store that has none |
///
/// **Guarantees**:
/// - Every entry is validated (`validate`, against the store's `rules()` if
///   it states any, else `any_json`) before anything is written; an invalid
///   entry fails the call with `condition::invalid_input` naming its key, and
///   writes nothing. A store that cannot hold some valid JSON (PostgreSQL's
///   jsonb) states it in `rules()`, so that callers can refuse such values
///   before they promise anything; `rules_of(s)` reads it.
/// - Where the backend has transactions, a batch is atomic: all or nothing.
/// - Writing the same batch twice changes nothing the second time.
///
/// **Errors**: conditions `invalid_input`, `transient`, `unavailable`,
/// `overloaded`, `permanent`. Never throws.
/// **Thread safety**: a model documents its own; every shipped adapter is
/// safe to call from many threads.
/// **Models**: `memory_store`, `postgres_store`, `sqlite_store`,
/// `duckdb_store`, `faulty_store<S>`. Not `duckdb_query_source`, which has no
/// `write` (see `change_source`).
///
/// A type models `store` if `read` returns what the version guard kept for a
/// key and `write` validates a batch, then applies it under the version guard,
/// keeping the guarantees above.
template <class S>
concept store = requires(S& s, std::string_view key, std::span<const entry> batch) {
  { s.read(key) } -> std::same_as<result<std::optional<entry>>>;
  { s.write(batch) } -> std::same_as<result<write_report>>;
};

/// Whether `s` could hold `e` beyond its `rules()`: `s.admits(e)` when the
/// store has it, else success. A write path calls it at its door, after
/// checking the rules, for every store an entry must reach.
template <class S>
result<void> store_admits(const S& s, const entry& e) {
  if constexpr (requires { { s.admits(e) } -> std::same_as<result<void>>; }) return s.admits(e);
  else return success();
}

/// A `store` that lists a key range in key order, one page at a time.
///
/// **Requirements** (in addition to `store`; `s` an `S&`, `range` a
/// `const key_range&`, `after` a `std::string_view`, `limit` a `std::size_t`)
/// | expression                    | returns                      | meaning |
/// |-------------------------------|------------------------------|---------|
/// | `s.scan(range, after, limit)` | `result<std::vector<entry>>` | the entries whose key is in `range` and greater than `after` (pass the last key of the previous page; empty for the first page), ascending by key, at most `limit` of them; fewer than `limit` means the range is exhausted |
///
/// **Guarantees**:
/// - Keyset pagination (never OFFSET), so each key present for the whole scan
///   is returned exactly once, and a page costs the same wherever it starts.
/// - Tombstones are included.
///
/// **Errors**: as `store` (`invalid_input` for a bound the backend cannot
/// hold). Never throws.
/// **Thread safety**: as `store`.
/// **Models**: `memory_store`, `postgres_store`, `sqlite_store`,
/// `duckdb_store`, `faulty_store<S>` when `S` models it.
///
/// A type models `scannable_store` if it models `store` and `scan` pages
/// through a key range in key order, returning each key present for the whole
/// scan exactly once.
template <class S>
concept scannable_store =
    store<S> && requires(S& s, const key_range& range, std::string_view after, std::size_t limit) {
      { s.scan(range, after, limit) } -> std::same_as<result<std::vector<entry>>>;
    };

/// A source of what changed after a watermark; not necessarily a `store`.
///
/// **Requirements** (`s` an `S&`, `mark` a `const watermark&`, `limit` a
/// `std::size_t`)
/// | expression                     | returns                      | meaning |
/// |--------------------------------|------------------------------|---------|
/// | `s.changes_after(mark, limit)` | `result<std::vector<entry>>` | the entries with (version, key) > (mark.version, mark.key), ascending by (version, key), at most `limit` |
///
/// **Guarantees**:
/// - Passing the (version, key) of the last entry returned resumes exactly
///   after it, so a consumer that persists its watermark never skips and
///   never repeats.
/// - Tombstones are included.
///
/// **Errors**: as `store` (`invalid_input` for a watermark or a row the
/// backend cannot represent). Never throws.
/// **Thread safety**: a model documents its own; every shipped model is safe
/// to call from many threads.
/// **Models**: `memory_store`, `postgres_store`, `sqlite_store`,
/// `duckdb_store`, `faulty_store<S>` when `S` models it, and
/// `duckdb_query_source`. A source need not be writable: write-back reads a
/// DuckDB query and nothing writes it, so this is the one tier that does not
/// refine `store`.
///
/// A type models `change_source` if `changes_after` pages through its entries
/// in (version, key) order from any watermark, resuming exactly after the last
/// entry returned.
template <class S>
concept change_source = requires(S& s, const watermark& mark, std::size_t limit) {
  { s.changes_after(mark, limit) } -> std::same_as<result<std::vector<entry>>>;
};

/// A `store` that computes a range checksum itself, from stored row hashes.
///
/// **Requirements** (in addition to `store`; `s` an `S&`, `range` a
/// `const key_range&`)
/// | expression          | returns                  | meaning |
/// |---------------------|--------------------------|---------|
/// | `s.checksum(range)` | `result<range_checksum>` | the checksum of every row in `range`, tombstones included |
///
/// **Guarantees**:
/// - The checksum is defined exactly as `range_checksum` says, so any two
///   stores can be compared.
///
/// **Errors**: as `store`. Never throws.
/// **Thread safety**: as `store`.
/// **Models**: `memory_store`, `postgres_store`, `sqlite_store`,
/// `duckdb_store`, `faulty_store<S>` when `S` models it. For a
/// `scannable_store` without it, `checksum_by_scan`
/// (storesync/core/checksum.hpp) computes the same value by reading the rows.
///
/// A type models `checksum_store` if it models `store` and `checksum` returns
/// the (count, digest) that `range_checksum` defines over the rows of a range.
template <class S>
concept checksum_store = store<S> && requires(S& s, const key_range& range) {
  { s.checksum(range) } -> std::same_as<result<range_checksum>>;
};

/// A `store` that commits a batch together with a named checkpoint.
///
/// **Requirements** (in addition to `store`; `s` an `S&`, `batch` a
/// `std::span<const entry>`, `cp` a `const checkpoint&`, `name` a
/// `std::string_view`)
/// | expression                           | returns                              | meaning |
/// |--------------------------------------|--------------------------------------|---------|
/// | `s.write_with_checkpoint(batch, cp)` | `result<write_report>`               | as `write`, and sets checkpoint `cp.name` to `cp.value` in the same transaction |
/// | `s.load_checkpoint(name)`            | `result<std::optional<std::string>>` | the last committed value, or nothing |
///
/// **Guarantees**:
/// - The batch and its checkpoint commit together: after a crash either both
///   are visible or neither. This is what lets write-back resume after a
///   crash without re-sending or skipping rows.
/// - `write_with_checkpoint` keeps every guarantee of `write`.
///
/// **Errors**: as `store` (`invalid_input` also for a checkpoint the backend
/// cannot hold). Never throws.
/// **Thread safety**: as `store`.
/// **Models**: `memory_store`, `postgres_store`, `sqlite_store`,
/// `duckdb_store`, `faulty_store<S>` when `S` models it.
///
/// A type models `checkpoint_store` if it models `store` and
/// `write_with_checkpoint` commits a batch and its checkpoint as one, so that
/// after a crash `load_checkpoint` returns the new value exactly when the
/// batch is visible.
template <class S>
concept checkpoint_store =
    store<S> && requires(S& s, std::span<const entry> batch, const checkpoint& cp,
                         std::string_view name) {
      { s.write_with_checkpoint(batch, cp) } -> std::same_as<result<write_report>>;
      { s.load_checkpoint(name) } -> std::same_as<result<std::optional<std::string>>>;
    };

/// A `store` that knows the largest version it holds.
///
/// **Requirements** (in addition to `store`; `s` an `S&`)
/// | expression        | returns                | meaning |
/// |-------------------|------------------------|---------|
/// | `s.max_version()` | `result<version_type>` | the largest version of any stored entry, tombstones included; 0 when empty |
///
/// **Guarantees**:
/// - One indexed lookup (or a metadata read), never a scan of the values.
///   Write-behind uses it to hand out versions newer than anything stored,
///   whatever the wall clock says, and to know which writes it can call
///   `applied` before the store has seen them.
///
/// **Errors**: as `store`. Never throws.
/// **Thread safety**: as `store`.
/// **Models**: `memory_store`, `postgres_store`, `sqlite_store`,
/// `duckdb_store`, `faulty_store<S>` when `S` models it.
///
/// A type models `versioned_store` if it is a `store` whose `max_version()`
/// returns the largest stored version.
template <class S>
concept versioned_store = store<S> && requires(S& s) {
  { s.max_version() } -> std::same_as<result<version_type>>;
};

/// What a store holds for a key, without its value: the version, the carried
/// content hash and the tombstone flag. Enough to tell "same version", "same
/// content at another version" and "deleted" apart without shipping values.
struct entry_meta {
  version_type version = 0;
  content_hash hash;
  bool tombstone = false;

  friend bool operator==(const entry_meta&, const entry_meta&) = default;
};

/// The metadata of an entry.
inline entry_meta meta_of(const entry& e) noexcept { return {e.version, e.hash, e.tombstone}; }

/// A `store` that looks up the metadata of many keys in one call.
///
/// **Requirements** (in addition to `store`; `s` an `S&`, `keys` a
/// `std::span<const std::string_view>`)
/// | expression      | returns                                             | meaning |
/// |-----------------|-----------------------------------------------------|---------|
/// | `s.lookup(keys)`| `result<std::vector<std::optional<entry_meta>>>`    | one answer per key, in the order of `keys`: the stored version, hash and tombstone flag (tombstones included), or nothing for a key never written |
///
/// **Guarantees**:
/// - Agrees with `read`: the answer for a key is `meta_of` the entry `read`
///   returns. Every shipped model takes all answers from one snapshot.
/// - Never ships values, and costs one round trip to the backend however
///   many keys are asked (one statement, or one lock for `memory_store`).
/// - A key may appear more than once; each occurrence gets its answer. A key
///   no write can store (empty, control characters, not UTF-8) is reported
///   absent without asking the backend. No keys: no answers, no round trip.
///
/// **Errors**: `invalid_input` (`errc::invalid_key`) when a key is longer
/// than `max_key_size`, naming it, before anything is asked; otherwise as
/// `store`. Never throws.
/// **Thread safety**: as `store`.
/// **Models**: `memory_store`, `postgres_store`, `sqlite_store`,
/// `duckdb_store`, `faulty_store<S>` when `S` models it. For any `store`
/// without it, `lookup_by_read` (storesync/core/lookup.hpp) gives the same
/// answers with one `read` per key, and `lookup_meta` picks whichever the
/// store offers.
///
/// A type models `metadata_store` if it models `store` and `lookup` returns,
/// in one call and in request order, the metadata `read` would return for
/// each key.
template <class S>
concept metadata_store = store<S> && requires(S& s, std::span<const std::string_view> keys) {
  { s.lookup(keys) } -> std::same_as<result<std::vector<std::optional<entry_meta>>>>;
};

/// A `store` that puts a previous entry back if, and only if, the stored
/// version is still the one expected: the safe undo of a write.
///
/// **Requirements** (in addition to `store`; `s` an `S&`, `key` a
/// `std::string_view`, `expected` a `version_type`, `previous` a
/// `const std::optional<entry>&`)
/// | expression                           | returns        | meaning |
/// |--------------------------------------|----------------|---------|
/// | `s.restore(key, expected, previous)` | `result<void>` | atomically: if `key` is stored at exactly version `expected`, replaces its row by `previous` (value, version, hash and tombstone flag as given), or removes the key when `previous` is empty; otherwise changes nothing and fails with `errc::version_conflict` |
///
/// **Guarantees**:
/// - Compare and restore are one atomic step: a write that stored a newer
///   version first is never clobbered, whatever the interleaving. This is
///   why the undo needs its own operation: the version guard only moves
///   forward, so writing `previous` again would be ignored as stale.
/// - `previous`, when given, must name `key` and carry a version below
///   `expected`, and is validated like a written entry (`validate` against
///   the store's `rules()`); `expected` must be a valid version. Otherwise
///   the call fails with `invalid_input` and changes nothing.
/// - An empty `previous` (the key did not exist before the write being
///   undone) removes the row outright, tombstone and all: the store then
///   answers for `key` as for a key never written, and a later write of any
///   version applies.
/// - Consequences a caller must know: restoring lowers the stored version,
///   so `max_version()` may be lower afterwards. A `change_source` reader
///   whose watermark already passed `expected` does not see the undo as a
///   change (the restored row sorts before its watermark, a removed row is
///   gone); a consumer that must notice undos compares checksums instead.
///
/// **Errors**: `conflict` (`errc::version_conflict`, naming the key, the
/// expected and the stored version) when `key` is not stored at `expected`
/// (a newer write came in between, the write being undone never landed, or
/// it was already undone); `invalid_input` as above; otherwise as `store`.
/// Never throws.
/// **Thread safety**: as `store`; a restore is atomic with respect to
/// concurrent writes and restores through any handle on the same storage.
/// **Models**: `memory_store`, `postgres_store`, `sqlite_store`,
/// `duckdb_store`, `faulty_store<S>` when `S` models it.
///
/// A type models `restorable_store` if it models `store` and `restore`
/// replaces or removes a key's row exactly when its stored version equals
/// `expected`, atomically, and otherwise fails with `errc::version_conflict`
/// and changes nothing.
template <class S>
concept restorable_store =
    store<S> && requires(S& s, std::string_view key, version_type expected,
                         const std::optional<entry>& previous) {
      { s.restore(key, expected, previous) } -> std::same_as<result<void>>;
    };

/// A `store` that knows where to cut a key range into parts of similar row
/// counts (quantile boundaries).
///
/// **Requirements** (in addition to `store`; `s` an `S&`, `range` a
/// `const key_range&`, `parts` a `std::size_t`)
/// | expression                    | returns                            | meaning |
/// |-------------------------------|------------------------------------|---------|
/// | `s.split_points(range, parts)`| `result<std::vector<std::string>>` | up to `parts - 1` stored keys, strictly ascending, each inside `range` and after its first key, that cut `range` into sub-ranges of similar row counts (tombstones count as rows) |
///
/// **Guarantees**:
/// - Points are real keys: each cut is the first key of its sub-range, so
///   the sub-ranges `[range.first, p1)`, `[p1, p2)`, ..., `[pk, range.last)`
///   tile `range` and none is empty.
/// - Balanced: with `n` rows in `range` and no write during the call, there
///   are exactly `min(parts, n) - 1` points (none when `parts` is 0 or 1 or
///   the range is empty) and the sub-ranges' row counts differ by at most
///   one, larger first, as SQL's `ntile(parts)` deals the rows in key order.
/// - Costs a pass over the keys of `range` in the backend's key order and
///   ships only the points, never the values.
///
/// **Errors**: as `store` (`invalid_input` for a bound the backend cannot
/// hold). Never throws.
/// **Thread safety**: as `store`. Rows written during the call may or may not
/// be counted; the points still tile the range.
/// **Models**: `memory_store`, `postgres_store`, `sqlite_store`,
/// `duckdb_store`, `faulty_store<S>` when `S` models it. For any `store`,
/// `split_by_rows` (storesync/core/key_split.hpp) turns the points into
/// sub-ranges, and falls back to the byte-wise `split_range` for a store
/// without this tier.
///
/// A type models `partitionable_store` if it models `store` and
/// `split_points` returns stored keys, strictly ascending inside a range,
/// that deal its rows into sub-ranges of counts differing by at most one.
template <class S>
concept partitionable_store =
    store<S> && requires(S& s, const key_range& range, std::size_t parts) {
      { s.split_points(range, parts) } -> std::same_as<result<std::vector<std::string>>>;
    };

/// A `store` that can cut a large range into parts of roughly similar row
/// counts from a sample of its keys, reading a small share of the range.
///
/// **Requirements** (in addition to `store`; `s` an `S&`, `range` a
/// `const key_range&`, `parts` a `std::size_t`)
/// | expression                     | returns                            | meaning |
/// |--------------------------------|------------------------------------|---------|
/// | `s.sample_points(range, parts)`| `result<std::vector<std::string>>` | up to `parts - 1` stored keys, strictly ascending, each inside `range` and after its first key, at the sample's quantiles; or none |
///
/// **Guarantees**:
/// - Points, when there are any, are real keys that tile `range` as
///   `split_points`' do; the parts' row counts are only as even as a
///   random sample makes them.
/// - None when a sample of the range would be too small to say anything (a
///   range of few rows): the caller then uses `split_points`, whose exact
///   pass over such a range is cheap.
/// - Reads a small, bounded share of the table, never a pass over it.
///
/// **Errors**: as `store`. Never throws.
/// **Thread safety**: as `store`.
/// **Models**: `postgres_store` (`TABLESAMPLE SYSTEM`).
///
/// A type models `sampling_store` if it models `store` and `sample_points`
/// returns stored keys, strictly ascending inside a range, from a sample.
template <class S>
concept sampling_store = store<S> && requires(S& s, const key_range& range, std::size_t parts) {
  { s.sample_points(range, parts) } -> std::same_as<result<std::vector<std::string>>>;
};

/// A `checksum_store` that computes the checksums of the consecutive parts
/// of a range in one call (one round trip, one statement).
///
/// **Requirements** (in addition to `checksum_store`; `s` an `S&`, `range`
/// a `const key_range&`, `points` a `std::span<const std::string>`)
/// | expression                  | returns                                   | meaning |
/// |-----------------------------|-------------------------------------------|---------|
/// | `s.checksums(range, points)`| `result<std::vector<range_checksum>>`     | `points.size() + 1` checksums: of `[range.first, p1)`, `[p1, p2)`, ..., `[pk, range.last)` |
///
/// **Guarantees**: each checksum equals what `checksum` returns for its part.
/// **Errors**: as `checksum`; `invalid_input` when the points are not
/// strictly ascending inside `range`, after its first key. Never throws.
/// **Thread safety**: as `store`; rows written during the call may be
/// counted in some parts and not others.
/// **Models**: `postgres_store`, `sqlite_store`. For any other
/// `checksum_store`, `part_checksums` (storesync/core/checksum.hpp) asks
/// part by part.
///
/// A type models `part_checksum_store` if it models `checksum_store` and
/// `checksums` returns one `checksum` per part that `points` cut a range into.
template <class S>
concept part_checksum_store =
    checksum_store<S> && requires(S& s, const key_range& range, std::span<const std::string> points) {
      { s.checksums(range, points) } -> std::same_as<result<std::vector<range_checksum>>>;
    };

}  // namespace storesync
