// Tests for rt/callback.h: keel::callback() and keel::CallbackTemplate.
#include "rt/callback.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "rt/error.h"
#include "rt/handler.h"
#include "rt/param.h"
#include "rt/world.h"
#include "tests/rt/fixtures.h"
#include "tests/rt/tracking.h"

// Named namespace: see handler_test.cc (the names the tests expect carry no
// '{anonymous}::').
namespace callback_test {

struct Stats {
  int fires = 0;
  int total = 0;
  std::vector<int> ids;
};
struct Limits {
  int scale = 1;
};
struct Missing {};

struct TimerCtx {
  int id = 0;
  int fires = 0;
};

// A context that counts its copies and moves (through its tracker).
struct TrackedCtx {
  TrackedCtx(keel_test::Counts& counts, int id) : tracker(counts), id(id) {}

  keel_test::Tracked tracker;
  int id;
  int fires = 0;
};

struct [[nodiscard]] MustUse {
  int value;
};

}  // namespace callback_test

using callback_test::Limits;
using callback_test::Missing;
using callback_test::MustUse;
using callback_test::Stats;
using callback_test::TimerCtx;
using callback_test::TrackedCtx;
using keel_test::config_error_message;
using keel_test::Contains;
using keel_test::Counts;
using keel_test::InitCounter;

void on_timeout(TimerCtx& ctx, keel::ResMut<Stats> stats, keel::Res<Limits> lim, int at) {
  ++ctx.fires;
  ++stats->fires;
  stats->total += at * lim->scale;
  stats->ids.push_back(ctx.id);
}

void on_timeout_needing_missing(TimerCtx& ctx, keel::Res<Missing>, int) { ++ctx.fires; }

