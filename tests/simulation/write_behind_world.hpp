#pragma once
// One seeded run of write_behind under the simulation (policy/simulation.hpp):
// the real write_behind, file journal and stores, with a seeded workload,
// seeded faults in the durable and fast stores, a simulated disk under the journals
// (sim_file_system.hpp: power cuts, torn writes, a full disk, failed
// fsyncs), crashes and restarts, and invariants checked after every step.
// A run is a function of its seed.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <tuple>

#include "storesync/policy/simulation.hpp"
#include "storesync/storesync.hpp"
#include "tests/simulation/sim_file_system.hpp"
#include "tests/simulation/sim_world.hpp"

namespace storesync::sim {

using namespace std::chrono_literals;

using durable_store = faulty_store<memory_store>;
using fast_store = faulty_store<memory_store>;
using wb_type = write_behind<fast_store, durable_store, exponential_backoff, aimd_batch_sizer, block_for,
                             sim_clock, file_journal, sim_executor>;

class write_behind_world : public world_base {
 public:
  /// `directory` is emptied and holds the journals.
  write_behind_world(std::uint64_t seed, std::filesystem::path directory, bool trace = false);
  ~write_behind_world();

  /// Runs `steps` steps, then heals the durable store, flushes and checks
  /// the end state. The first broken invariant, or nothing.
  std::optional<failure> run(std::uint64_t steps);

 private:
  /// The newest acknowledged write of a key.
  struct acked {
    version_type version = 0;
    bool tombstone = false;
  };

  void open();
  /// The process dies (its memory is lost, and it reaches no store and no
  /// file from then on); with `power_cut`, so does the machine: the
  /// journals keep only what was synced.
  void crash(bool power_cut = false);
  void restart_cleanly();
  void write(bool server_version, bool erase, bool never_wait);
  void read();
  void flush();
  void check_bounds();
  void check_durable(const char* when);
  void check_end();

  std::string pick_key();
  static entry make(const std::string& key, version_type v, bool tombstone);
  void set_durable_faults();
  /// Whether the disk failed a call since the last start-up: a write,
  /// flush or stop may then fail, and a failed write is in doubt.
  bool disk_failed() const { return disk_.injected() != disk_faults_at_open_; }
  bool disk_chance(double p) { return std::uniform_real_distribution<double>(0, 1)(disk_random_) < p; }
  /// Whether `e` is a write of `key` in doubt, newer than `newest` (the
  /// newest acknowledged version): what the key may hold instead of that.
  bool may_hold(const std::string& key, const entry& e, version_type newest) const;

  std::filesystem::path directory_;
  durable_store durable_;
  std::unique_ptr<fast_store> fast_;
  std::unique_ptr<wb_type> wb_;
  write_behind_options options_;
  std::map<std::string, acked> model_;
  std::set<std::string> poisoned_;
  /// Every acknowledged (key, version, tombstone), and those `accepted`.
  std::set<std::tuple<std::string, version_type, bool>> written_;
  std::set<std::tuple<std::string, version_type, bool>> accepted_;
  /// Writes that failed on the disk: they may or may not have landed.
  std::map<std::string, std::set<std::pair<version_type, bool>>> doubtful_;
  sim_file_system& disk_ = sim_file_system::instance();
  /// The disk's choices (durability mode, fsync failures, a full disk,
  /// power cuts) are drawn from a stream of their own.
  std::mt19937_64 disk_random_;
  bool synced_journal_ = false;
  std::uint64_t disk_faults_at_open_ = 0;
  std::size_t owed_allowance_ = 0;
  std::size_t bytes_allowance_ = 0;
  bool capped_fast_ = false;
  /// The fast store fails some calls (transient faults), in some worlds.
  bool faulty_fast_ = false;
  /// Whether the fast store failed a call since `fast_faults_` was taken.
  bool fast_failed(std::size_t since) const { return fast_->injected() != since; }
  bool outage_ = false;
  version_type wall_offset_ = 0;
};

}  // namespace storesync::sim
