#pragma once
/// \file
/// Umbrella header: everything in //:storesync (core vocabulary, store
/// concepts, policies, the journal, metrics, memory and fault-injecting
/// stores, strategies). Backend adapters have their own headers and targets,
/// e.g. storesync/store/postgres_store.hpp (//:postgres).
///
/// JSON glue is left out so that a program which does not read or write JSON
/// does not compile nlohmann_json: include it where it is used,
/// storesync/policy/config.hpp (policy configs, `load_config`),
/// storesync/journal/journal_options_json.hpp (`parse_journal_options`) and
/// storesync/metrics/registry_json.hpp (`render_json`).

#include "storesync/core/checksum.hpp"
#include "storesync/core/entry.hpp"
#include "storesync/core/error.hpp"
#include "storesync/core/key_split.hpp"
#include "storesync/core/lookup.hpp"
#include "storesync/core/restore.hpp"
#include "storesync/core/result.hpp"
#include "storesync/core/store.hpp"
#include "storesync/core/value_rules.hpp"
#include "storesync/core/version_clock.hpp"
#include "storesync/core/watermark_codec.hpp"
#include "storesync/journal/entry_codec.hpp"
#include "storesync/journal/file_journal.hpp"
#include "storesync/journal/journal.hpp"
#include "storesync/metrics/registry.hpp"
#include "storesync/policy/aimd_batch_sizer.hpp"
#include "storesync/policy/backpressure_policy.hpp"
#include "storesync/policy/batch_sizer.hpp"
#include "storesync/policy/best_effort_consistency.hpp"
#include "storesync/policy/clock.hpp"
#include "storesync/policy/consistency_policy.hpp"
#include "storesync/policy/exponential_backoff.hpp"
#include "storesync/policy/manual_clock.hpp"
#include "storesync/policy/primary_only_consistency.hpp"
#include "storesync/policy/retry_budget.hpp"
#include "storesync/policy/retry_policy.hpp"
#include "storesync/store/faulty_store.hpp"
#include "storesync/store/memory_store.hpp"
#include "storesync/store/table_mapping.hpp"
#include "storesync/strategy/dual_write.hpp"
#include "storesync/strategy/reconciler.hpp"
#include "storesync/strategy/write_back.hpp"
#include "storesync/strategy/write_back_checks.hpp"
#include "storesync/strategy/write_behind.hpp"
