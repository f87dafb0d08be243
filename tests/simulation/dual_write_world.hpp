#pragma once
// One seeded run of dual_write under the simulation (policy/simulation.hpp):
// the real dual_write, intent log (a file_journal), reconciler and stores,
// with a seeded consistency policy, projection mode in some worlds, a
// seeded workload, seeded faults and outages in the three stores, a
// simulated disk under the intent log (sim_file_system.hpp: power cuts in
// worlds whose intents are synced, failed fsyncs, a full disk), crashes in
// the middle of a write and between writes, restarts, repairs, and
// invariants checked as it goes. A run is a function of its seed.

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "storesync/policy/simulation.hpp"
#include "storesync/storesync.hpp"
#include "tests/simulation/sim_file_system.hpp"
#include "tests/simulation/sim_world.hpp"

namespace storesync::sim {

/// Which of the three models a world's writes run under; chosen per seed
/// and delegated to the model itself, so the decisions are the models'.
class seeded_consistency {
 public:
  enum class mode { strict, best_effort, primary_only };
  seeded_consistency() = default;
  explicit seeded_consistency(mode m) : mode_(m) {}

  bool write_secondary() const noexcept { return mode_ != mode::primary_only; }
  partial_failure_decision on_secondary_failure(const error& e) const noexcept {
    switch (mode_) {
      case mode::strict: return strict_consistency{}.on_secondary_failure(e);
      case mode::best_effort: return best_effort_consistency{}.on_secondary_failure(e);
      case mode::primary_only: return primary_only_consistency{}.on_secondary_failure(e);
    }
    return strict_consistency{}.on_secondary_failure(e);
  }
  mode which() const noexcept { return mode_; }

 private:
  mode mode_ = mode::strict;
};
static_assert(consistency_policy<seeded_consistency>);

using sim_store = faulty_store<memory_store>;
using dw_type = dual_write<sim_store, sim_store, sim_store, seeded_consistency, exponential_backoff, sim_clock>;

class dual_write_world : public world_base {
 public:
  /// `directory` is emptied and holds the intent log.
  dual_write_world(std::uint64_t seed, std::filesystem::path directory, bool trace = false);
  ~dual_write_world();

  /// Runs `steps` steps, then heals every store, restarts, repairs the
  /// inconsistency log and checks the end state. The first broken
  /// invariant, or nothing.
  std::optional<failure> run(std::uint64_t steps);

 private:
  enum side { primary_side, secondary_side, log_side };

  bool open();
  /// The process ends: its memory is lost, and it reaches no store and no
  /// file from then on; with `power_cut`, so does the machine, and the
  /// intent log keeps only what was synced.
  void close(bool power_cut = false);
  void crash_mid_write();
  void write_batch();
  void write_refused();
  void repair_log();
  void reconcile();
  void toggle_outage();
  void set_faults(side s);

  /// Whether the secondary holds what the primary's entry for `key` says it
  /// should (the entry, or its projection).
  bool agree(const std::string& key);
  /// Keys whose two sides disagree, of `keys`.
  std::set<std::string> disagreeing(const std::set<std::string>& keys);
  /// Keys the inconsistency log holds a record of.
  std::set<std::string> logged();
  /// Every key the two disagree on is recorded, or its intent may be open.
  void check_recorded(const std::set<std::string>& keys, const char* when);
  /// The primary holds each acknowledged key at its version or newer, as
  /// written.
  void check_primary(const std::set<std::string>& keys, const char* when);
  void check_all(const char* when);
  void check_end();

  std::string pick_key();
  std::vector<entry> draw_batch();
  static entry make(const std::string& key, version_type v);
  std::string show(const std::optional<entry>& e) const;
  std::set<std::string> all_keys() const;
  sim_store& store(side s) { return s == primary_side ? primary_ : s == secondary_side ? secondary_ : log_; }

  std::filesystem::path directory_;
  seeded_consistency consistency_;
  projection project_;
  std::size_t checkpoint_every_ = 1;
  sim_store primary_;
  sim_store secondary_;
  sim_store log_;
  bool outage_[3] = {false, false, false};
  std::unique_ptr<dw_type> dw_;
  /// The newest acknowledged version of each key.
  std::map<std::string, version_type> acked_;
  /// Every version a write carried, per key, acknowledged or not.
  std::map<std::string, std::set<version_type>> attempted_;
  /// Keys of writes that failed leaving their intent open since the last
  /// open: start-up repairs them.
  std::set<std::string> suspect_;
  sim_file_system& disk_ = sim_file_system::instance();
  /// Intents synced before each write (durability::always): a power cut
  /// keeps them.
  bool synced_intents_ = false;
};

}  // namespace storesync::sim
