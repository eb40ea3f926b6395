// Seeded differential test of keel::ReactorNotify and its mailboxes
// (rt/mailbox.h) against a reference model of what docs/reactors.md
// promises: sources with ordered subscriber lists, per reactor a bounded
// FIFO inbox, a list of the sources marked and reactors sent to since the
// last pass started, and passes that run each woken reactor once, in
// first-woken order (carried-over reactors of a pass that threw first).
// Each seed makes random source registrations and removals, spawns,
// subscriptions, unsubscriptions, removals, marks, sends, publishes and
// passes. Inside running reactors it does the same (itself included as the
// one removed or sent to, also while draining), queries, nested dispatches
// and throws (also from inside a drain); reactor contexts' destructors
// remove reactors, mark sources, send and spawn reactors. Every result,
// every run (which reactor, in which order, with its context and Local
// state), every drained event and every context destruction is checked
// against the model when it happens, and a mismatch names the seed and the
// step.
//
// kDefaultSeeds seeds run in `bazel test //...`; for more, or one alone
// (tests/rt/differential.h):
//   bazel test //tests/rt:reactor_differential_test --test_env=KEEL_DIFFERENTIAL_SEEDS=20000
//   bazel test //tests/rt:reactor_differential_test --test_env=KEEL_DIFFERENTIAL_SEED=1234
#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "rt/error.h"
#include "rt/mailbox.h"
#include "rt/param.h"
#include "rt/reactor.h"
#include "rt/world.h"
#include "tests/rt/differential.h"

namespace {

using keel::DataSource;
using keel::Delivery;
using keel::ReactorNotify;
using keel::ReactorToken;
using keel_test::Differential;

constexpr std::uint64_t kDefaultSeeds = 250;
constexpr int kSteps = 80;
constexpr std::size_t kInboxCapacity = 3;

// --- the model ---------------------------------------------------------------------------

class Model {
 public:
  enum class State { kLive, kRetired, kDestroyed };
  struct Reactor {
    State state = State::kLive;
    std::vector<int> sources;  // subscription order
    int runs = 0;
    std::deque<int> inbox;  // kept until the context is destroyed
    std::uint64_t dropped = 0;
  };
  struct Source {
    bool alive = true;
    std::vector<int> subscribers;  // subscription order
  };

  std::size_t reactor_ids() const { return reactors_.size(); }
  std::size_t source_ids() const { return sources_.size(); }
  const Reactor& reactor(int r) const { return reactors_[static_cast<std::size_t>(r)]; }

  int register_source() {
    sources_.emplace_back();
    return static_cast<int>(sources_.size()) - 1;
  }
  void remove_source(int s) {
    if (!contains_source(s)) return;
    Source& source = src(s);
    for (const int r : source.subscribers) std::erase(react(r).sources, s);
    source.subscribers.clear();
    source.alive = false;
  }
  bool contains_source(int s) const { return s >= 0 && sources_[static_cast<std::size_t>(s)].alive; }

  void mark(int s) {
    if (!contains_source(s) || listed(Wake{false, s})) return;
    dirty_.push_back(Wake{false, s});
  }
  // Puts a live reactor on the wake list, once.
  void wake(int r) {
    if (!contains(r) || listed(Wake{true, r})) return;
    dirty_.push_back(Wake{true, r});
  }

  Delivery send(int r, int value) {
    if (!contains(r)) return Delivery::gone;
    Reactor& x = react(r);
    if (x.inbox.size() == kInboxCapacity) {
      ++x.dropped;
      return Delivery::full;
    }
    x.inbox.push_back(value);
    wake(r);
    return Delivery::delivered;
  }
  std::size_t publish(int s, int value) {
    if (!contains_source(s)) return 0;
    mark(s);
    std::size_t accepted = 0;
    for (const int r : src(s).subscribers) {
      Reactor& x = react(r);
      if (x.inbox.size() == kInboxCapacity) {
        ++x.dropped;
        continue;
      }
      x.inbox.push_back(value);
      wake(r);
      ++accepted;
    }
    return accepted;
  }
  // The event a drain of reactor r takes next.
  std::optional<int> take_front(int r) {
    std::deque<int>& inbox = react(r).inbox;
    if (inbox.empty()) return std::nullopt;
    const int value = inbox.front();
    inbox.pop_front();
    return value;
  }
  // A drain of reactor r threw: the rest of its inbox wakes it for the next pass.
  void failed_drain(int r) {
    if (!react(r).inbox.empty()) wake(r);
  }

