#pragma once
/// \file
/// `metrics_registry`: the counters, gauges and latency histograms every
/// strategy feeds, rendered as Prometheus text (exposition format 0.0.4);
/// storesync/metrics/registry_json.hpp renders them as JSON.
///
/// \code
///   storesync::metrics_registry metrics;                  // names get the "storesync_" prefix
///   auto puts = metrics.counter("write_behind_puts_total", "Puts acknowledged.");
///   auto lat  = metrics.histogram("write_behind_put_seconds", "Put latency.", {{"store", "fast"}});
///   auto pend = metrics.gauge("write_behind_pending", "Entries waiting for the flusher.");
///   puts.inc();                                 // lock-free, from any thread
///   lat.observe(std::chrono::microseconds(7));
///   pend.set(12);
///   std::string text = metrics.render_prometheus();   // for GET /metrics
/// \endcode
///
/// Look a metric up once (that takes a lock) and keep the handle: updates are
/// single relaxed atomic operations. Handles stay valid as long as the
/// registry. Asking again for the same name and labels returns the same cell.
/// A default-constructed handle is a no-op, so a component can take an
/// optional registry and update its handles unconditionally.
///
/// Histograms measure durations, in fixed buckets from 1 us to 10 s (1, 2.5
/// and 5 per decade) plus +Inf, and render in seconds as Prometheus expects.
///
/// Thread safety: every member of the registry and the handles is safe to
/// call from many threads. A render reads each cell atomically but not all
/// cells at one instant.

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "storesync/metrics/detail/cells.hpp"

namespace storesync {

/// Label pairs (name, value) of one series, e.g. {{"journal", "main"}}.
using metric_labels = std::vector<std::pair<std::string, std::string>>;

/// A monotonically increasing count.
class counter {
 public:
  counter() = default;
  explicit counter(detail::counter_cell* cell) noexcept : cell_(cell) {}
  void inc(std::uint64_t n = 1) const noexcept {
    if (cell_) cell_->value.fetch_add(n, std::memory_order_relaxed);
  }
  std::uint64_t value() const noexcept {
    return cell_ ? cell_->value.load(std::memory_order_relaxed) : 0;
  }
  /// False for a no-op handle (default-constructed, or a rejected registration).
  explicit operator bool() const noexcept { return cell_ != nullptr; }

 private:
  detail::counter_cell* cell_ = nullptr;
};

/// A value that goes up and down.
class gauge {
 public:
  gauge() = default;
  explicit gauge(detail::gauge_cell* cell) noexcept : cell_(cell) {}
  void set(double v) const noexcept {
    if (cell_) cell_->value.store(v, std::memory_order_relaxed);
  }
  void add(double d) const noexcept {
    if (cell_) cell_->value.fetch_add(d, std::memory_order_relaxed);
  }
  void sub(double d) const noexcept { add(-d); }
  double value() const noexcept { return cell_ ? cell_->value.load(std::memory_order_relaxed) : 0.0; }
  explicit operator bool() const noexcept { return cell_ != nullptr; }

 private:
  detail::gauge_cell* cell_ = nullptr;
};

/// A latency distribution in fixed buckets (1 us .. 10 s, +Inf).
class histogram {
 public:
  histogram() = default;
  explicit histogram(detail::histogram_cell* cell) noexcept : cell_(cell) {}
  /// Records one duration (negative counts as zero).
  void observe(std::chrono::nanoseconds d) const noexcept {
    if (cell_) cell_->observe(d.count() > 0 ? static_cast<std::uint64_t>(d.count()) : 0);
  }
  /// How many durations were recorded.
  std::uint64_t count() const noexcept {
    std::uint64_t n = 0;
    if (cell_)
      for (const auto& b : cell_->buckets) n += b.load(std::memory_order_relaxed);
    return n;
  }
  /// Their sum.
  std::chrono::nanoseconds sum() const noexcept {
    return std::chrono::nanoseconds(
        cell_ ? static_cast<std::int64_t>(cell_->sum_ns.load(std::memory_order_relaxed)) : 0);
  }
  /// Counts per bucket, cumulative as rendered: element i counts the
  /// durations up to bound i (1 us, 2.5 us, 5 us, ... 1 s, 10 s); the last
  /// (+Inf) counts them all.
  std::array<std::uint64_t, detail::latency_bounds_ns.size() + 1> cumulative_counts() const noexcept {
    if (!cell_) return {};
    return cell_->cumulative();
  }
  explicit operator bool() const noexcept { return cell_ != nullptr; }

