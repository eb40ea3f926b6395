// Seeded differential test of keel::Scheduler against a reference executor
// of what docs/systems.md promises: a topological order found the naive way
// (repeatedly, the first system in add order whose upstreams are all
// placed), and passes that run a root always and any other system only when
// one of its upstreams ran in the same pass and reported a change. Each seed
// builds a random DAG (now and then with a cycle, which install_driver must
// refuse) of bool and void systems, added in an order unrelated to the
// edges, then runs passes in which every system reports a random change and
// now and then one throws; between passes the Scheduler may be moved. Every
// run (which system, in which order, its Local state), run()'s count and
// every system's ran() and changed() are checked against the reference, and
// a mismatch names the seed and the step.
//
// kDefaultSeeds seeds run in `bazel test //...`; for more, or one alone
// (tests/rt/differential.h):
//   bazel test //tests/rt:scheduler_differential_test --test_env=KEEL_DIFFERENTIAL_SEEDS=20000
//   bazel test //tests/rt:scheduler_differential_test --test_env=KEEL_DIFFERENTIAL_SEED=1234
#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <numeric>
#include <optional>
#include <stdexcept>
#include <utility>
#include <vector>

#include "rt/error.h"
#include "rt/param.h"
#include "rt/scheduler.h"
#include "rt/world.h"
#include "tests/rt/differential.h"

namespace {

using keel::SystemId;
using keel_test::Differential;

constexpr std::uint64_t kDefaultSeeds = 250;
constexpr int kPasses = 20;

// --- the reference -----------------------------------------------------------------------

class Reference {
 public:
  explicit Reference(std::vector<std::vector<int>> upstreams)
      : upstreams_(std::move(upstreams)), ran_(upstreams_.size()), changed_(upstreams_.size()) {
    const std::size_t n = upstreams_.size();
    std::vector<bool> placed(n);
    for (std::size_t step = 0; step < n; ++step) {
      for (std::size_t s = 0; s < n; ++s) {
        if (placed[s]) continue;
        const auto& ups = upstreams_[s];
        if (std::all_of(ups.begin(), ups.end(), [&](int u) { return placed[static_cast<std::size_t>(u)]; })) {
          placed[s] = true;
          order_.push_back(static_cast<int>(s));
          break;
        }
      }
    }
  }

  // False when the edges form a cycle: no order places every system.
  bool ordered() const { return order_.size() == upstreams_.size(); }

  void begin_pass() {
    position_ = 0;
    ran_in_pass_ = 0;
  }
  // The next system of the pass to run; the ones it passes over are skipped.
  std::optional<int> next_due() {
    while (position_ < order_.size()) {
      const int s = order_[position_++];
      const auto& ups = upstreams_[static_cast<std::size_t>(s)];
      const bool due = ups.empty() || std::any_of(ups.begin(), ups.end(), [&](int u) {
                         return ran_[static_cast<std::size_t>(u)] && changed_[static_cast<std::size_t>(u)];
                       });
      set(s, false, false);
      if (due) return s;
    }
    return std::nullopt;
  }
  void ran(int s, bool changed) {
    set(s, true, changed);
    ++ran_in_pass_;
    ++runs_[static_cast<std::size_t>(s)];
  }
  // The system last returned by next_due() threw: it and every system after
  // it in the order did not run in this pass.
  void threw() {
    for (std::size_t p = position_ - 1; p < order_.size(); ++p) set(order_[p], false, false);
    position_ = order_.size();
  }

  std::size_t ran_in_pass() const { return ran_in_pass_; }
  bool ran(int s) const { return ran_[static_cast<std::size_t>(s)]; }
  bool changed(int s) const { return changed_[static_cast<std::size_t>(s)]; }
  int runs(int s) const { return runs_[static_cast<std::size_t>(s)]; }

 private:
  void set(int s, bool ran, bool changed) {
    ran_[static_cast<std::size_t>(s)] = ran;
    changed_[static_cast<std::size_t>(s)] = changed;
  }

  std::vector<std::vector<int>> upstreams_;  // by add index, no duplicates
  std::vector<int> order_;
  std::vector<bool> ran_;
  std::vector<bool> changed_;
  std::vector<int> runs_ = std::vector<int>(upstreams_.size());
  std::size_t position_ = 0;
  std::size_t ran_in_pass_ = 0;
};

// --- the Scheduler's side ------------------------------------------------------------------

struct SystemFailure : std::runtime_error {
  SystemFailure() : std::runtime_error("a system failed") {}
};

class Harness {
 public:
  explicit Harness(Differential& d) : d_(d), rng_(d.rng()) {}