namespace {

keel::World make_world(int scale = 1) { return keel_test::world_with(Stats{}, Limits{.scale = scale}); }

std::string site(int line) { return "callback_test.cc:" + std::to_string(line); }

TEST(Callback, RunsWithContextParametersAndEvent) {
  keel::World world = make_world(/*scale=*/10);
  auto cb = keel::callback(TimerCtx{.id = 42}, world.registry(), on_timeout);
  static_assert(std::is_same_v<decltype(cb)::event_type, int>);
  static_assert(std::is_same_v<decltype(cb)::context_type, TimerCtx>);

  cb.run(world, 3);
  const Stats& stats = world.resource<Stats>();
  EXPECT_EQ(stats.fires, 1);
  EXPECT_EQ(stats.total, 30);
  EXPECT_EQ(stats.ids, (std::vector<int>{42}));
}

TEST(Callback, ContextIsReachableAndMutatedByRuns) {
  keel::World world = make_world();
  auto cb = keel::callback(TimerCtx{.id = 7}, world.registry(), on_timeout);
  EXPECT_EQ(cb.ctx().id, 7);
  EXPECT_EQ(cb.ctx().fires, 0);

  cb.run(world, 1);
  cb.run(world, 1);
  EXPECT_EQ(cb.ctx().fires, 2);

  // A change made from outside is what the next run sees.
  cb.ctx().id = 8;
  cb.run(world, 1);
  EXPECT_EQ(world.resource<Stats>().ids, (std::vector<int>{7, 7, 8}));

  const auto& const_cb = cb;
  EXPECT_EQ(const_cb.ctx().fires, 3);
}

TEST(Callback, MovesAnRvalueContextInWithoutCopying) {
  keel::World world = make_world();
  Counts counts;
  auto cb = keel::callback(TrackedCtx(counts, 1), world.registry(),
                           [](TrackedCtx& ctx, keel::ResMut<Stats> s, int) { s->ids.push_back(++ctx.fires); });
  EXPECT_EQ(counts.copies, 0);

  cb.run(world, 0);
  cb.run(world, 0);
  EXPECT_EQ(counts.copies, 0);  // the context is passed by reference on each run
  EXPECT_EQ(cb.ctx().fires, 2);
  EXPECT_EQ(world.resource<Stats>().ids, (std::vector<int>{1, 2}));
}

TEST(Callback, CopiesAnLvalueContextOnceAndLeavesTheOriginalAlone) {
  keel::World world = make_world();
  Counts counts;
  TrackedCtx original(counts, 1);
  auto cb = keel::callback(original, world.registry(), [](TrackedCtx& ctx, int) { ++ctx.fires; });
  EXPECT_EQ(counts.copies, 1);

  cb.run(world, 0);
  EXPECT_EQ(cb.ctx().fires, 1);
  EXPECT_EQ(original.fires, 0);
}

TEST(Callback, WorksWithCapturingAndMutableLambdas) {
  keel::World world = make_world();
  std::vector<int> seen;
  auto cb = keel::callback(TimerCtx{.id = 3}, world.registry(),
                           [&seen, calls = 0](TimerCtx& ctx, keel::Res<Limits> lim, int e) mutable {
                             ++calls;
                             seen.push_back(ctx.id * 100 + calls * 10 + e * lim->scale);
                           });
  cb.run(world, 1);
  cb.run(world, 2);
  EXPECT_EQ(seen, (std::vector<int>{311, 322}));
}

TEST(Callback, PassesConstReferenceEventWithoutCopying) {
  keel::World world = make_world();
  const std::vector<int>* seen = nullptr;
  auto cb = keel::callback(TimerCtx{}, world.registry(),
                           [&seen](TimerCtx&, const std::vector<int>& e) { seen = &e; });
  static_assert(std::is_same_v<decltype(cb)::event_type, const std::vector<int>&>);
  const std::vector<int> event{1, 2, 3};
  cb.run(world, event);
  EXPECT_EQ(seen, &event);
}

TEST(Callback, NamesNamedFunctionsAndLambdas) {
  keel::World world = make_world();
  EXPECT_EQ(keel::callback(TimerCtx{}, world.registry(), on_timeout).name(), "on_timeout");
  EXPECT_EQ(keel::callback(TimerCtx{}, world.registry(), keel::fn<&on_timeout>).name(), "on_timeout");

  const int line = __LINE__ + 1;
  auto cb = keel::callback(TimerCtx{}, world.registry(), [](TimerCtx&, int) {});
  EXPECT_EQ(cb.name(), "lambda at " + site(line));
}

TEST(Callback, IgnoresReturnValues) {
  keel::World world = make_world();
  auto cb = keel::callback(TimerCtx{}, world.registry(), [](TimerCtx& ctx, int e) {
    ctx.fires += e;
    return MustUse{e};  // discarded without a warning (-Werror)
  });
  static_assert(std::is_void_v<decltype(cb.run(world, 1))>);
  cb.run(world, 5);
  EXPECT_EQ(cb.ctx().fires, 5);
}

TEST(Callback, MissingResourceThrowsConfigErrorNamingResourceAndCallback) {
  keel::World world = make_world();
  const std::string named =
      config_error_message([&] { keel::callback(TimerCtx{}, world.registry(), on_timeout_needing_missing); });
  EXPECT_TRUE(Contains(named, "'callback_test::Missing'"));
  EXPECT_TRUE(Contains(named, "'on_timeout_needing_missing'"));

  const int line = __LINE__ + 1;
  const std::string lambda = config_error_message([&] { keel::callback(TimerCtx{}, world.registry(), [](TimerCtx&, keel::ResMut<Missing>, int) {}); });
  EXPECT_TRUE(Contains(lambda, "'callback_test::Missing'"));
  EXPECT_TRUE(Contains(lambda, "lambda at " + site(line)));
}

TEST(Callback, RunningOnAnotherWorldThrowsAndLeavesContextAndWorldsUntouched) {
  if (!keel::internal::kCheckWorld) GTEST_SKIP() << "the wrong-World check is compiled out (NDEBUG)";
  keel::World first = make_world();
  keel::World second = make_world();
  auto cb = keel::callback(TimerCtx{.id = 1}, first.registry(), on_timeout);

  const std::string message = config_error_message([&] { cb.run(second, 1); });
  EXPECT_TRUE(Contains(message, "'on_timeout'"));
  EXPECT_TRUE(Contains(message, "another World"));
  EXPECT_EQ(cb.ctx().fires, 0);
  EXPECT_EQ(first.resource<Stats>().fires, 0);
  EXPECT_EQ(second.resource<Stats>().fires, 0);

  cb.run(first, 1);
  EXPECT_EQ(first.resource<Stats>().fires, 1);
}

TEST(Callback, BoxedCallbackRunsAndNamesThroughHandlerInterface) {
  keel::World world = make_world();
  std::unique_ptr<keel::Handler<int>> box = keel::boxed(keel::callback(TimerCtx{.id = 5}, world.registry(), on_timeout));
  EXPECT_EQ(box->name(), "on_timeout");

  box->run(world, 2);
  box->run(world, 2);
  // The context lives in the box: the ids come from it, and its state persists.
  EXPECT_EQ(world.resource<Stats>().ids, (std::vector<int>{5, 5}));
  EXPECT_EQ(world.resource<Stats>().fires, 2);

  keel::World other = make_world();
  EXPECT_THROW(box->run(other, 2), keel::ConfigError);
}

// ---------------------------------------------------------------------------
// CallbackTemplate

TEST(CallbackTemplate, GeneratesCallbacksWithTheirOwnContexts) {
  keel::World world = make_world();
  keel::CallbackTemplate tmpl(world.registry(), on_timeout);
  static_assert(std::is_same_v<decltype(tmpl)::context_type, TimerCtx>);

  auto a = tmpl.generate(TimerCtx{.id = 1});
  auto b = tmpl.generate(TimerCtx{.id = 2});
  a.run(world, 1);
  b.run(world, 1);
  a.run(world, 1);

  EXPECT_EQ(a.ctx().fires, 2);
  EXPECT_EQ(b.ctx().fires, 1);
  EXPECT_EQ(world.resource<Stats>().ids, (std::vector<int>{1, 2, 1}));  // shared resources
  EXPECT_EQ(a.name(), "on_timeout");
  EXPECT_EQ(tmpl.name(), "on_timeout");
}

TEST(CallbackTemplate, GenerateMovesAnRvalueContextWithoutCopying) {
  keel::World world = make_world();
  keel::CallbackTemplate tmpl(world.registry(), [](TrackedCtx& ctx, int) { ++ctx.fires; });
  Counts counts;
  auto cb = tmpl.generate(TrackedCtx(counts, 1));
  cb.run(world, 0);
  EXPECT_EQ(counts.copies, 0);
  EXPECT_EQ(cb.ctx().fires, 1);
}

TEST(CallbackTemplate, GeneratedCallbacksHaveIndependentLocals) {
  keel::World world = make_world();
  keel::CallbackTemplate tmpl(world.registry(), [](TimerCtx& ctx, keel::Local<int> n, int) { ctx.fires = ++*n; });
  auto a = tmpl.generate(TimerCtx{});
  auto b = tmpl.generate(TimerCtx{});
  a.run(world, 0);
  a.run(world, 0);
  b.run(world, 0);
  EXPECT_EQ(a.ctx().fires, 2);
  EXPECT_EQ(b.ctx().fires, 1);
}

TEST(CallbackTemplate, ResolvesParametersOnceNotOnGenerate) {
  keel::World world = make_world();
  InitCounter::inits = 0;
  keel::CallbackTemplate tmpl(world.registry(), [](TimerCtx& ctx, InitCounter, int) { ++ctx.fires; });
  EXPECT_EQ(InitCounter::inits, 1);
  for (int i = 0; i < 3; ++i) {
    auto cb = tmpl.generate(TimerCtx{});
    cb.run(world, 0);
    EXPECT_EQ(cb.ctx().fires, 1);
  }
  EXPECT_EQ(InitCounter::inits, 1);
}

TEST(CallbackTemplate, ThrowsForMissingResourceAtConstruction) {
  keel::World world = make_world();
  const std::string message =
      config_error_message([&] { keel::CallbackTemplate tmpl(world.registry(), on_timeout_needing_missing); });
  EXPECT_TRUE(Contains(message, "'callback_test::Missing'"));
  EXPECT_TRUE(Contains(message, "'on_timeout_needing_missing'"));
}

TEST(CallbackTemplate, GeneratedCallbacksAreCheckedAgainstTheirWorld) {
  keel::World first = make_world();
  keel::World second = make_world();
  keel::CallbackTemplate tmpl(first.registry(), on_timeout);
  auto cb = tmpl.generate(TimerCtx{.id = 9});
  const std::string message = config_error_message([&] { cb.run(second, 1); });
  EXPECT_TRUE(Contains(message, "'on_timeout'"));
  EXPECT_EQ(first.resource<Stats>().fires, 0);
  EXPECT_EQ(cb.ctx().fires, 0);
}

}  // namespace
