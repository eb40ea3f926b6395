// Seeded differential test of keel::TimerWheel against a reference model: a
// std::multimap from deadline to timer, whose equal keys keep insertion
// order — the wheel's tie-break, where a reschedule and a periodic re-arm
// count as new schedules. Each seed makes random schedules (one-shot, and
// periodic in both missed-tick modes), cancels, reschedules, clock moves
// (forwards by nanoseconds to years, and backwards) and polls. Inside firing
// handlers it makes random schedules, cancels and reschedules (of the firing
// timer too), queries, nested polls and throws; handler destructors cancel
// or schedule timers. Every result, every firing (which timer, its deadline,
// its sequence number) and every handler destruction is checked against the
// model when it happens, and a mismatch names the seed and the step.
//
// kDefaultSeeds seeds run in `bazel test //...`; for more, or one alone
// (tests/rt/differential.h):
//   bazel test //tests/rt:timer_differential_test --test_env=KEEL_DIFFERENTIAL_SEEDS=20000
//   bazel test //tests/rt:timer_differential_test --test_env=KEEL_DIFFERENTIAL_SEED=1234
#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "rt/error.h"
#include "rt/param.h"
#include "rt/testing.h"
#include "rt/timer.h"
#include "rt/world.h"
#include "tests/rt/differential.h"

namespace {

using namespace std::chrono_literals;
using keel::Instant;
using keel::TimerToken;
using keel::TimerWheel;
using keel_test::Differential;

constexpr std::uint64_t kDefaultSeeds = 250;
constexpr int kSteps = 80;

// Instants as nanosecond counts, so that mismatch reports print them.
std::int64_t ns(Instant t) { return t.time_since_epoch().count(); }
std::optional<std::int64_t> ns(std::optional<Instant> t) {
  if (!t) return std::nullopt;
  return ns(*t);
}

// --- the model ---------------------------------------------------------------------------

// What the wheel documents (rt/timer.h, docs/timers.md), written the plain
// way: pending timers in a multimap by deadline; a poll fires, in map order,
// the entries due when it starts that are still the same arming of their
// timer (not cancelled or moved since); a timer armed during the poll waits
// for a later one.
class Model {
 public:
  enum class State { kPending, kFiring, kDone };
  struct Timer {
    State state = State::kPending;
    Instant deadline{};                  // pending: when it fires; firing: the deadline it fires for
    std::chrono::nanoseconds period{0};  // zero: one-shot
    bool skip_missed = true;
    std::uint64_t arming = 0;
    std::multimap<Instant, int>::iterator where{};  // pending: its entry
    // While it fires: whether it will be armed again, and how.
    bool continues = false;  // periodic, not cancelled
    std::optional<Instant> moved_to{};
    bool cancelled = false;
  };

  const Timer& timer(int id) const { return timers_[static_cast<std::size_t>(id)]; }
  std::size_t count() const { return timers_.size(); }
  int firing() const { return firing_; }

  int schedule(Instant deadline, std::chrono::nanoseconds period, bool skip_missed) {
    const int id = static_cast<int>(timers_.size());
    timers_.push_back(Timer{.period = period, .skip_missed = skip_missed});
    arm(id, deadline);
    return id;
  }

  bool cancel(int id) {
    Timer& t = at(id);
    switch (t.state) {
      case State::kPending:
        pending_.erase(t.where);
        t.state = State::kDone;
        doomed_.push_back(id);  // destroyed inside cancel()
        return true;
      case State::kFiring:
        // A firing one-shot has fired, unless it re-armed itself; a firing
        // periodic timer is cancelled once.
        if (t.cancelled || (!t.continues && !t.moved_to)) return false;
        t.cancelled = true;
        t.continues = false;
        t.moved_to.reset();
        return true;
      case State::kDone:
        return false;
    }
    return false;
  }

  bool reschedule(int id, Instant deadline) {
    Timer& t = at(id);
    switch (t.state) {
      case State::kPending:
        pending_.erase(t.where);
        arm(id, deadline);
        return true;
      case State::kFiring:
        if (t.cancelled) return false;
        t.moved_to = deadline;
        return true;
      case State::kDone:
        return false;
    }
    return false;
  }

  bool contains(int id) const {
    const Timer& t = timer(id);
    if (t.state == State::kFiring) return !t.cancelled && (t.continues || t.moved_to);
    return t.state == State::kPending;
  }

  std::optional<Instant> deadline(int id) const {
    const Timer& t = timer(id);
    if (t.state == State::kPending) return t.deadline;
    if (t.state != State::kFiring || t.cancelled) return std::nullopt;
    if (t.moved_to) return t.moved_to;
    if (t.continues) return next_period(t);
    return std::nullopt;
  }