  // Builds the graph; false when it has a cycle (and install_driver refused it).
  bool build() {
    const std::size_t n = rng_.percent(10) ? 30 + rng_.below(50) : 1 + rng_.below(24);
    // A hidden topological order, unrelated to the add order; edges go from
    // earlier to later in it, except now and then one against it, which
    // closes a cycle when a path already leads the other way (or is a
    // system after itself).
    std::vector<int> rank(n);
    std::iota(rank.begin(), rank.end(), 0);
    rng_.shuffle(rank.begin(), rank.end());
    const int density = static_cast<int>(rng_.between(0, 40));
    std::vector<std::pair<int, int>> edges;  // (downstream, upstream), repeats allowed
    for (std::size_t a = 0; a < n; ++a)
      for (std::size_t b = 0; b < n; ++b)
        if (rank[a] > rank[b] && rng_.percent(density)) edges.emplace_back(static_cast<int>(a), static_cast<int>(b));
    if (rng_.percent(10)) {
      const int a = static_cast<int>(rng_.below(n));
      const int b = static_cast<int>(rng_.below(n));
      edges.emplace_back(rank[static_cast<std::size_t>(a)] <= rank[static_cast<std::size_t>(b)] ? a : b,
                         rank[static_cast<std::size_t>(a)] <= rank[static_cast<std::size_t>(b)] ? b : a);
    }
    for (std::size_t k = edges.size() / 8; k > 0; --k) edges.push_back(edges[rng_.below(edges.size())]);
    rng_.shuffle(edges.begin(), edges.end());

    std::vector<std::vector<int>> upstreams(n);
    for (const auto& [down, up] : edges) {
      auto& ups = upstreams[static_cast<std::size_t>(down)];
      if (std::find(ups.begin(), ups.end(), up) == ups.end()) ups.push_back(up);
    }
    reference_.emplace(std::move(upstreams));

    keel::SchedulerInstaller sched;
    for (std::size_t s = 0; s < n; ++s) ids_.push_back(add(sched, static_cast<int>(s), rng_.percent(20)));
    for (std::size_t e = 0; e < edges.size();) {
      // One edge at a time, or a downstream with several upstreams at once.
      const auto [down, up] = edges[e];
      if (e + 1 < edges.size() && edges[e + 1].first == down) {
        sched.after(ids_[static_cast<std::size_t>(down)],
                    {ids_[static_cast<std::size_t>(up)], ids_[static_cast<std::size_t>(edges[e + 1].second)]});
        e += 2;
      } else {
        sched.after(ids_[static_cast<std::size_t>(down)], ids_[static_cast<std::size_t>(up)]);
        e += 1;
      }
    }
    if (rng_.percent(20)) sched = keel::SchedulerInstaller(std::move(sched));  // the ids follow the installer

    keel::WorldBuilder wb;
    bool refused = false;
    try {
      systems_.emplace(wb.install_driver(std::move(sched)));
    } catch (const keel::ConfigError&) {
      refused = true;
    }
    d_.expect_eq(refused, !reference_->ordered(), "install_driver() refused the graph as a cycle");
    if (refused) return false;
    world_.emplace(std::move(wb).build());
    d_.expect_eq(systems_->size(), n, "size()");
    d_.expect_eq(systems_->order().size(), n, "order().size()");
    return !d_.failed();
  }

  void run() {
    for (int pass = 0; pass < kPasses && !d_.failed(); ++pass) {
      if (rng_.percent(10)) {
        d_.step("move the scheduler");
        keel::Scheduler moved(std::move(*systems_));
        systems_.reset();
        systems_.emplace();
        *systems_ = std::move(moved);
      }
      d_.step("run");
      change_percent_ = static_cast<int>(rng_.between(0, 100));
      reference_->begin_pass();
      bool threw = false;
      std::size_t ran = 0;
      try {
        ran = systems_->run(*world_);
      } catch (const SystemFailure&) {
        threw = true;
      }
      if (d_.failed()) return;
      d_.expect_eq(threw, threw_, "whether run() threw");
      threw_ = false;
      if (!threw) {
        d_.expect_eq(reference_->next_due(), std::nullopt, "a system due in the pass that did not run");
        d_.expect_eq(ran, reference_->ran_in_pass(), "run()'s count");
      }
      for (std::size_t s = 0; s < ids_.size(); ++s) {
        d_.expect_eq(systems_->ran(ids_[s]), reference_->ran(static_cast<int>(s)), "ran(system ", s, ")");
        d_.expect_eq(systems_->changed(ids_[s]), reference_->changed(static_cast<int>(s)), "changed(system ", s, ")");
      }
    }
  }

  bool on_run(int s, int local_runs) {
    if (d_.failed()) return false;
    if (!d_.expect_eq(s, reference_->next_due().value_or(-1), "the system that runs")) return false;
    const bool changed = void_[static_cast<std::size_t>(s)] || rng_.percent(change_percent_);
    reference_->ran(s, changed);
    d_.expect_eq(local_runs, reference_->runs(s), "system ", s, "'s Local<int> run count");
    if (rng_.percent(2)) {
      reference_->threw();
      threw_ = true;
      throw SystemFailure();
    }
    return changed;
  }

 private:
  SystemId add(keel::SchedulerInstaller& sched, int s, bool returns_void) {
    void_.push_back(returns_void);
    if (returns_void) return sched.add([this, s](keel::Local<int> runs) { on_run(s, ++*runs); });
    return sched.add([this, s](keel::Local<int> runs) { return on_run(s, ++*runs); });
  }

  Differential& d_;
  keel_test::Rng& rng_;
  std::optional<Reference> reference_;
  std::optional<keel::Scheduler> systems_;
  std::optional<keel::World> world_;
  std::vector<SystemId> ids_;  // by add index
  std::vector<bool> void_;     // by add index
  int change_percent_ = 50;
  bool threw_ = false;
};

TEST(SchedulerDifferential, RandomGraphsAndChangesMatchAReferenceExecutor) {
  keel_test::run_seeds(kDefaultSeeds, [](Differential& d) {
    Harness harness(d);
    if (harness.build()) harness.run();
  });
}

}  // namespace
