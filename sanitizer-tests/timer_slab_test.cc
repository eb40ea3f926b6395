// Sanitizer test for the timer storage (rt/internal/timer_slab.h) and the
// wheel that drives it (rt/timer.h): each timer's handler is erased inline
// (keel::InlineHandler) or boxed, in a slab of slots reused through a free
// list; firing moves the handler out of its slot, runs it, and moves it
// back by index (periodic, re-armed) or frees the slot and then destroys it.
// Run under --config=asan: a handler destroyed while it runs is a
// heap-use-after-free in its own frame; a slot reached through a reference
// taken before slab growth is a use-after-free of the old vector; a handler
// relocated without its heap data, or destroyed twice (on cancel and again
// at teardown), is a use-after-free or a double free; one never destroyed
// is a leak. Every handler here owns heap memory so that each of those
// mistakes touches it.
#include "rt/internal/timer_slab.h"

#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "rt/handler.h"
#include "rt/testing.h"
#include "rt/timer.h"
#include "rt/world.h"

namespace {

using namespace std::chrono_literals;
using keel::Instant;
using keel::TimerToken;
using keel::TimerWheel;

// Shared by the handlers of one test: what ran, and the live-object count.
struct Journal {
  std::vector<std::string> lines;
  int live = 0;
  int destroyed = 0;
};

// Heap state a handler owns: a long string and a vector, both touched on
// every run. Counted in the Journal.
struct Heavy {
  Heavy(Journal* journal, std::string name) : journal(journal), name(std::move(name) + std::string(40, '#')) {
    ++journal->live;
  }
  ~Heavy() {
    --journal->live;
    ++journal->destroyed;
  }
  Heavy(const Heavy&) = delete;
  Heavy& operator=(const Heavy&) = delete;

  void touch(Instant at) {
    history.push_back(at.time_since_epoch().count());
    journal->lines.push_back(name + std::to_string(history.size()));
  }

  Journal* journal;
  std::string name;
  std::vector<std::int64_t> history = std::vector<std::int64_t>(8, 1);
};

// What a timer does when it fires, besides touching its heap state.
struct Plan {
  std::vector<TimerToken> victims;  // cancelled when it fires
  int spawn = 0;                    // timers scheduled when it fires
  int reschedules = 0;              // times it re-arms itself
  TimerToken self;
  bool throw_after = false;
};

// Small context (fits inline: one unique_ptr and one pointer).
struct SmallCtx {
  std::unique_ptr<Heavy> heavy;
  std::shared_ptr<Plan> plan;
};

// Large context (boxed: a string and vector inline, plus padding).
struct LargeCtx {
  std::unique_ptr<Heavy> heavy;
  std::shared_ptr<Plan> plan;
  std::string extra = std::string(64, 'x');
  std::array<std::int64_t, 8> padding{};
};

template <class Ctx>
void act(Ctx& ctx, TimerWheel& wheel, const keel::Registry& reg, Instant at);

void on_small(SmallCtx& ctx, keel::ResMut<TimerWheel> wheel, keel::RegistryRef reg, Instant at) {
  act(ctx, *wheel, *reg, at);
}
void on_large(LargeCtx& ctx, keel::ResMut<TimerWheel> wheel, keel::RegistryRef reg, Instant at) {
  act(ctx, *wheel, *reg, at);
}

TimerToken schedule_small(TimerWheel& wheel, const keel::Registry& reg, Journal* j, std::string name, Instant at,
                          std::shared_ptr<Plan> plan = std::make_shared<Plan>()) {
  auto cb = keel::callback(SmallCtx{std::make_unique<Heavy>(j, std::move(name)), plan}, reg, on_small);
  static_assert(TimerWheel::stores_inline<decltype(cb)>);
  const TimerToken t = wheel.schedule(at, std::move(cb));
  plan->self = t;
  return t;
}

TimerToken schedule_large(TimerWheel& wheel, const keel::Registry& reg, Journal* j, std::string name, Instant at,
                          std::shared_ptr<Plan> plan = std::make_shared<Plan>()) {
  auto cb = keel::callback(LargeCtx{std::make_unique<Heavy>(j, std::move(name)), plan}, reg, on_large);
  static_assert(!TimerWheel::stores_inline<decltype(cb)>);
  const TimerToken t = wheel.schedule(at, std::move(cb));
  plan->self = t;
  return t;
}

template <class Ctx>
void act(Ctx& ctx, TimerWheel& wheel, const keel::Registry& reg, Instant at) {
  ctx.heavy->touch(at);
  Plan& plan = *ctx.plan;
  for (const TimerToken victim : plan.victims) wheel.cancel(victim);
  plan.victims.clear();
  for (int i = 0; i < plan.spawn; ++i) {
    // Grows the slab: every stored handler is relocated while this one runs.
    if (i % 2 == 0) {
      schedule_small(wheel, reg, ctx.heavy->journal, "spawn-s" + std::to_string(i), at + 1ms + 1us * i);
    } else {
      schedule_large(wheel, reg, ctx.heavy->journal, "spawn-l" + std::to_string(i), at + 1ms + 1us * i);
    }
  }
  plan.spawn = 0;
  if (plan.reschedules > 0) {
    --plan.reschedules;
    wheel.reschedule(plan.self, at + 1ms);
  }
  // Our own heap data, read after the slab may have grown and handlers died.
  ctx.heavy->journal->lines.back() += "/" + std::to_string(ctx.heavy->history.size());
  if (plan.throw_after) {
    plan.throw_after = false;
    throw std::runtime_error("handler failed");
  }
}

class Env {
 public:
  explicit Env(std::size_t capacity = 2) {
    keel::WorldBuilder wb;
    poller_.emplace(wb.install_driver(keel::TimerInstaller{.capacity = capacity}));
    world_.emplace(std::move(wb).build());
  }
  keel::World& world() { return *world_; }
  TimerWheel& wheel() { return world_->resource<TimerWheel>(); }
  const keel::Registry& reg() { return world_->registry(); }
  std::size_t advance_and_poll(std::chrono::nanoseconds d) { return poller_->poll(*world_, clock.advance(d)); }
  void destroy() { world_.reset(); }