  std::size_t size() const { return pending_.size() + (firing_ >= 0 && contains(firing_) ? 1 : 0); }

  std::optional<Instant> next_deadline() const {
    if (pending_.empty() || pending_.begin()->first == Instant::max()) return std::nullopt;
    return pending_.begin()->first;
  }

  void begin_poll(Instant now) {
    now_ = now;
    due_.clear();
    next_ = 0;
    fired_ = 0;
    threw_ = false;
    for (auto it = pending_.begin(); it != pending_.end() && it->first <= now; ++it) {
      due_.emplace_back(it->second, timer(it->second).arming);
    }
  }
  // The next timer this poll fires, if any.
  std::optional<int> next_due() {
    while (next_ < due_.size()) {
      const auto [id, arming] = due_[next_++];
      const Timer& t = timer(id);
      if (t.state == State::kPending && t.arming == arming) return id;
    }
    return std::nullopt;
  }
  void begin_fire(int id) {
    Timer& t = at(id);
    pending_.erase(t.where);
    t.state = State::kFiring;
    t.continues = t.period.count() > 0;
    t.moved_to.reset();
    t.cancelled = false;
    firing_ = id;
    ++fired_;
  }
  // When the handler returns (or throws).
  void end_fire() {
    Timer& t = at(firing_);
    if (t.moved_to) {
      arm(firing_, *t.moved_to);
    } else if (t.continues) {
      arm(firing_, next_period(t));
    } else {
      t.state = State::kDone;
      doomed_.push_back(firing_);  // destroyed when its run is over
    }
    firing_ = -1;
  }
  void threw() { threw_ = true; }
  bool poll_threw() const { return threw_; }
  std::size_t fired() const { return fired_; }

  // Timers whose handlers the wheel must destroy now, the innermost last (a
  // destructor may cancel another timer, whose handler dies inside it).
  std::vector<int>& doomed() { return doomed_; }

 private:
  Timer& at(int id) { return timers_[static_cast<std::size_t>(id)]; }

  void arm(int id, Instant deadline) {
    Timer& t = at(id);
    t.state = State::kPending;
    t.deadline = deadline;
    t.arming = ++armings_;
    t.where = pending_.emplace(deadline, id);  // after the equal keys: schedule order
  }

  // A periodic timer's next deadline after firing for t.deadline in a poll
  // at now_: the next period (kBurst), or the first period boundary after
  // now_ (kSkip).
  Instant next_period(const Timer& t) const {
    const Instant next = t.deadline + t.period;
    if (!t.skip_missed || next > now_) return next;
    return t.deadline + ((now_ - t.deadline) / t.period + 1) * t.period;
  }

  std::vector<Timer> timers_;
  std::multimap<Instant, int> pending_;
  std::uint64_t armings_ = 0;
  std::vector<std::pair<int, std::uint64_t>> due_;
  std::size_t next_ = 0;
  std::size_t fired_ = 0;
  bool threw_ = false;
  int firing_ = -1;
  Instant now_{};
  std::vector<int> doomed_;
};

// --- the wheel's side ---------------------------------------------------------------------

struct HandlerFailure : std::runtime_error {
  HandlerFailure() : std::runtime_error("a timer handler failed") {}
};

class Harness;

// Held by a timer's handler: its one destruction (by whichever object holds
// it after the handler's moves) is the handler's, reported to the harness.
class Guard {
 public:
  Guard(Harness& harness, int id) noexcept : harness_(&harness), id_(id) {}
  Guard(Guard&& other) noexcept : harness_(std::exchange(other.harness_, nullptr)), id_(other.id_) {}
  Guard& operator=(Guard&&) = delete;
  ~Guard();
  Harness& harness() const noexcept { return *harness_; }
  int id() const noexcept { return id_; }