  int spawn() {
    reactors_.emplace_back();
    return static_cast<int>(reactors_.size()) - 1;
  }
  bool contains(int r) const { return r >= 0 && reactor(r).state == State::kLive; }
  bool subscribe(int r, int s) {
    if (!contains(r) || !contains_source(s)) return false;
    std::vector<int>& mine = react(r).sources;
    if (std::find(mine.begin(), mine.end(), s) != mine.end()) return false;
    mine.push_back(s);
    src(s).subscribers.push_back(r);
    return true;
  }
  bool unsubscribe(int r, int s) {
    if (!contains(r) || !contains_source(s)) return false;
    if (std::erase(react(r).sources, s) == 0) return false;
    std::erase(src(s).subscribers, r);
    return true;
  }
  bool remove(int r) {
    if (!contains(r)) return false;
    for (const int s : react(r).sources) std::erase(src(s).subscribers, r);
    react(r).sources.clear();
    if (in_pass_) {
      react(r).state = State::kRetired;
      retired_.push_back(r);
    } else {
      react(r).state = State::kDestroyed;
      doomed_.push_back(r);  // destroyed inside remove()
    }
    return true;
  }

  std::size_t subscriber_count(int s) const {
    return contains_source(s) ? sources_[static_cast<std::size_t>(s)].subscribers.size() : 0;
  }
  std::size_t source_count() const {
    return static_cast<std::size_t>(
        std::count_if(sources_.begin(), sources_.end(), [](const Source& s) { return s.alive; }));
  }
  std::size_t reactor_count() const {
    return static_cast<std::size_t>(
        std::count_if(reactors_.begin(), reactors_.end(), [](const Reactor& r) { return r.state == State::kLive; }));
  }
  bool pending() const { return !dirty_.empty() || !carried_.empty(); }
  bool in_pass() const { return in_pass_; }

  // A pass: who is woken is decided now; marks made from now on wait for
  // the next pass.
  void begin_pass() {
    queue_.clear();
    next_ = 0;
    ran_ = 0;
    std::vector<bool> woken(reactors_.size());
    auto wake = [&](int r) {
      if (!woken[static_cast<std::size_t>(r)]) {
        woken[static_cast<std::size_t>(r)] = true;
        queue_.push_back(r);
      }
    };
    for (const int r : carried_)
      if (contains(r)) wake(r);
    for (const Wake& w : dirty_) {
      if (w.reactor) {
        if (contains(w.id)) wake(w.id);
      } else if (contains_source(w.id)) {
        for (const int r : src(w.id).subscribers) wake(r);
      }
    }
    carried_.clear();
    dirty_.clear();
    in_pass_ = true;
  }
  // The next reactor of the pass to run: woken, and not removed since.
  std::optional<int> next_run() {
    while (next_ < queue_.size()) {
      const int r = queue_[next_++];
      if (contains(r)) return r;
    }
    return std::nullopt;
  }
  void ran(int r) {
    ++ran_;
    ++react(r).runs;
  }
  std::size_t ran_in_pass() const { return ran_; }
  // The running reactor threw: the pass ends, and the woken reactors that
  // had not run yet are carried over to the next.
  void threw() {
    for (std::size_t i = next_; i < queue_.size(); ++i)
      if (contains(queue_[i])) carried_.push_back(queue_[i]);
    end_pass();
  }
  // Reactors removed during the pass are destroyed now, in removal order.
  void end_pass() {
    in_pass_ = false;
    for (auto it = retired_.rbegin(); it != retired_.rend(); ++it) {
      react(*it).state = State::kDestroyed;
      doomed_.push_back(*it);
    }
    retired_.clear();
  }

  // Reactors whose contexts ReactorNotify must destroy now, the next one
  // last (a destructor may remove another reactor, which dies inside it).
  std::vector<int>& doomed() { return doomed_; }