 private:
  detail::histogram_cell* cell_ = nullptr;
};

class metrics_registry;

/// Keeps a refresh function registered with `metrics_registry::on_render`;
/// destroying it (or `reset`) unregisters the function and waits for a call
/// in progress, so the function never runs after its owner is gone.
class render_hook {
 public:
  render_hook() = default;
  render_hook(render_hook&& other) noexcept
      : registry_(std::exchange(other.registry_, nullptr)), id_(other.id_) {}
  render_hook& operator=(render_hook&& other) noexcept {
    if (this != &other) {
      reset();
      registry_ = std::exchange(other.registry_, nullptr);
      id_ = other.id_;
    }
    return *this;
  }
  ~render_hook() { reset(); }
  inline void reset() noexcept;

 private:
  friend class metrics_registry;
  render_hook(metrics_registry* registry, std::uint64_t id) noexcept : registry_(registry), id_(id) {}
  metrics_registry* registry_ = nullptr;
  std::uint64_t id_ = 0;
};

/// Owns metric cells and renders them. Not copyable or movable: handles
/// point into it.
class metrics_registry {
 public:
  /// `prefix` is put before every name ("storesync_" by default).
  explicit metrics_registry(std::string prefix = "storesync_") : prefix_(std::move(prefix)) {}
  metrics_registry(const metrics_registry&) = delete;
  metrics_registry& operator=(const metrics_registry&) = delete;

  /// The counter `prefix + name` with `labels`. By convention counter names
  /// end in `_total`. A name or label that Prometheus would reject, or a
  /// name already registered with another type, yields a no-op handle
  /// (`!handle`). The first `help` given for a name is kept.
  storesync::counter counter(std::string_view name, std::string_view help,
                             metric_labels labels = {}) {
    return storesync::counter(find_or_add(name, help, std::move(labels), kind::counter).c);
  }

  /// The gauge `prefix + name` with `labels` (rules as for `counter`).
  storesync::gauge gauge(std::string_view name, std::string_view help, metric_labels labels = {}) {
    return storesync::gauge(find_or_add(name, help, std::move(labels), kind::gauge).g);
  }

  /// The latency histogram `prefix + name` with `labels` (rules as for
  /// `counter`; by convention the name ends in `_seconds`; "le" is reserved).
  storesync::histogram histogram(std::string_view name, std::string_view help,
                                 metric_labels labels = {}) {
    return storesync::histogram(find_or_add(name, help, std::move(labels), kind::histogram).h);
  }

  /// Calls `refresh` at the start of every render (`render_prometheus`,
  /// `visit`, so also `to_json`), so that gauges mirroring a component's
  /// state are current when read, and the component's own queries stay free
  /// of side effects.
  /// The call lasts as long as the returned hook.
  [[nodiscard]] render_hook on_render(std::function<void()> refresh) {
    std::lock_guard lock(hooks_mu_);
    hooks_.emplace(++last_hook_, std::move(refresh));
    return render_hook(this, last_hook_);
  }

  /// Prometheus text exposition format: per name a HELP and a TYPE line, then
  /// one line per series (histograms: cumulative `_bucket{le=...}`, `_sum`
  /// in seconds, `_count`). Names in lexical order, series in registration order.
  std::string render_prometheus() const {
    refresh();
    std::string out;
    std::lock_guard lock(mu_);
    for (const auto& [name, f] : families_) {
      out += "# HELP ";
      out += name;
      out += ' ';
      detail::append_escaped(out, f.help, false);
      out += "\n# TYPE ";
      out += name;
      out += ' ';
      out += kind_name(f.type);
      out += '\n';
      for (const auto& s : f.all) {
        switch (f.type) {
          case kind::counter:
            sample(out, name, s.labels, {}, std::to_string(s.c->value.load(std::memory_order_relaxed)));
            break;
          case kind::gauge:
            sample(out, name, s.labels, {},
                   detail::format_double(s.g->value.load(std::memory_order_relaxed)));
            break;
          case kind::histogram: {
            const auto h = snapshot(*s.h);
            for (std::size_t i = 0; i < h.cumulative.size(); ++i)
              sample(out, name + "_bucket", s.labels, le_text(i), std::to_string(h.cumulative[i]));
            sample(out, name + "_sum", s.labels, {}, detail::format_double(h.sum_seconds));
            sample(out, name + "_count", s.labels, {}, std::to_string(h.cumulative.back()));
            break;
          }
        }
      }
    }
    return out;
  }

  /// Reads every series as the renderers do: runs the `on_render` hooks,
  /// then calls `f(name, help, labels, handle)` once per series (names in
  /// lexical order, series in registration order), where `name` and `help`
  /// are `const std::string&` and `handle` is the series' `storesync::counter`,
  /// `gauge` or `histogram`. For renderers of other formats, such as `to_json`
  /// (storesync/metrics/registry_json.hpp). `f` runs under the registry's
  /// lock: it must not register metrics.
  template <class F>
  void visit(F&& f) const {
    refresh();
    std::lock_guard lock(mu_);
    for (const auto& [name, fam] : families_) {
      for (const auto& s : fam.all) {
        switch (fam.type) {
          case kind::counter: f(name, fam.help, s.labels, storesync::counter(s.c.get())); break;
          case kind::gauge: f(name, fam.help, s.labels, storesync::gauge(s.g.get())); break;
          case kind::histogram: f(name, fam.help, s.labels, storesync::histogram(s.h.get())); break;
        }
      }
    }
  }

