#pragma once
// Valid inputs the targets and the seed generator share: a real journal
// segment, written by file_journal as write-behind writes one (the journal
// target damages it per input), a typed table mapping and a write-back
// configuration (the flags target points the server's file flags at them).

#include <cstddef>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>

#include "storesync/journal/entry_codec.hpp"
#include "storesync/journal/file_journal.hpp"
#include "tests/fuzz/fuzz_support.hpp"

namespace storesync::fuzz {

/// A typed table mapping that uses every member (docs/server-api.md).
inline constexpr std::string_view sample_table_mapping = R"({
  "schema": "public", "table": "scores",
  "key": [{"column": "community_id", "type": "bigint"}, {"column": "profile_id", "type": "text"}],
  "version": {"column": "version", "type": "bigint"},
  "fields": [{"field": "score", "type": "integer", "required": true, "from_string": true},
             {"field": "ratio", "type": "numeric", "round": true},
             {"field": "tier", "type": "text", "default": "free"},
             {"field": "seen_at", "column": "seen", "type": "timestamptz"}],
  "rest": "extra",
  "metadata": {"deleted": "is_deleted"}
})";

/// A write-back configuration of two stages, one into a typed table.
inline constexpr std::string_view sample_write_back_config = R"({
  "source": "duckdb:analytics.duckdb",
  "sink": "postgresql://app@db/app",
  "stages": [
    {"name": "memories",
     "source": {"table": "memories", "key": ["id"], "version": "updated_at"},
     "sink": {"table": "memories", "key": [{"column": "id", "type": "bigint"}],
              "version": {"column": "updated_at", "type": "timestamptz"},
              "fields": [{"field": "content", "type": "text"}]},
     "lookback_ms": 600000,
     "checks": {"required": ["content"], "not_before": [["updated_at", "created_at"]]},
     "dbt_model": "memories"},
    {"name": "scores", "source": {"query": "SELECT key, value, version FROM scores"},
     "sink": {"schema": "app", "table": "scores"}, "unique_keys": false}
  ],
  "batch": {"initial_size": 1000, "max_size": 10000},
  "retry": {"base_ms": 50, "max_attempts": 6},
  "runs_table": "storesync_write_back_runs",
  "duckdb_memory_limit": "256MB",
  "duckdb_window_rows": 4096
})";

/// The name of the first segment of a journal: it starts at lsn 1.
inline constexpr std::string_view first_segment = "00000000000000000001.seg";

/// The bytes of a segment holding a handful of entry records.
inline std::string sample_segment() {
  const std::string dir = fresh_dir("sample-journal");
  {
    auto j = file_journal::open({.directory = dir, .durability = durability::process});
    STORESYNC_FUZZ_CHECK(j, "open the sample journal: " + j.error().message());
    for (const entry& e : {entry::put("user:1", R"({"name":"Ada","langs":["en","fr"]})", 1),
                           entry::put("user:2", "42", 2), entry::erase("user:1", 3), entry::put("", "", 4),
                           entry::put("big", "\"" + std::string(300, 'x') + "\"", 5)}) {
      auto at = j.value().append(encode_entry(e));
      STORESYNC_FUZZ_CHECK(at, "append to the sample journal: " + at.error().message());
    }
    auto closed = j.value().close();
    STORESYNC_FUZZ_CHECK(closed, "close the sample journal: " + closed.error().message());
  }
  std::ifstream in(dir + "/" + std::string(first_segment), std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace storesync::fuzz