 private:
  // An entry of the wake list: a marked source or a reactor sent to.
  struct Wake {
    bool reactor;
    int id;
    friend bool operator==(const Wake&, const Wake&) = default;
  };
  bool listed(const Wake& w) const { return std::find(dirty_.begin(), dirty_.end(), w) != dirty_.end(); }

  Reactor& react(int r) { return reactors_[static_cast<std::size_t>(r)]; }
  Source& src(int s) { return sources_[static_cast<std::size_t>(s)]; }
  const Source& src(int s) const { return sources_[static_cast<std::size_t>(s)]; }

  std::vector<Reactor> reactors_;
  std::vector<Source> sources_;
  std::vector<Wake> dirty_;
  std::vector<int> carried_;
  std::vector<int> queue_;
  std::size_t next_ = 0;
  std::size_t ran_ = 0;
  bool in_pass_ = false;
  std::vector<int> retired_;
  std::vector<int> doomed_;
};

// --- ReactorNotify's side -----------------------------------------------------------------

struct ReactorFailure : std::runtime_error {
  ReactorFailure() : std::runtime_error("a reactor failed") {}
};

class Harness;

// A reactor's context. Its one destruction (the object that holds the value
// after the moves into the reactor) is reported to the harness.
class Probe {
 public:
  Probe(Harness& harness, int id) : harness_(&harness), id_(id) {}
  Probe(Probe&& other) noexcept
      : runs(other.runs),
        inbox(std::move(other.inbox)),
        harness_(std::exchange(other.harness_, nullptr)),
        id_(other.id_) {}
  Probe& operator=(Probe&&) = delete;
  ~Probe();
  Harness& harness() const noexcept { return *harness_; }
  int id() const noexcept { return id_; }

  int runs = 0;  // counted by the reactor, in place
  keel::Inbox<int> inbox{kInboxCapacity};

 private:
  Harness* harness_;
  int id_;
};

void react(Probe& probe, keel::ResMut<ReactorNotify> rx, keel::Local<int> runs);

// What a context's destructor does, chosen at spawn.
struct OnDestroy {
  enum Kind { kNothing, kRemove, kMark, kSpawn, kSend } kind = kNothing;
  int target = -1;  // a reactor (kRemove, kSend) or a source (kMark)
};

class Harness {
 public:
  explicit Harness(Differential& d) : d_(d), rng_(d.rng()) {
    world_.emplace(keel::WorldBuilder{}.build());
    registry_ = &world_->registry();
    rx_ = &world_->resource<ReactorNotify>();
    for (std::uint64_t n = rng_.below(6); n > 0; --n) register_source();
  }

  void run() {
    for (int step = 0; step < kSteps && !d_.failed(); ++step) {
      const std::uint64_t r = rng_.below(100);
      if (r < 15) {
        d_.step("dispatch");
        dispatch();
      } else if (r < 20) {
        d_.step("dispatch until quiet");
        for (int pass = 0; pass < 4 && model_.pending() && !d_.failed(); ++pass) dispatch();
      } else {
        d_.step("outside a pass");
        act();
      }
      check_queries();
      d_.expect(model_.doomed().empty(), "a context the model has destroyed by the end of the step is alive");
    }
  }

  // Destroys the World, and with it every reactor still alive: each context
  // is destroyed once in all. Destructors may still remove, mark and spawn;
  // the model does not follow the teardown order.
  void tear_down() {
    d_.step("destroy the World");
    tearing_down_ = true;
    world_.reset();
    for (std::size_t id = 0; id < destroyed_.size(); ++id) {
      if (!d_.expect_eq(destroyed_[id], 1, "destructions of reactor ", id, "'s context")) return;
    }
  }

  void on_run(Probe& probe, ReactorNotify& rx, int local_runs) {
    if (d_.failed()) return;
    const int id = probe.id();
    if (!d_.expect_eq(id, model_.next_run().value_or(-1), "the reactor that runs")) return;
    d_.expect(&rx == rx_, "ResMut<ReactorNotify> in reactor ", id);
    d_.expect(rx.dispatching(), "dispatching() in reactor ", id);
    d_.expect(model_.doomed().empty(), "a context the model has destroyed before reactor ", id, " runs is alive");
    model_.ran(id);
    d_.expect_eq(++probe.runs, model_.reactor(id).runs, "reactor ", id, "'s context's run count");
    d_.expect_eq(local_runs, model_.reactor(id).runs, "reactor ", id, "'s Local<int> run count");
    running_ = id;
    drain(probe, id);
    for (std::uint64_t n = rng_.below(4); n > 0 && !d_.failed(); --n) act_inside();
    running_ = -1;
    if (d_.failed()) return;
    if (rng_.percent(3)) {
      model_.threw();
      throw ReactorFailure();
    }
  }