  keel::testing::VirtualClock clock;

 private:
  std::optional<keel::TimerPoller> poller_;
  std::optional<keel::World> world_;
};

TEST(TimerSlab, FiringHandlersThatGrowTheSlabKeepTheirOwnAndEveryOtherHandlersHeapData) {
  Journal journal;
  {
    Env env(/*capacity=*/2);
    auto plan = std::make_shared<Plan>();
    plan->spawn = 200;
    schedule_small(env.wheel(), env.reg(), &journal, "grower", env.clock.now() + 1ms, plan);
    for (int i = 0; i < 5; ++i) {
      schedule_large(env.wheel(), env.reg(), &journal, "bystander" + std::to_string(i), env.clock.now() + 5s);
    }
    EXPECT_EQ(env.advance_and_poll(1ms), 1u);
    EXPECT_EQ(env.wheel().size(), 205u);
    EXPECT_EQ(journal.live, 205);
    EXPECT_EQ(env.advance_and_poll(2ms), 200u);
    EXPECT_EQ(env.advance_and_poll(5s), 5u);
    EXPECT_EQ(journal.live, 0);
  }
  EXPECT_EQ(journal.destroyed, 206);
}

TEST(TimerSlab, CancellingTimersDueInTheSamePollDestroysThemBeforeTheyRun) {
  Journal journal;
  Env env;
  std::vector<TimerToken> due;
  for (int i = 0; i < 20; ++i) {
    due.push_back(i % 2 ? schedule_large(env.wheel(), env.reg(), &journal, "v" + std::to_string(i),
                                         env.clock.now() + 2ms + 1us * i)
                        : schedule_small(env.wheel(), env.reg(), &journal, "v" + std::to_string(i),
                                         env.clock.now() + 2ms + 1us * i));
  }
  auto plan = std::make_shared<Plan>();
  plan->victims.assign(due.begin() + 5, due.end());
  plan->spawn = 50;  // and grow the slab into the slots just freed, and past them
  schedule_large(env.wheel(), env.reg(), &journal, "killer", env.clock.now() + 1ms, plan);
  EXPECT_EQ(env.advance_and_poll(3ms), 1u + 5u);
  EXPECT_EQ(journal.live, 50);
  for (std::size_t i = 5; i < due.size(); ++i) EXPECT_FALSE(env.wheel().cancel(due[i]));
  EXPECT_EQ(env.advance_and_poll(1s), 50u);
  EXPECT_EQ(journal.live, 0);
  EXPECT_EQ(journal.destroyed, 71);
}

TEST(TimerSlab, AHandlerReschedulingItselfIsPutBackAndFinallyDestroyedOnce) {
  Journal journal;
  Env env;
  for (int i = 0; i < 8; ++i) {
    auto plan = std::make_shared<Plan>();
    plan->reschedules = 3;
    plan->spawn = i;  // growth while re-arming
    (i % 2 ? schedule_large : schedule_small)(env.wheel(), env.reg(), &journal, "again" + std::to_string(i),
                                              env.clock.now() + 1ms, plan);
  }
  int fired = 0;
  for (int step = 0; step < 10; ++step) fired += static_cast<int>(env.advance_and_poll(1ms));
  EXPECT_EQ(fired, 8 * 4 + 28);
  EXPECT_EQ(journal.live, 0);
  EXPECT_EQ(journal.destroyed, 8 + 28);
}

TEST(TimerSlab, PeriodicHandlersSurviveGrowthAndCancellationFromInside) {
  Journal journal;
  Env env;
  std::vector<TimerToken> periodic;
  for (int i = 0; i < 6; ++i) {
    auto plan = std::make_shared<Plan>();
    auto cb = keel::callback(LargeCtx{std::make_unique<Heavy>(&journal, "tick" + std::to_string(i)), plan}, env.reg(),
                             on_large);
    periodic.push_back(env.wheel().schedule_periodic(env.clock.now() + 1ms, 1ms, std::move(cb)));
    plan->self = periodic.back();
  }
  // A one-shot in every tick cancels one periodic timer (itself due in the
  // same tick: some already fired this poll, some not yet) and grows the slab.
  for (int i = 0; i < 6; ++i) {
    auto plan = std::make_shared<Plan>();
    plan->victims.push_back(periodic[static_cast<std::size_t>(i)]);
    plan->spawn = 3;
    schedule_small(env.wheel(), env.reg(), &journal, "cancel" + std::to_string(i),
                   env.clock.now() + 1ms * (i + 1) + (i % 2 ? 1ns : -1ns), plan);
  }
  for (int step = 0; step < 20; ++step) env.advance_and_poll(1ms);
  EXPECT_EQ(env.wheel().size(), 0u);
  EXPECT_EQ(journal.live, 0);
}

TEST(TimerSlab, AThrowingHandlerIsDestroyedOrPutBackAndTheRestAreKept) {
  Journal journal;
  Env env;
  auto plan = std::make_shared<Plan>();
  plan->throw_after = true;
  plan->spawn = 10;
  schedule_large(env.wheel(), env.reg(), &journal, "thrower", env.clock.now() + 1ms, plan);
  for (int i = 0; i < 4; ++i) {
    schedule_small(env.wheel(), env.reg(), &journal, "after" + std::to_string(i), env.clock.now() + 3ms);
  }
  env.clock.advance(3ms);
  EXPECT_THROW(env.advance_and_poll(0ns), std::runtime_error);
  EXPECT_EQ(journal.live, 14);  // the thrower is gone; what it spawned and the rest wait
  EXPECT_EQ(env.advance_and_poll(0ns), 14u);
  EXPECT_EQ(env.advance_and_poll(1s), 0u);
  EXPECT_EQ(journal.live, 0);
}

TEST(TimerSlab, DestroyingTheWorldDestroysPendingHandlersExactlyOnce) {
  Journal journal;
  Env env;
  for (int i = 0; i < 100; ++i) {
    (i % 3 ? schedule_small : schedule_large)(env.wheel(), env.reg(), &journal, "pending" + std::to_string(i),
                                              env.clock.now() + 1ms * i + std::chrono::hours(24 * 100 * (i % 2)),
                                              std::make_shared<Plan>());
  }
  env.advance_and_poll(10ms);  // some fire, some cascade, some stay in the overflow list
  const int fired = journal.destroyed;
  env.destroy();
  EXPECT_EQ(journal.live, 0);
  EXPECT_EQ(journal.destroyed, 100);
  EXPECT_GT(fired, 0);
}

// A handler whose destructor calls back into the wheel: cancels a sibling
// and schedules a timer. The wheel must be consistent when it runs, during
// a cancel, after a firing and at teardown.
struct CallsBackOnDestroy {
  TimerWheel* wheel;
  std::shared_ptr<TimerToken> sibling;
  std::unique_ptr<Heavy> heavy;
  CallsBackOnDestroy(TimerWheel* w, std::shared_ptr<TimerToken> s, std::unique_ptr<Heavy> h)
      : wheel(w), sibling(std::move(s)), heavy(std::move(h)) {}
  CallsBackOnDestroy(CallsBackOnDestroy&&) noexcept = default;
  ~CallsBackOnDestroy() {
    if (wheel == nullptr || heavy == nullptr) return;  // moved from
    wheel->cancel(*sibling);
    wheel->schedule(Instant{} + 1h, [](Instant) {});
  }
  void operator()(Instant at) { heavy->touch(at); }
};

TEST(TimerSlab, AHandlerDestructorMayCancelAndScheduleOnTheWheel) {
  Journal journal;
  Env env;
  auto a_sibling = std::make_shared<TimerToken>();
  auto b_sibling = std::make_shared<TimerToken>();
  const TimerToken a = env.wheel().schedule(
      env.clock.now() + 1ms, CallsBackOnDestroy(&env.wheel(), a_sibling, std::make_unique<Heavy>(&journal, "a")));
  const TimerToken b = env.wheel().schedule(
      env.clock.now() + 2ms, CallsBackOnDestroy(&env.wheel(), b_sibling, std::make_unique<Heavy>(&journal, "b")));
  *a_sibling = b;  // a's destructor cancels b, whose destructor cancels a (stale by then)
  *b_sibling = a;
  env.wheel().schedule(env.clock.now() + 3ms, CallsBackOnDestroy(&env.wheel(), std::make_shared<TimerToken>(),
                                                                 std::make_unique<Heavy>(&journal, "c")));
  EXPECT_TRUE(env.wheel().cancel(a));
  EXPECT_EQ(journal.live, 1);  // a and b are gone; c remains
  EXPECT_EQ(env.advance_and_poll(3ms), 1u);
  EXPECT_EQ(journal.live, 0);
  env.wheel().schedule(env.clock.now() + 1ms, CallsBackOnDestroy(&env.wheel(), std::make_shared<TimerToken>(),
                                                                 std::make_unique<Heavy>(&journal, "d")));
  env.destroy();  // d's destructor runs during teardown and calls back
  EXPECT_EQ(journal.live, 0);
  EXPECT_EQ(journal.destroyed, 4);
}

// The slab on its own: take, grow, put back, release, reuse.
TEST(TimerSlab, TakePutBackAndReleaseAcrossGrowthKeepHandlersIntact) {
  using Handler = keel::InlineHandler<Instant, 64>;
  using Slab = keel::internal::TimerSlab<Handler>;
  Journal journal;
  keel::WorldBuilder wb;
  keel::World world = std::move(wb).build();
  auto make = [&](int i) {
    return Handler(keel::handler(world.registry(), [h = std::make_shared<Heavy>(&journal, "slab" + std::to_string(i))](
                                                       Instant at) { h->touch(at); }));
  };
  {
    Slab slab;
    std::vector<std::uint32_t> indices;
    for (int i = 0; i < 4; ++i) indices.push_back(slab.allocate(make(i)));
    Handler running = slab.take(indices[1]);
    for (int i = 4; i < 500; ++i) indices.push_back(slab.allocate(make(i)));  // grows while one is out
    running.run(world, Instant{} + 1ms);
    slab.put_back(indices[1], std::move(running));
    keel::internal::TimerList list;
    for (const std::uint32_t i : indices) slab.push_front(list, i, 7);
    for (std::size_t k = 0; k < indices.size(); k += 3) {
      slab.unlink(list, indices[k]);
      const std::uint32_t generation = slab.meta(indices[k]).generation;
      slab.release(indices[k]);
      EXPECT_FALSE(slab.allocated(indices[k], generation));
    }
    EXPECT_EQ(journal.live, 500 - 167);
    for (int i = 0; i < 167; ++i) slab.allocate(make(1000 + i));  // reuses the freed slots
    EXPECT_EQ(slab.capacity(), 500u);
    for (std::uint32_t i = slab.detach(list); i != Slab::kNoIndex;) i = slab.detached_next(i);
  }
  EXPECT_EQ(journal.live, 0);
  EXPECT_EQ(journal.destroyed, 667);
}

}  // namespace