 private:
  Harness* harness_;
  int id_;
};

struct Fire {
  Guard guard;
  void operator()(keel::ResMut<TimerWheel> wheel, keel::Seq seq, Instant at) const;
};
// Too big for the wheel's inline storage: stored boxed.
struct BigFire {
  Guard guard;
  std::array<std::byte, TimerWheel::kInlineBytes> ballast{};
  void operator()(keel::ResMut<TimerWheel> wheel, keel::Seq seq, Instant at) const;
};

// What a handler's destructor does, chosen when it is scheduled.
struct OnDestroy {
  enum Kind { kNothing, kCancel, kSchedule } kind = kNothing;
  int target = -1;  // kCancel
};

class Harness {
 public:
  explicit Harness(Differential& d) : d_(d), rng_(d.rng()) {
    constexpr std::array<std::chrono::nanoseconds, 6> kResolutions = {1ns, 1us, 37us, 100us, 250us, 1ms};
    constexpr std::array<std::chrono::nanoseconds, 4> kStarts = {0ns, 1234567ns, std::chrono::hours(24 * 3) + 5ns,
                                                                 std::chrono::hours(24 * 365 * 10) + 123456789ns};
    clock_.set(Instant{} + kStarts[rng_.below(kStarts.size())]);
    keel::WorldBuilder wb;
    poller_.emplace(wb.install_driver(
        keel::TimerInstaller{.resolution = kResolutions[rng_.below(kResolutions.size())], .capacity = rng_.below(16)}));
    world_.emplace(std::move(wb).build());
    wheel_ = &world_->resource<TimerWheel>();
    sequence_ = world_->sequence();
  }

  void run() {
    for (int step = 0; step < kSteps && !d_.failed(); ++step) {
      const std::uint64_t r = rng_.below(100);
      if (r < 30) {
        d_.step("schedule");
        schedule(clock_.now());
      } else if (r < 42) {
        d_.step("cancel");
        cancel(pick());
      } else if (r < 52) {
        d_.step("reschedule");
        reschedule(pick(), deadline_near(clock_.now()));
      } else {
        d_.step("poll");
        poll();
      }
      check_queries();
      d_.expect(model_.doomed().empty(), "a handler the model has destroyed by the end of the step is alive");
    }
  }

  // Destroys the World, and with it every handler still held: each handler
  // is destroyed once in all. Destructors may still cancel and schedule; the
  // model does not follow the wheel's teardown order.
  void tear_down() {
    d_.step("destroy the World");
    tearing_down_ = true;
    world_.reset();
    for (std::size_t id = 0; id < destroyed_.size(); ++id) {
      if (!d_.expect_eq(destroyed_[id], 1, "destructions of timer ", id, "'s handler")) return;
    }
  }

  void fire(TimerWheel& wheel, int id, std::uint64_t seq, Instant at) {
    if (d_.failed()) return;
    d_.expect(&wheel == wheel_, "ResMut<TimerWheel> in timer ", id, "'s handler");
    if (!d_.expect_eq(id, model_.next_due().value_or(-1), "the timer that fires")) return;
    d_.expect_eq(ns(at), ns(model_.timer(id).deadline), "the deadline timer ", id, " receives");
    d_.expect_eq(seq, ++sequence_, "timer ", id, "'s sequence number");
    d_.expect(model_.doomed().empty(), "a handler the model has destroyed before timer ", id, " fires is alive");
    d_.expect(wheel_->firing() == tokens_[static_cast<std::size_t>(id)], "firing() in timer ", id, "'s handler");
    d_.expect(wheel_->polling(), "polling() in a handler");
    model_.begin_fire(id);
    check_queries();
    for (std::uint64_t n = rng_.below(4); n > 0 && !d_.failed(); --n) act_inside(at);
    if (d_.failed()) return;
    model_.end_fire();
    if (rng_.percent(3)) {
      model_.threw();
      throw HandlerFailure();
    }
  }

  void destroyed(int id) noexcept {
    ++destroyed_[static_cast<std::size_t>(id)];
    try {
      destroyed_acting(id, on_destroy_[static_cast<std::size_t>(id)]);
    } catch (const std::exception& error) {
      d_.fail("in timer " + std::to_string(id) + "'s handler's destructor: " + error.what());
    }
  }

 private:
  void destroyed_acting(int id, OnDestroy action) {
    if (tearing_down_) {
      if (action.kind == OnDestroy::kCancel) wheel_->cancel(tokens_[static_cast<std::size_t>(action.target)]);
      if (action.kind == OnDestroy::kSchedule) schedule_unmodelled();
      return;
    }
    if (d_.failed()) return;
    std::vector<int>& doomed = model_.doomed();
    if (doomed.empty() || doomed.back() != id) {
      d_.fail("timer " + std::to_string(id) + "'s handler was destroyed; the model destroys " +
              (doomed.empty() ? std::string("none now") : "timer " + std::to_string(doomed.back())));
      return;
    }
    doomed.pop_back();
    if (action.kind == OnDestroy::kCancel) cancel(action.target);
    if (action.kind == OnDestroy::kSchedule) schedule(clock_.now(), /*may_act_on_destroy=*/false);
  }

  // --- operations, on the model first and then on the wheel ---------------------------------