  // Drains the running reactor's inbox, checking each event against the
  // model; between events it acts (sending to itself among others), and now
  // and then its function throws, which ends the run.
  void drain(Probe& probe, int id) {
    const std::size_t queued = model_.reactor(id).inbox.size();
    const std::uint64_t throw_at = queued > 0 && rng_.percent(5) ? rng_.below(queued) : queued;
    std::uint64_t k = 0;
    const std::size_t drained = probe.inbox.drain([&](int value) {
      if (d_.failed()) return;
      d_.expect_eq(std::optional<int>(value), model_.take_front(id), "the event reactor ", id, " drains");
      if (k++ == throw_at) {
        model_.failed_drain(id);
        model_.threw();
        running_ = -1;
        throw ReactorFailure();
      }
      if (rng_.percent(30)) act_inside();
    });
    if (d_.failed()) return;
    d_.expect_eq(drained, queued, "events drained by reactor ", id);
  }

  void destroyed(int id) noexcept {
    ++destroyed_[static_cast<std::size_t>(id)];
    try {
      destroyed_acting(id, on_destroy_[static_cast<std::size_t>(id)]);
    } catch (const std::exception& error) {
      d_.fail("in reactor " + std::to_string(id) + "'s context's destructor: " + error.what());
    }
  }

 private:
  void destroyed_acting(int id, OnDestroy action) {
    if (tearing_down_) {
      if (action.kind == OnDestroy::kRemove) rx_->remove(reactors_[static_cast<std::size_t>(action.target)]);
      if (action.kind == OnDestroy::kMark) rx_->mark(sources_[static_cast<std::size_t>(action.target)]);
      if (action.kind == OnDestroy::kSpawn) spawn_unmodelled();
      if (action.kind == OnDestroy::kSend) static_cast<void>(rx_->send(address(action.target), -1));
      return;
    }
    if (d_.failed()) return;
    if (running_ >= 0) {
      d_.fail("reactor " + std::to_string(id) + "'s context was destroyed while reactor " + std::to_string(running_) +
              " runs");
      return;
    }
    if (model_.in_pass()) {
      // Destructions in a pass come after its last run.
      if (!d_.expect_eq(model_.next_run(), std::nullopt, "a reactor due in the pass when reactor ", id,
                        "'s context was destroyed")) {
        return;
      }
      model_.end_pass();
    }
    std::vector<int>& doomed = model_.doomed();
    if (doomed.empty() || doomed.back() != id) {
      d_.fail("reactor " + std::to_string(id) + "'s context was destroyed; the model destroys " +
              (doomed.empty() ? std::string("none now") : "reactor " + std::to_string(doomed.back())));
      return;
    }
    doomed.pop_back();
    if (action.kind == OnDestroy::kRemove) remove(action.target);
    if (action.kind == OnDestroy::kMark) mark(action.target);
    if (action.kind == OnDestroy::kSpawn) spawn(/*may_act_on_destroy=*/false);
    if (action.kind == OnDestroy::kSend) send(action.target);
  }

  // --- operations, on the model first and then on ReactorNotify ------------------------------

  void dispatch() {
    const bool pass = model_.pending();
    if (pass) model_.begin_pass();
    bool threw = false;
    std::size_t ran = 0;
    try {
      ran = world_->dispatch_reactors();
    } catch (const ReactorFailure&) {
      threw = true;
    }
    if (d_.failed()) return;
    d_.expect(!rx_->dispatching(), "dispatching() after a pass");
    if (threw) {
      d_.expect(!model_.in_pass(), "dispatch_reactors() threw; the model's pass had not");
      return;
    }
    if (model_.in_pass()) {
      d_.expect_eq(model_.next_run(), std::nullopt, "a reactor due in the pass that did not run");
      model_.end_pass();
    }
    d_.expect_eq(ran, pass ? model_.ran_in_pass() : 0, "dispatch_reactors()'s count");
  }

