#pragma once
// One seeded run of write_behind under the simulation (policy/simulation.hpp):
// the real write_behind, file journal and stores, with a seeded workload,
// seeded faults in the durable store, crashes and restarts, and invariants
// checked after every step. A run is a function of its seed.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <tuple>

#include "storesync/policy/simulation.hpp"
#include "storesync/storesync.hpp"
#include "tests/simulation/sim_world.hpp"

namespace storesync::sim {

using namespace std::chrono_literals;

using durable_store = faulty_store<memory_store>;
using wb_type = write_behind<memory_store, durable_store, exponential_backoff, aimd_batch_sizer, block_for,
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
  void crash();
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

  std::filesystem::path directory_;
  durable_store durable_;
  std::unique_ptr<memory_store> fast_;
  std::unique_ptr<wb_type> wb_;
  write_behind_options options_;
  std::map<std::string, acked> model_;
  std::set<std::string> poisoned_;
  /// Every acknowledged (key, version, tombstone), and those `accepted`.
  std::set<std::tuple<std::string, version_type, bool>> written_;
  std::set<std::tuple<std::string, version_type, bool>> accepted_;
  std::size_t owed_allowance_ = 0;
  std::size_t bytes_allowance_ = 0;
  bool capped_fast_ = false;
  bool outage_ = false;
  version_type wall_offset_ = 0;
};

}  // namespace storesync::sim