  void schedule(Instant base, bool may_act_on_destroy = true) {
    const Instant deadline = deadline_near(base);
    const bool periodic = rng_.percent(25);
    const std::chrono::nanoseconds period = !periodic          ? 0ns
                                            : rng_.percent(50) ? 1ms * rng_.between(1, 5)
                                                               : std::chrono::nanoseconds(rng_.between(1, 20'000'000));
    const bool skip = rng_.percent(50);
    const int id = model_.schedule(deadline, period, skip);
    OnDestroy action;
    if (may_act_on_destroy && rng_.percent(30)) {
      action = rng_.percent(75) ? OnDestroy{OnDestroy::kCancel, static_cast<int>(rng_.below(model_.count()))}
                                : OnDestroy{OnDestroy::kSchedule};
    }
    on_destroy_.push_back(action);
    destroyed_.push_back(0);
    tokens_.push_back(schedule_on_wheel(id, deadline, period, skip, rng_.percent(15)));
  }

  TimerToken schedule_on_wheel(int id, Instant deadline, std::chrono::nanoseconds period, bool skip, bool big) {
    const keel::MissedTicks missed = skip ? keel::MissedTicks::kSkip : keel::MissedTicks::kBurst;
    if (period.count() == 0) {
      return big ? wheel_->schedule(deadline, BigFire{Guard(*this, id)})
                 : wheel_->schedule(deadline, Fire{Guard(*this, id)});
    }
    return big ? wheel_->schedule_periodic(deadline, period, BigFire{Guard(*this, id)}, missed)
               : wheel_->schedule_periodic(deadline, period, Fire{Guard(*this, id)}, missed);
  }

  // A timer scheduled while the World is torn down: only its destruction counts.
  void schedule_unmodelled() {
    const int id = static_cast<int>(tokens_.size());
    on_destroy_.push_back(OnDestroy{});
    destroyed_.push_back(0);
    tokens_.push_back(schedule_on_wheel(id, clock_.now(), 0ns, true, false));
  }

  // `id` -1 is the empty token; the firing timer is reached through firing().
  void cancel(int id) {
    const bool expected = id >= 0 && model_.cancel(id);
    d_.expect_eq(wheel_->cancel(token(id)), expected, "cancel(timer ", id, ")");
  }
  void reschedule(int id, Instant deadline) {
    const bool expected = id >= 0 && model_.reschedule(id, deadline);
    d_.expect_eq(wheel_->reschedule(token(id), deadline), expected, "reschedule(timer ", id, ", ", ns(deadline), ")");
  }
  TimerToken token(int id) const {
    if (id < 0) return TimerToken{};
    if (id == model_.firing()) return wheel_->firing();
    return tokens_[static_cast<std::size_t>(id)];
  }

  void poll() {
    move_clock();
    model_.begin_poll(clock_.now());
    bool threw = false;
    std::size_t fired = 0;
    try {
      fired = poller_->poll(*world_, clock_.now());
    } catch (const HandlerFailure&) {
      threw = true;
    }
    if (d_.failed()) return;
    d_.expect_eq(threw, model_.poll_threw(), "whether poll() threw");
    if (!threw) {
      d_.expect_eq(fired, model_.fired(), "poll()'s count at ", ns(clock_.now()));
      d_.expect_eq(model_.next_due(), std::nullopt, "a timer due in the poll at ", ns(clock_.now()), " did not fire");
    }
    d_.expect(!wheel_->polling(), "polling() after a poll");
    d_.expect(!wheel_->firing(), "firing() after a poll");
  }

  // One random call from inside timer `model_.firing()`'s handler, which fires for `at`.
  void act_inside(Instant at) {
    const int self = model_.firing();
    const std::uint64_t r = rng_.below(100);
    if (r < 25) {
      schedule(rng_.percent(50) ? at : clock_.now());
    } else if (r < 45) {
      cancel(rng_.percent(40) ? self : pick());
    } else if (r < 70) {
      reschedule(rng_.percent(50) ? self : pick(), deadline_near(rng_.percent(50) ? at : clock_.now()));
    } else if (r < 95) {
      check_queries();
    } else {
      bool refused = false;
      try {
        poller_->poll(*world_, clock_.now());
      } catch (const keel::ConfigError&) {
        refused = true;
      }
      d_.expect(refused, "poll() from inside a handler throws ConfigError");
    }
  }