  // One random call, from outside a pass or (act_inside) from a running reactor.
  void act() {
    const std::uint64_t r = rng_.below(100);
    if (r < 5) {
      register_source();
    } else if (r < 9) {
      remove_source(pick_source());
    } else if (r < 27) {
      spawn();
    } else if (r < 39) {
      subscribe(pick_reactor(), pick_source());
    } else if (r < 45) {
      unsubscribe(pick_reactor(), pick_source());
    } else if (r < 52) {
      remove(pick_reactor());
    } else if (r < 74) {
      for (std::uint64_t n = rng_.below(6) + 1; n > 0; --n) mark(pick_source());
    } else if (r < 88) {
      for (std::uint64_t n = rng_.below(4) + 1; n > 0; --n) {
        send(running_ >= 0 && rng_.percent(30) ? running_ : pick_reactor());  // itself, now and then
      }
    } else if (r < 93) {
      publish(pick_source());
    } else {
      check_queries();
    }
  }
  void act_inside() {
    const std::uint64_t r = rng_.below(100);
    if (r < 10) {
      remove(running_);
    } else if (r < 15) {
      bool refused = false;
      try {
        world_->dispatch_reactors();
      } catch (const keel::ConfigError&) {
        refused = true;
      }
      d_.expect(refused, "dispatch_reactors() from inside a reactor throws ConfigError");
    } else {
      act();
    }
  }

  void register_source() {
    model_.register_source();
    sources_.push_back(rx_->register_source());
  }
  void remove_source(int s) {
    model_.remove_source(s);
    rx_->remove_source(source(s));
  }
  void mark(int s) {
    model_.mark(s);
    rx_->mark(source(s));
  }
  void send(int r) {
    const int value = next_value_++;
    const Delivery expected = model_.send(r, value);
    d_.expect_eq(rx_->send(address(r), value), expected, "send(reactor ", r, ", ", value, ")");
  }
  void publish(int s) {
    const int value = next_value_++;
    const std::size_t expected = model_.publish(s, value);
    d_.expect_eq(rx_->publish(source(s), &Probe::inbox, value), expected, "publish(source ", s, ", ", value, ")");
  }

  void spawn(bool may_act_on_destroy = true) {
    const int id = model_.spawn();
    OnDestroy action;
    if (may_act_on_destroy && rng_.percent(30)) {
      const std::uint64_t kind = rng_.below(4);
      const int any_reactor = static_cast<int>(rng_.below(model_.reactor_ids()));
      action = kind == 0   ? OnDestroy{OnDestroy::kRemove, any_reactor}
               : kind == 1 ? OnDestroy{OnDestroy::kMark, pick_source()}
               : kind == 2 ? OnDestroy{OnDestroy::kSpawn}
                           : OnDestroy{OnDestroy::kSend, any_reactor};
      if (action.kind == OnDestroy::kMark && action.target < 0) action = OnDestroy{};
    }
    on_destroy_.push_back(action);
    destroyed_.push_back(0);
    reactors_.push_back(rx_->spawn(Probe(*this, id), *registry_, react));
    addresses_.push_back(rx_->address(reactors_.back(), &Probe::inbox));
    for (std::uint64_t n = rng_.below(5); n > 0; --n) subscribe(id, pick_source());
  }
  // A reactor spawned while the World is torn down: only its destruction counts.
  void spawn_unmodelled() {
    const int id = static_cast<int>(reactors_.size());
    on_destroy_.push_back(OnDestroy{});
    destroyed_.push_back(0);
    reactors_.push_back(rx_->spawn(Probe(*this, id), *registry_, react));
    addresses_.push_back(rx_->address(reactors_.back(), &Probe::inbox));
  }
  void subscribe(int r, int s) {
    const bool expected = model_.subscribe(r, s);
    d_.expect_eq(rx_->subscribe(reactor(r), source(s)), expected, "subscribe(reactor ", r, ", source ", s, ")");
  }
  void unsubscribe(int r, int s) {
    const bool expected = model_.unsubscribe(r, s);
    d_.expect_eq(rx_->unsubscribe(reactor(r), source(s)), expected, "unsubscribe(reactor ", r, ", source ", s, ")");
  }
  void remove(int r) {
    const bool expected = model_.remove(r);
    d_.expect_eq(rx_->remove(reactor(r)), expected, "remove(reactor ", r, ")");
  }

