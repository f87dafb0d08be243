#pragma once
// One seeded run of write_back under the simulation (policy/simulation.hpp):
// the real write_back over faulty memory stores (sources, sinks, run log,
// dead letters), with a seeded workload of source commits (late rows and
// invalid entries among them), runs, interrupted runs, crashes, outages and
// transient faults, and invariants checked after every run. A run is a
// function of its seed.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "storesync/policy/simulation.hpp"
#include "storesync/storesync.hpp"
#include "tests/simulation/sim_world.hpp"

namespace storesync::sim {

using wb_store = faulty_store<memory_store>;
using wb_type =
    write_back<wb_store, wb_store, wb_store, exponential_backoff, aimd_batch_sizer, sim_clock, sim_executor>;

class write_back_world : public world_base {
 public:
  /// Every store lives in memory: `directory` is not used.
  write_back_world(std::uint64_t seed, std::filesystem::path directory, bool trace = false);
  ~write_back_world();

  /// Runs `steps` steps, then heals every store, runs until a run completes
  /// and checks the end state. The first broken invariant, or nothing.
  std::optional<failure> run(std::uint64_t steps);

 private:
  /// What a source row holds; its JSON follows from (key, content, n).
  enum class content { value, marked_bad, unnamed, tombstone };
  enum class run_mode { full, interrupted, crash, dry };

  /// The current entry of a source key, as the world committed it.
  struct row {
    version_type version = 0;
    content what = content::value;
    std::uint64_t n = 0;
    /// The source's entry, and what the sink gets for it (nothing when the
    /// transform refuses it).
    entry source;
    std::optional<entry> sink;
    /// A run began since this entry was committed, so `excused` is known.
    bool judged = false;
    /// Behind the lookback window of the first run after its commit: no run
    /// ever reads it (write_back.hpp, "Late rows").
    bool excused = false;
    /// In a batch that a run committed with its checkpoint.
    bool landed = false;
  };

  struct stage_model {
    std::string name;
    std::unique_ptr<wb_store> source;
    wb_store* sink = nullptr;
    version_type lookback = 0;
    /// The source's commit clock, and content numbers handed out.
    version_type clock = 0;
    std::uint64_t contents = 0;
    std::map<std::string, row> rows;
    /// Keys the sink refuses for good (poisoned).
    std::set<std::string> refused;
    /// The stage's checkpoint, as last checked.
    watermark committed;
    // The run under way: the entries after its read bound, in (version,
    // key) order, how many of them committed batches hold, and what a
    // complete run would count.
    std::vector<watermark> window;
    std::size_t landed = 0;
    std::size_t expect_rejected = 0;
    std::size_t expect_refused = 0;
    std::size_t expect_applied = 0;
    std::size_t expect_skipped = 0;
    /// Keys of this stage the sink holds, as last checked.
    std::size_t sink_keys = 0;
  };

  /// A dead letter: (stage, source key, version).
  using letter_id = std::tuple<std::string, std::string, version_type>;

  void make_write_back();
  void set_faults();
  void outage(bool begin);
  void commit(bool late);
  std::optional<write_back_status> run_once(run_mode mode);
  void begin_stage(stage_model& s, bool dry);
  void on_batch(const write_back_stage_report& sr);
  void check_report(const write_back_report& report, run_mode mode, bool quiet, const std::string& resumes);
  void check_stage_report(stage_model& s, const write_back_stage_report& sr, bool dry, bool quiet);
  void check_stage_store(stage_model& s);
  void check_sink_sizes();
  void check_letters();
  void check_end();

  std::string pick_key(const stage_model& s, bool late);
  std::optional<std::string> refusal(const stage_model& s, const std::string& key, const row& r) const;
  std::optional<entry> sink_form(const entry& e) const;
  std::optional<watermark> checkpoint_of(stage_model& s);
  std::string running_run();
  /// What a dry run must leave as it was: each store's rows, checkpoints.
  std::vector<std::string> store_state();
  static entry make(const std::string& key, const row& r);
  static watermark bound(const stage_model& s, const watermark& committed);

  std::vector<std::unique_ptr<wb_store>> sinks_;
  std::unique_ptr<wb_store> runs_;
  std::unique_ptr<wb_store> letters_;
  std::vector<stage_model> stages_;
  std::vector<wb_type::stage> wb_stages_;
  std::unique_ptr<wb_type> wb_;

  /// What the sink gets for every entry a source ever held, by key and
  /// version (nothing when the transform refuses it).
  std::map<std::string, std::map<version_type, std::optional<entry>>, std::less<>> held_;
  /// Entries a run may have dead-lettered (with the reason's text), the
  /// dead letters found so far (the log only grows), and those a run must
  /// have written since the last check: entries of committed batches.
  std::map<letter_id, std::string> may_letter_;
  std::set<letter_id> letters_found_;
  std::vector<letter_id> must_letter_;
  /// Entries the run under way may dead-letter, not found in the log yet.
  std::vector<letter_id> letter_candidates_;

  // The world's make: 0 to 2 (none, light, heavy) random faults, on the
  // logs too or not; a stage transform; sink-refused keys.
  std::uint64_t fault_level_ = 0;
  bool faulty_logs_ = false;
  bool transform_ = false;
  std::uint32_t attempts_ = 4;
  bool sink_outage_ = false;
  bool source_outage_ = false;
  bool log_outage_ = false;
  std::uint64_t outage_steps_ = 0;
  std::uint64_t fault_changes_ = 0;

  // The run under way.
  std::atomic<bool> stop_{false};
  std::size_t stop_after_ = 0;
  std::size_t batches_ = 0;
  bool dry_ = false;
  /// The last run completed every stage, and no source changed since.
  bool quiet_ = false;
};

}  // namespace storesync::sim