  void check_queries() {
    d_.expect_eq(wheel_->size(), model_.size(), "size()");
    d_.expect_eq(ns(wheel_->next_deadline()), ns(model_.next_deadline()), "next_deadline()");
    for (int k = 0; k < 2 && model_.count() > 0; ++k) {
      const int id = rng_.percent(30) && model_.firing() >= 0 ? model_.firing() : pick();
      d_.expect_eq(wheel_->contains(token(id)), id >= 0 && model_.contains(id), "contains(timer ", id, ")");
      d_.expect_eq(ns(wheel_->deadline(token(id))), ns(id >= 0 ? model_.deadline(id) : std::nullopt), "deadline(timer ",
                   id, ")");
    }
  }

  // A timer id (any, fired and cancelled ones included), or -1 now and then.
  int pick() {
    if (model_.count() == 0 || rng_.percent(3)) return -1;
    // Half the time one of the latest, which are more often still pending.
    const std::uint64_t n = model_.count();
    return static_cast<int>(rng_.percent(50) ? n - 1 - rng_.below(std::min<std::uint64_t>(n, 8)) : rng_.below(n));
  }

  Instant deadline_near(Instant base) {
    const std::uint64_t r = rng_.below(100);
    if (r < 50) return base + std::chrono::nanoseconds(rng_.between(-2'000'000, 30'000'000));
    if (r < 65) {  // on a millisecond grid: ties
      return Instant{} + std::chrono::floor<std::chrono::milliseconds>(base.time_since_epoch()) +
             1ms * rng_.between(0, 20);
    }
    if (r < 75 && model_.count() > 0) return model_.timer(static_cast<int>(rng_.below(model_.count()))).deadline;
    if (r < 85) return base + std::chrono::nanoseconds(rng_.between(0, 3 * 24 * 3600'000'000'000));
    if (r < 90) return base + std::chrono::nanoseconds(rng_.between(0, 6 * 365 * 24 * 3600'000'000'000));
    if (r < 97) return base - std::chrono::nanoseconds(rng_.between(0, 2 * 3600'000'000'000));
    return Instant::max();
  }

  void move_clock() {
    const std::uint64_t r = rng_.below(100);
    if (r < 50) {
      clock_.advance(std::chrono::nanoseconds(rng_.between(0, 8'000'000)));
    } else if (r < 58) {
      // The same `now` again.
    } else if (r < 70) {
      if (const auto next = model_.next_deadline()) clock_.set(*next - std::chrono::nanoseconds(rng_.between(0, 1)));
    } else if (r < 78) {
      clock_.advance(std::chrono::nanoseconds(rng_.between(0, 4 * 24 * 3600'000'000'000)));
    } else if (r < 81) {
      clock_.advance(std::chrono::nanoseconds(rng_.between(0, 2 * 365 * 24 * 3600'000'000'000)));
    } else if (r < 90) {
      clock_.set(clock_.now() - std::chrono::nanoseconds(rng_.between(0, 20'000'000)));
    } else {
      clock_.advance(std::chrono::nanoseconds(rng_.between(0, 200'000'000)));
    }
  }

  Differential& d_;
  keel_test::Rng& rng_;
  keel::testing::VirtualClock clock_;
  std::optional<keel::TimerPoller> poller_;
  std::optional<keel::World> world_;
  TimerWheel* wheel_ = nullptr;
  Model model_;
  // Per timer id.
  std::vector<TimerToken> tokens_;
  std::vector<OnDestroy> on_destroy_;
  std::vector<int> destroyed_;
  std::uint64_t sequence_ = 0;
  bool tearing_down_ = false;
};

Guard::~Guard() {
  if (harness_ != nullptr) harness_->destroyed(id_);
}
void Fire::operator()(keel::ResMut<TimerWheel> wheel, keel::Seq seq, Instant at) const {
  guard.harness().fire(*wheel, guard.id(), seq.value(), at);
}
void BigFire::operator()(keel::ResMut<TimerWheel> wheel, keel::Seq seq, Instant at) const {
  guard.harness().fire(*wheel, guard.id(), seq.value(), at);
}

static_assert(TimerWheel::stores_inline<decltype(keel::handler(std::declval<const keel::Registry&>(),
                                                               Fire{std::declval<Guard>()}))>);
static_assert(!TimerWheel::stores_inline<decltype(keel::handler(std::declval<const keel::Registry&>(),
                                                                BigFire{std::declval<Guard>()}))>);

TEST(TimerWheelDifferential, RandomOperationsIncludingReentrantOnesMatchAMultimapModel) {
  keel_test::run_seeds(kDefaultSeeds, [](Differential& d) {
    Harness harness(d);
    harness.run();
    harness.tear_down();
  });
}

}  // namespace