  void check_queries() {
    d_.expect_eq(rx_->pending(), model_.pending(), "pending()");
    d_.expect_eq(rx_->reactor_count(), model_.reactor_count(), "reactor_count()");
    d_.expect_eq(rx_->source_count(), model_.source_count(), "source_count()");
    for (int k = 0; k < 2; ++k) {
      const int r = pick_reactor();
      const bool live = model_.contains(r);
      d_.expect_eq(rx_->contains(reactor(r)), live, "contains(reactor ", r, ")");
      const Probe* probe = rx_->context<Probe>(reactor(r));
      d_.expect_eq(probe != nullptr, live, "context(reactor ", r, ") is non-null");
      if (probe != nullptr) {
        d_.expect_eq(probe->id(), r, "the id in reactor ", r, "'s context");
        const Model::Reactor& modelled = model_.reactor(r);
        d_.expect_eq(probe->inbox.size(), modelled.inbox.size(), "reactor ", r, "'s inbox size()");
        d_.expect_eq(probe->inbox.dropped(), modelled.dropped, "reactor ", r, "'s inbox dropped()");
      }
      const keel::Address<int> to = rx_->address(reactor(r), &Probe::inbox);
      d_.expect_eq(static_cast<bool>(to), live, "address(reactor ", r, ") is non-empty");
      if (to) d_.expect(to == address(r), "address(reactor ", r, ") is the one taken at spawn");
      d_.expect(rx_->context<int>(reactor(r)) == nullptr, "context<int>(reactor ", r, ") is null");
      d_.expect_eq(rx_->name(reactor(r)).empty(), !live, "name(reactor ", r, ") is empty");
      const int s = pick_source();
      d_.expect_eq(rx_->contains(source(s)), model_.contains_source(s), "contains(source ", s, ")");
      d_.expect_eq(rx_->subscriber_count(source(s)), model_.subscriber_count(s), "subscriber_count(source ", s, ")");
    }
  }

  // Ids of any reactor or source (removed ones included), or -1 now and then.
  int pick_reactor() { return pick(model_.reactor_ids()); }
  int pick_source() { return pick(model_.source_ids()); }
  int pick(std::uint64_t n) {
    if (n == 0 || rng_.percent(3)) return -1;
    // Half the time one of the latest, which are more often still alive.
    return static_cast<int>(rng_.percent(50) ? n - 1 - rng_.below(std::min<std::uint64_t>(n, 6)) : rng_.below(n));
  }
  ReactorToken reactor(int r) const { return r < 0 ? ReactorToken{} : reactors_[static_cast<std::size_t>(r)]; }
  DataSource source(int s) const { return s < 0 ? DataSource{} : sources_[static_cast<std::size_t>(s)]; }
  keel::Address<int> address(int r) const {
    return r < 0 ? keel::Address<int>{} : addresses_[static_cast<std::size_t>(r)];
  }

  Differential& d_;
  keel_test::Rng& rng_;
  std::optional<keel::World> world_;
  const keel::Registry* registry_ = nullptr;
  ReactorNotify* rx_ = nullptr;
  Model model_;
  // Per reactor id, and per source id.
  std::vector<ReactorToken> reactors_;
  std::vector<keel::Address<int>> addresses_;
  std::vector<OnDestroy> on_destroy_;
  std::vector<int> destroyed_;
  std::vector<DataSource> sources_;
  int running_ = -1;
  int next_value_ = 0;  // the next event sent or published
  bool tearing_down_ = false;
};

Probe::~Probe() {
  if (harness_ != nullptr) harness_->destroyed(id_);
}

void react(Probe& probe, keel::ResMut<ReactorNotify> rx, keel::Local<int> runs) {
  probe.harness().on_run(probe, *rx, ++*runs);
}

TEST(ReactorNotifyDifferential, RandomOperationsIncludingReentrantOnesMatchAModel) {
  keel_test::run_seeds(kDefaultSeeds, [](Differential& d) {
    Harness harness(d);
    harness.run();
    harness.tear_down();
  });
}

}  // namespace