 private:
  friend class render_hook;
  enum class kind { counter, gauge, histogram };

  void refresh() const {
    std::lock_guard lock(hooks_mu_);
    for (const auto& [id, fn] : hooks_) fn();
  }

  void drop_hook(std::uint64_t id) noexcept {
    std::lock_guard lock(hooks_mu_);
    hooks_.erase(id);
  }

  struct series {
    metric_labels labels;
    std::unique_ptr<detail::counter_cell> c;
    std::unique_ptr<detail::gauge_cell> g;
    std::unique_ptr<detail::histogram_cell> h;
  };

  struct family {
    kind type;
    std::string help;
    std::vector<series> all;
  };

  struct cells {
    detail::counter_cell* c = nullptr;
    detail::gauge_cell* g = nullptr;
    detail::histogram_cell* h = nullptr;
  };

  struct histogram_snapshot {
    std::array<std::uint64_t, detail::latency_bounds_ns.size() + 1> cumulative{};
    double sum_seconds = 0;
  };

  static const char* kind_name(kind k) noexcept {
    switch (k) {
      case kind::counter: return "counter";
      case kind::gauge: return "gauge";
      case kind::histogram: return "histogram";
    }
    return "untyped";
  }

  static double bound_seconds(std::size_t i) noexcept {
    return static_cast<double>(detail::latency_bounds_ns[i]) / 1e9;
  }

  static std::string le_text(std::size_t i) {
    return i < detail::latency_bounds_ns.size() ? detail::format_double(bound_seconds(i)) : "+Inf";
  }

  static histogram_snapshot snapshot(const detail::histogram_cell& c) noexcept {
    histogram_snapshot h;
    h.cumulative = c.cumulative();
    h.sum_seconds = static_cast<double>(c.sum_ns.load(std::memory_order_relaxed)) / 1e9;
    return h;
  }

  static void sample(std::string& out, const std::string& name, const metric_labels& labels,
                     const std::string& le, const std::string& value) {
    out += name;
    if (!labels.empty() || !le.empty()) {
      out += '{';
      bool first = true;
      for (const auto& [k, v] : labels) {
        if (!first) out += ',';
        first = false;
        out += k;
        out += "=\"";
        detail::append_escaped(out, v, true);
        out += '"';
      }
      if (!le.empty()) {
        if (!first) out += ',';
        out += "le=\"";
        out += le;
        out += '"';
      }
      out += '}';
    }
    out += ' ';
    out += value;
    out += '\n';
  }

  // The cells of (name, labels), created on first use; all null if rejected.
  cells find_or_add(std::string_view name, std::string_view help, metric_labels labels, kind k) {
    const std::string full = prefix_ + std::string(name);
    if (!detail::valid_metric_name(full)) return {};
    for (const auto& label : labels)
      if (!detail::valid_label_name(label.first) || (k == kind::histogram && label.first == "le"))
        return {};
    std::sort(labels.begin(), labels.end());
    for (std::size_t i = 1; i < labels.size(); ++i)
      if (labels[i].first == labels[i - 1].first) return {};

    std::lock_guard lock(mu_);
    auto it = families_.try_emplace(full, family{k, std::string(help), {}}).first;
    family& f = it->second;
    if (f.type != k) return {};
    for (auto& s : f.all)
      if (s.labels == labels) return {s.c.get(), s.g.get(), s.h.get()};
    series& s = f.all.emplace_back();
    s.labels = std::move(labels);
    switch (k) {
      case kind::counter: s.c = std::make_unique<detail::counter_cell>(); break;
      case kind::gauge: s.g = std::make_unique<detail::gauge_cell>(); break;
      case kind::histogram: s.h = std::make_unique<detail::histogram_cell>(); break;
    }
    return {s.c.get(), s.g.get(), s.h.get()};
  }

  std::string prefix_;
  mutable std::mutex mu_;
  std::map<std::string, family> families_;
  mutable std::mutex hooks_mu_;  // held while hooks run: dropping one waits for its call
  std::map<std::uint64_t, std::function<void()>> hooks_;
  std::uint64_t last_hook_ = 0;
};

inline void render_hook::reset() noexcept {
  if (registry_) std::exchange(registry_, nullptr)->drop_hook(id_);
}

}  // namespace storesync
