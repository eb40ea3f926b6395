// Tests for rt/reactor.h: keel::ReactorNotify, DataSource, ReactorToken,
// spawn/subscribe/mark, World::dispatch_reactors(), remove/unsubscribe (also
// from inside a running reactor) and keel::SourceRegistry.
#include "rt/reactor.h"

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "rt/error.h"
#include "rt/param.h"
#include "rt/world.h"
#include "tests/rt/fixtures.h"

// Named namespace: reactor names from the symbol table carry no
// '{anonymous}::' (see handler_test.cc).
namespace reactor_test {

// Every run, in order: the id of the reactor that ran.
struct Log {
  std::vector<int> runs;
};
struct Limits {
  int scale = 1;
};
struct Missing {};

struct QuoteCtx {
  int instrument = 0;
  int runs = 0;
};

void requote(QuoteCtx& ctx, keel::ResMut<Log> log) {
  ++ctx.runs;
  log->runs.push_back(ctx.instrument);
}

void needs_missing(QuoteCtx& ctx, keel::Res<Missing>) { ++ctx.runs; }

}  // namespace reactor_test

namespace {

using keel_test::config_error_message;
using keel_test::Contains;
using reactor_test::Limits;
using reactor_test::Log;
using reactor_test::QuoteCtx;

keel::World make_world() {
  keel::WorldBuilder wb;
  wb.insert(Log{});
  wb.insert(Limits{.scale = 3});
  return std::move(wb).build();
}

// A reactor context that just counts its runs and records its id.
struct Id {
  int id = 0;
  int runs = 0;
};
void log_run(Id& ctx, keel::ResMut<Log> log) {
  ++ctx.runs;
  log->runs.push_back(ctx.id);
}

keel::ReactorToken spawn_logger(keel::World& world, int id, std::initializer_list<keel::DataSource> sources) {
  auto& rx = world.resource<keel::ReactorNotify>();
  keel::ReactorBuilder b = rx.spawn(Id{.id = id}, world.registry(), log_run);
  for (keel::DataSource s : sources) b.subscribe(s);
  return b.token();
}

// --- basics ---------------------------------------------------------------------------------------------

TEST(ReactorNotify, IsRegisteredByBuild) {
  keel::World world = keel::WorldBuilder{}.build();
  EXPECT_TRUE(world.registry().contains<keel::ReactorNotify>());
  EXPECT_EQ(world.resource<keel::ReactorNotify>().reactor_count(), 0u);
  EXPECT_EQ(world.resource<keel::ReactorNotify>().source_count(), 0u);
}

TEST(ReactorNotify, HandlesAreSmallAndTriviallyCopyable) {
  static_assert(std::is_trivially_copyable_v<keel::DataSource>);
  static_assert(std::is_trivially_copyable_v<keel::ReactorToken>);
  static_assert(sizeof(keel::DataSource) == 8);
  static_assert(sizeof(keel::ReactorToken) == 8);
  EXPECT_FALSE(keel::DataSource{});
  EXPECT_FALSE(keel::ReactorToken{});
}

TEST(ReactorNotify, ASubscribedReactorRunsOnceWhenItsSourceIsMarked) {
  keel::World world = make_world();
  auto& rx = world.resource<keel::ReactorNotify>();
  const keel::DataSource btc = rx.register_source();
  EXPECT_TRUE(btc);
  const keel::ReactorToken t =
      rx.spawn(QuoteCtx{.instrument = 7}, world.registry(), reactor_test::requote).subscribe(btc).token();
  EXPECT_TRUE(t);
  EXPECT_TRUE(rx.contains(t));
  EXPECT_EQ(rx.reactor_count(), 1u);
  EXPECT_EQ(rx.subscriber_count(btc), 1u);

  EXPECT_EQ(world.dispatch_reactors(), 0u);  // nothing marked yet
  rx.mark(btc);
  EXPECT_TRUE(rx.pending());
  EXPECT_EQ(world.dispatch_reactors(), 1u);
  EXPECT_FALSE(rx.pending());
  EXPECT_EQ(world.resource<Log>().runs, std::vector<int>{7});
  EXPECT_EQ(world.dispatch_reactors(), 0u);  // a mark wakes one pass only
  EXPECT_EQ(world.resource<Log>().runs.size(), 1u);
}

TEST(ReactorNotify, ReactorsOfUnmarkedSourcesDoNotRun) {
  keel::World world = make_world();
  auto& rx = world.resource<keel::ReactorNotify>();
  const keel::DataSource a = rx.register_source();
  const keel::DataSource b = rx.register_source();
  spawn_logger(world, 1, {a});
  spawn_logger(world, 2, {b});
  rx.mark(b);
  EXPECT_EQ(world.dispatch_reactors(), 1u);
  EXPECT_EQ(world.resource<Log>().runs, std::vector<int>{2});
}

TEST(ReactorNotify, TheContextIsMutatedInPlaceAndReachableThroughTheToken) {
  keel::World world = make_world();
  auto& rx = world.resource<keel::ReactorNotify>();
  const keel::DataSource src = rx.register_source();
  const keel::ReactorToken t =
      rx.spawn(QuoteCtx{.instrument = 3}, world.registry(), reactor_test::requote).subscribe(src);
  QuoteCtx* ctx = rx.context<QuoteCtx>(t);
  ASSERT_NE(ctx, nullptr);
  for (int i = 0; i < 5; ++i) {
    rx.mark(src);
    world.dispatch_reactors();
  }
  EXPECT_EQ(ctx->runs, 5);
  EXPECT_EQ(rx.context<QuoteCtx>(t), ctx);  // the context does not move between runs
  EXPECT_EQ(rx.context<Id>(t), nullptr);    // not its context type
  ctx->instrument = 99;                     // and it can be changed from outside
  rx.mark(src);
  world.dispatch_reactors();
  EXPECT_EQ(world.resource<Log>().runs.back(), 99);
}

TEST(ReactorNotify, ParametersAreResolvedOnceAndLocalStatePersistsAcrossRuns) {
  keel::World world = make_world();
  auto& rx = world.resource<keel::ReactorNotify>();
  const keel::DataSource src = rx.register_source();
  std::vector<int> seen;
  auto fn = [&seen](Id&, keel::Res<Limits> lim, keel::Local<int> calls, keel::Seq seq) {
    ++*calls;
    seen.push_back(*calls * lim->scale + static_cast<int>(seq.value()) * 1000);
  };
  const keel::ReactorToken t = rx.spawn(Id{}, world.registry(), fn).subscribe(src);
  world.next_sequence();
  rx.mark(src);
  world.dispatch_reactors();
  world.next_sequence();
  rx.mark(src);
  world.dispatch_reactors();
  EXPECT_EQ(seen, (std::vector<int>{1003, 2006}));
  EXPECT_TRUE(rx.contains(t));
}

TEST(ReactorNotify, ReactorsAreNamedAfterTheirFunction) {
  keel::World world = make_world();
  auto& rx = world.resource<keel::ReactorNotify>();
  const keel::ReactorToken named = rx.spawn(QuoteCtx{}, world.registry(), reactor_test::requote);
  const keel::ReactorToken lambda = rx.spawn(Id{}, world.registry(), [](Id&) {});
  EXPECT_EQ(rx.name(named), "reactor_test::requote");
  EXPECT_TRUE(rx.name(lambda).starts_with("lambda at ")) << rx.name(lambda);
  EXPECT_NE(rx.name(lambda).find("reactor_test.cc"), std::string_view::npos) << rx.name(lambda);
  rx.remove(named);
  EXPECT_EQ(rx.name(named), "");
}

TEST(ReactorNotify, ReactorsOfOneSourceRunInSubscriptionOrder) {
  keel::World world = make_world();
  auto& rx = world.resource<keel::ReactorNotify>();
  const keel::DataSource src = rx.register_source();
  for (int id : {5, 1, 4, 2, 3}) spawn_logger(world, id, {src});
  rx.mark(src);
  EXPECT_EQ(world.dispatch_reactors(), 5u);
  EXPECT_EQ(world.resource<Log>().runs, (std::vector<int>{5, 1, 4, 2, 3}));
}

// --- dedup ----------------------------------------------------------------------------------------------

TEST(ReactorNotify, AReactorMarkedManyTimesInAPassRunsOnce) {
  keel::World world = make_world();
  auto& rx = world.resource<keel::ReactorNotify>();
  const keel::DataSource src = rx.register_source();
  spawn_logger(world, 1, {src});
  for (int i = 0; i < 1000; ++i) rx.mark(src);
  EXPECT_EQ(world.dispatch_reactors(), 1u);
  EXPECT_EQ(world.resource<Log>().runs.size(), 1u);
}

TEST(ReactorNotify, AReactorWokenThroughSeveralSourcesRunsOnce) {
  keel::World world = make_world();
  auto& rx = world.resource<keel::ReactorNotify>();
  const keel::DataSource a = rx.register_source();
  const keel::DataSource b = rx.register_source();
  const keel::DataSource c = rx.register_source();
  spawn_logger(world, 1, {a, b, c});
  spawn_logger(world, 2, {b});
  for (int i = 0; i < 3; ++i) {
    rx.mark(c);
    rx.mark(a);
    rx.mark(b);
    rx.mark(a);
  }
  EXPECT_EQ(world.dispatch_reactors(), 2u);
  EXPECT_EQ(world.resource<Log>().runs, (std::vector<int>{1, 2}));  // first woken first: by c, then by b
  rx.mark(b);
  rx.mark(c);
  EXPECT_EQ(world.dispatch_reactors(), 2u);  // and again in the next pass
}

TEST(ReactorNotify, SubscribingTwiceToOneSourceIsOneSubscription) {
  keel::World world = make_world();
  auto& rx = world.resource<keel::ReactorNotify>();
  const keel::DataSource src = rx.register_source();
  const keel::ReactorToken t = spawn_logger(world, 1, {src, src});
  EXPECT_FALSE(rx.subscribe(t, src));
  EXPECT_EQ(rx.subscriber_count(src), 1u);
  rx.mark(src);
  EXPECT_EQ(world.dispatch_reactors(), 1u);
}

// 10,000 sources, 1,000 reactors. Each reactor subscribes to up to 12
// random sources (fan-in); a few "hot" sources are subscribed by hundreds of
// reactors (fan-out). Each pass marks a random set of sources, some many
// times; every reactor must run exactly once per pass in which any of its
// sources was marked. Between passes, reactors and subscriptions change.
TEST(ReactorNotify, TenThousandSourcesAndAThousandReactorsRunExactlyWhenWoken) {
  constexpr int kSources = 10'000;
  constexpr int kReactors = 1'000;
  keel::World world = make_world();
  auto& rx = world.resource<keel::ReactorNotify>();
  std::mt19937 rng(12345);

  std::vector<keel::DataSource> sources;
  for (int i = 0; i < kSources; ++i) sources.push_back(rx.register_source());
  EXPECT_EQ(rx.source_count(), static_cast<std::size_t>(kSources));

  std::vector<int> runs(kReactors, 0);
  std::vector<keel::ReactorToken> tokens(kReactors);
  std::vector<std::set<int>> subs(kReactors);  // the model: reactor -> source indices
  struct Counter {
    int id;
    std::vector<int>* runs;
  };
  auto count = [](Counter& c) { ++(*c.runs)[static_cast<std::size_t>(c.id)]; };
  for (int r = 0; r < kReactors; ++r) {
    keel::ReactorBuilder b = rx.spawn(Counter{r, &runs}, world.registry(), count);
    tokens[static_cast<std::size_t>(r)] = b.token();
    const int fan_in = 1 + static_cast<int>(rng() % 12);
    for (int k = 0; k < fan_in; ++k) {
      const int s = static_cast<int>(rng() % kSources);
      b.subscribe(sources[static_cast<std::size_t>(s)]);
      subs[static_cast<std::size_t>(r)].insert(s);
    }
    for (int hot = 0; hot < 4; ++hot) {  // hot source `hot` gets every (hot+2)-th reactor
      if (r % (hot + 2) == 0) {
        b.subscribe(sources[static_cast<std::size_t>(hot)]);
        subs[static_cast<std::size_t>(r)].insert(hot);
      }
    }
  }
  EXPECT_EQ(rx.subscriber_count(sources[0]), static_cast<std::size_t>(kReactors / 2));

  std::vector<bool> alive(kReactors, true);
  std::vector<int> expected(kReactors, 0);
  for (int pass = 0; pass < 30; ++pass) {
    std::set<int> marked;
    const int marks = pass % 5 == 0 ? 1 : static_cast<int>(rng() % 2000);
    for (int m = 0; m < marks; ++m) {
      const int s = pass % 3 == 0 ? static_cast<int>(rng() % 8) : static_cast<int>(rng() % kSources);
      rx.mark(sources[static_cast<std::size_t>(s)]);
      rx.mark(sources[static_cast<std::size_t>(s)]);
      marked.insert(s);
    }
    std::size_t woken = 0;
    for (int r = 0; r < kReactors; ++r) {
      if (!alive[static_cast<std::size_t>(r)]) continue;
      for (int s : subs[static_cast<std::size_t>(r)]) {
        if (marked.contains(s)) {
          ++expected[static_cast<std::size_t>(r)];
          ++woken;
          break;
        }
      }
    }
    ASSERT_EQ(world.dispatch_reactors(), woken) << "pass " << pass;
    ASSERT_EQ(runs, expected) << "pass " << pass;

    // Churn: remove a few reactors, unsubscribe a few subscriptions.
    for (int k = 0; k < 10; ++k) {
      const int r = static_cast<int>(rng() % kReactors);
      const auto ur = static_cast<std::size_t>(r);
      if (alive[ur] && k % 2 == 0) {
        EXPECT_TRUE(rx.remove(tokens[ur]));
        alive[ur] = false;
      } else if (alive[ur] && !subs[ur].empty()) {
        const int s = *subs[ur].begin();
        EXPECT_TRUE(rx.unsubscribe(tokens[ur], sources[static_cast<std::size_t>(s)]));
        subs[ur].erase(s);
      }
    }
  }
  std::size_t live = 0;
  for (bool a : alive) live += a ? 1 : 0;
  EXPECT_EQ(rx.reactor_count(), live);
}

// --- marks during a pass --------------------------------------------------------------------------------

struct Relay {
  int id = 0;
  keel::DataSource out;
};
void relay(Relay& ctx, keel::ResMut<keel::ReactorNotify> rx, keel::ResMut<Log> log) {
  log->runs.push_back(ctx.id);
  rx->mark(ctx.out);
}

TEST(ReactorNotify, MarksMadeDuringAPassWakeReactorsInTheNextPass) {
  keel::World world = make_world();
  auto& rx = world.resource<keel::ReactorNotify>();
  const keel::DataSource a = rx.register_source();
  const keel::DataSource b = rx.register_source();
  rx.spawn(Relay{.id = 1, .out = b}, world.registry(), relay).subscribe(a);
  spawn_logger(world, 2, {b});
  rx.mark(a);
  EXPECT_EQ(world.dispatch_reactors(), 1u);
  EXPECT_EQ(world.resource<Log>().runs, std::vector<int>{1});
  EXPECT_TRUE(rx.pending());
  EXPECT_EQ(world.dispatch_reactors(), 1u);
  EXPECT_EQ(world.resource<Log>().runs, (std::vector<int>{1, 2}));
  EXPECT_FALSE(rx.pending());
}

TEST(ReactorNotify, AReactorThatMarksItsOwnSourceRunsOncePerPass) {
  keel::World world = make_world();
  auto& rx = world.resource<keel::ReactorNotify>();
  const keel::DataSource a = rx.register_source();
  rx.spawn(Relay{.id = 1, .out = a}, world.registry(), relay).subscribe(a);
  rx.mark(a);
  for (int pass = 0; pass < 4; ++pass) EXPECT_EQ(world.dispatch_reactors(), 1u);
  EXPECT_EQ(world.resource<Log>().runs.size(), 4u);
  EXPECT_TRUE(rx.pending());  // it keeps re-arming itself
}

TEST(ReactorNotify, DispatchingFromInsideAReactorThrowsConfigError) {
  keel::World world = make_world();
  auto& rx = world.resource<keel::ReactorNotify>();
  const keel::DataSource a = rx.register_source();
  struct Ctx {
    keel::World* world;
  };
  rx.spawn(Ctx{&world}, world.registry(), [](Ctx& c) { c.world->dispatch_reactors(); }).subscribe(a);
  rx.mark(a);
  EXPECT_TRUE(Contains(config_error_message([&] { world.dispatch_reactors(); }), "inside a running reactor"));
  EXPECT_FALSE(rx.dispatching());
}

// --- remove ---------------------------------------------------------------------------------------------

// A reactor that, when it runs, removes the reactor named in its context
// (itself when `victim` is its own token).
struct Remover {
  int id = 0;
  keel::ReactorToken victim;
  int* destroyed = nullptr;
  Remover(int id, int* destroyed) : id(id), destroyed(destroyed) {}
  Remover(Remover&& o) noexcept : id(o.id), victim(o.victim), destroyed(std::exchange(o.destroyed, nullptr)) {}
  Remover& operator=(Remover&&) = delete;
  ~Remover() {
    if (destroyed != nullptr) ++*destroyed;
  }
};
void remove_victim(Remover& ctx, keel::ResMut<keel::ReactorNotify> rx, keel::ResMut<Log> log) {
  log->runs.push_back(ctx.id);
  const bool removed = rx->remove(ctx.victim);
  log->runs.push_back(removed ? 100 : 200);
  // The removed reactor (even this one) is still alive until the pass ends.
  if (ctx.destroyed != nullptr) log->runs.push_back(*ctx.destroyed);
}

TEST(ReactorNotify, AReactorCanRemoveItselfAndIsDestroyedAfterThePass) {
  keel::World world = make_world();
  auto& rx = world.resource<keel::ReactorNotify>();
  const keel::DataSource src = rx.register_source();
  int destroyed = 0;
  const keel::ReactorToken self = rx.spawn(Remover(1, &destroyed), world.registry(), remove_victim).subscribe(src);
  rx.context<Remover>(self)->victim = self;
  spawn_logger(world, 2, {src});  // runs after it in the same pass
  rx.mark(src);
  EXPECT_EQ(world.dispatch_reactors(), 2u);
  EXPECT_EQ(world.resource<Log>().runs, (std::vector<int>{1, 100, 0, 2}));
  EXPECT_EQ(destroyed, 1);  // destroyed once the pass ended
  EXPECT_FALSE(rx.contains(self));
  EXPECT_EQ(rx.subscriber_count(src), 1u);
  rx.mark(src);
  EXPECT_EQ(world.dispatch_reactors(), 1u);
  EXPECT_EQ(world.resource<Log>().runs.back(), 2);
}

TEST(ReactorNotify, AReactorRemovedBeforeItRunsInThePassDoesNotRun) {
  keel::World world = make_world();
  auto& rx = world.resource<keel::ReactorNotify>();
  const keel::DataSource src = rx.register_source();
  int destroyed = 0;
  const keel::ReactorToken first = rx.spawn(Remover(1, nullptr), world.registry(), remove_victim).subscribe(src);
  const keel::ReactorToken second = rx.spawn(Remover(2, &destroyed), world.registry(), remove_victim).subscribe(src);
  rx.context<Remover>(first)->victim = second;
  rx.context<Remover>(second)->victim = first;
  rx.mark(src);
  EXPECT_EQ(world.dispatch_reactors(), 1u);
  EXPECT_EQ(world.resource<Log>().runs, (std::vector<int>{1, 100}));
  EXPECT_EQ(destroyed, 1);
  EXPECT_TRUE(rx.contains(first));
  EXPECT_FALSE(rx.contains(second));
}

TEST(ReactorNotify, AReactorRemovedAfterItRanInThePassRanOnceAndIsGoneNextPass) {
  keel::World world = make_world();
  auto& rx = world.resource<keel::ReactorNotify>();
  const keel::DataSource src = rx.register_source();
  const keel::ReactorToken logger = spawn_logger(world, 1, {src});
  const keel::ReactorToken remover = rx.spawn(Remover(2, nullptr), world.registry(), remove_victim).subscribe(src);
  rx.context<Remover>(remover)->victim = logger;
  rx.mark(src);
  EXPECT_EQ(world.dispatch_reactors(), 2u);
  EXPECT_EQ(world.resource<Log>().runs, (std::vector<int>{1, 2, 100}));
  EXPECT_FALSE(rx.contains(logger));
  rx.context<Remover>(remover)->victim = keel::ReactorToken{};
  rx.mark(src);
  EXPECT_EQ(world.dispatch_reactors(), 1u);
  EXPECT_EQ(world.resource<Log>().runs, (std::vector<int>{1, 2, 100, 2, 200}));
}

TEST(ReactorNotify, AReactorRemovedDuringAPassIsNotWokenByMarksMadeInThatPass) {
  keel::World world = make_world();
  auto& rx = world.resource<keel::ReactorNotify>();
  const keel::DataSource a = rx.register_source();
  const keel::DataSource b = rx.register_source();
  const keel::ReactorToken victim = spawn_logger(world, 9, {b});
  const keel::ReactorToken remover = rx.spawn(Remover(1, nullptr), world.registry(), remove_victim).subscribe(a);
  rx.context<Remover>(remover)->victim = victim;
  spawn_logger(world, 2, {a});
  rx.spawn(Relay{.id = 3, .out = b}, world.registry(), relay).subscribe(a);
  rx.mark(a);
  EXPECT_EQ(world.dispatch_reactors(), 3u);
  EXPECT_EQ(world.dispatch_reactors(), 0u);  // b was marked, but its only subscriber is gone
  EXPECT_EQ(world.resource<Log>().runs, (std::vector<int>{1, 100, 2, 3}));
}

TEST(ReactorNotify, RemovingOutsideAPassDestroysTheReactorAtOnce) {
  keel::World world = make_world();
  auto& rx = world.resource<keel::ReactorNotify>();
  const keel::DataSource src = rx.register_source();
  int destroyed = 0;
  const keel::ReactorToken t = rx.spawn(Remover(1, &destroyed), world.registry(), remove_victim).subscribe(src);
  EXPECT_TRUE(rx.remove(t));
  EXPECT_EQ(destroyed, 1);
  EXPECT_EQ(rx.subscriber_count(src), 0u);
  rx.mark(src);
  EXPECT_EQ(world.dispatch_reactors(), 0u);
}

TEST(ReactorNotify, RemovingTwiceOrAnUnknownTokenIsANoOp) {
  keel::World world = make_world();
  auto& rx = world.resource<keel::ReactorNotify>();
  const keel::DataSource src = rx.register_source();
  const keel::ReactorToken t = spawn_logger(world, 1, {src});
  EXPECT_TRUE(rx.remove(t));
  EXPECT_FALSE(rx.remove(t));
  EXPECT_FALSE(rx.remove(keel::ReactorToken{}));
  // A stale token does not reach the reactor that reuses its slot.
  const keel::ReactorToken reuse = spawn_logger(world, 2, {src});
  EXPECT_FALSE(rx.remove(t));
  EXPECT_FALSE(rx.unsubscribe(t, src));
  EXPECT_FALSE(rx.subscribe(t, src));
  EXPECT_EQ(rx.context<Id>(t), nullptr);
  EXPECT_TRUE(rx.contains(reuse));
  rx.mark(src);
  EXPECT_EQ(world.dispatch_reactors(), 1u);
  EXPECT_EQ(world.resource<Log>().runs, std::vector<int>{2});
}

TEST(ReactorNotify, ATokenFromAnotherWorldIsANoOp) {
  keel::World world = make_world();
  keel::World other = make_world();
  auto& rx = world.resource<keel::ReactorNotify>();
  auto& orx = other.resource<keel::ReactorNotify>();
  for (int i = 0; i < 5; ++i) orx.register_source();
  const keel::DataSource far = orx.register_source();  // index 5: past this World's sources
  keel::ReactorToken far_token;
  for (int i = 0; i < 5; ++i) far_token = spawn_logger(other, i, {far});
  rx.register_source();
  EXPECT_FALSE(rx.remove(far_token));
  EXPECT_FALSE(rx.contains(far_token));
  rx.mark(far);
  EXPECT_EQ(world.dispatch_reactors(), 0u);
  EXPECT_EQ(orx.reactor_count(), 5u);
}

TEST(ReactorNotify, DestroyingTheWorldDestroysEachReactorOnce) {
  int destroyed = 0;
  {
    keel::World world = make_world();
    auto& rx = world.resource<keel::ReactorNotify>();
    for (int i = 0; i < 10; ++i) static_cast<void>(rx.spawn(Remover(i, &destroyed), world.registry(), remove_victim));
    EXPECT_EQ(destroyed, 0);
  }
  EXPECT_EQ(destroyed, 10);
}

// --- unsubscribe ----------------------------------------------------------------------------------------

TEST(ReactorNotify, UnsubscribingStopsOneSourceFromWakingTheReactor) {
  keel::World world = make_world();
  auto& rx = world.resource<keel::ReactorNotify>();
  const keel::DataSource a = rx.register_source();
  const keel::DataSource b = rx.register_source();
  const keel::ReactorToken t = spawn_logger(world, 1, {a, b});
  EXPECT_TRUE(rx.unsubscribe(t, a));
  EXPECT_FALSE(rx.unsubscribe(t, a));
  EXPECT_EQ(rx.subscriber_count(a), 0u);
  rx.mark(a);
  EXPECT_EQ(world.dispatch_reactors(), 0u);
  rx.mark(b);
  EXPECT_EQ(world.dispatch_reactors(), 1u);
  EXPECT_TRUE(rx.subscribe(t, a));  // and back
  rx.mark(a);
  EXPECT_EQ(world.dispatch_reactors(), 1u);
}

struct Unsubscriber {
  keel::ReactorToken who;
  keel::DataSource from;
};
void unsubscribe_other(Unsubscriber& ctx, keel::ResMut<keel::ReactorNotify> rx, keel::ResMut<Log> log) {
  log->runs.push_back(rx->unsubscribe(ctx.who, ctx.from) ? 100 : 200);
}

TEST(ReactorNotify, UnsubscribingDuringAPassTakesEffectFromTheNextPass) {
  keel::World world = make_world();
  auto& rx = world.resource<keel::ReactorNotify>();
  const keel::DataSource src = rx.register_source();
  const keel::ReactorToken u = rx.spawn(Unsubscriber{}, world.registry(), unsubscribe_other).subscribe(src);
  const keel::ReactorToken target = spawn_logger(world, 1, {src});
  *rx.context<Unsubscriber>(u) = Unsubscriber{.who = target, .from = src};
  rx.mark(src);
  EXPECT_EQ(world.dispatch_reactors(), 2u);  // the target was woken before it was unsubscribed
  rx.mark(src);
  EXPECT_EQ(world.dispatch_reactors(), 1u);
  EXPECT_EQ(world.resource<Log>().runs, (std::vector<int>{100, 1, 200}));
  EXPECT_TRUE(rx.contains(target));
}

// --- spawn during a pass --------------------------------------------------------------------------------

struct Spawner {
  int children = 0;
  keel::DataSource src;
  std::vector<keel::ReactorToken>* spawned;
};
void spawn_children(Spawner& ctx, keel::ResMut<keel::ReactorNotify> rx, keel::RegistryRef reg,
                    keel::ResMut<Log> log) {
  log->runs.push_back(-1);
  for (int i = 0; i < ctx.children; ++i)
    ctx.spawned->push_back(rx->spawn(Id{.id = i}, *reg, log_run).subscribe(ctx.src).token());
  ctx.children = 0;
}

TEST(ReactorNotify, ReactorsSpawnedDuringAPassRunFromTheNextPass) {
  keel::World world = make_world();
  auto& rx = world.resource<keel::ReactorNotify>();
  const keel::DataSource src = rx.register_source();
  std::vector<keel::ReactorToken> spawned;
  rx.spawn(Spawner{.children = 300, .src = src, .spawned = &spawned}, world.registry(), spawn_children)
      .subscribe(src);
  rx.mark(src);
  EXPECT_EQ(world.dispatch_reactors(), 1u);  // the children did not run in the pass that spawned them
  EXPECT_EQ(rx.reactor_count(), 301u);
  EXPECT_EQ(world.resource<Log>().runs, std::vector<int>{-1});
  rx.mark(src);
  EXPECT_EQ(world.dispatch_reactors(), 301u);
  for (keel::ReactorToken t : spawned) EXPECT_EQ(rx.context<Id>(t)->runs, 1);
}

// --- sources --------------------------------------------------------------------------------------------

TEST(ReactorNotify, MarkingAnUnknownOrRemovedSourceIsANoOp) {
  keel::World world = make_world();
  auto& rx = world.resource<keel::ReactorNotify>();
  rx.mark(keel::DataSource{});  // default handle, no sources at all
  const keel::DataSource src = rx.register_source();
  const keel::ReactorToken t = spawn_logger(world, 1, {src});
  rx.mark(keel::DataSource{});
  EXPECT_FALSE(rx.pending());
  rx.remove_source(src);
  EXPECT_FALSE(rx.contains(src));
  EXPECT_EQ(rx.source_count(), 0u);
  rx.mark(src);
  EXPECT_EQ(world.dispatch_reactors(), 0u);
  rx.remove_source(src);  // twice: no-op
  // The slot is reused under a new generation; the old handle stays inert.
  const keel::DataSource again = rx.register_source();
  EXPECT_NE(again, src);
  EXPECT_TRUE(rx.subscribe(t, again));
  rx.mark(src);
  EXPECT_EQ(world.dispatch_reactors(), 0u);
  rx.mark(again);
  EXPECT_EQ(world.dispatch_reactors(), 1u);
}

TEST(ReactorNotify, ASourceRemovedAfterBeingMarkedWakesNothing) {
  keel::World world = make_world();
  auto& rx = world.resource<keel::ReactorNotify>();
  const keel::DataSource a = rx.register_source();
  const keel::DataSource b = rx.register_source();
  spawn_logger(world, 1, {a});
  const keel::ReactorToken t2 = spawn_logger(world, 2, {b});
  rx.mark(a);
  rx.mark(b);
  rx.remove_source(a);
  const keel::DataSource reused = rx.register_source();  // same slot as `a`, not marked
  rx.subscribe(t2, reused);
  EXPECT_EQ(world.dispatch_reactors(), 1u);
  EXPECT_EQ(world.resource<Log>().runs, std::vector<int>{2});
}

TEST(ReactorNotify, RemovingASourceDropsItsSubscriptions) {
  keel::World world = make_world();
  auto& rx = world.resource<keel::ReactorNotify>();
  const keel::DataSource a = rx.register_source();
  const keel::DataSource b = rx.register_source();
  const keel::ReactorToken t = spawn_logger(world, 1, {a, b});
  rx.remove_source(a);
  EXPECT_FALSE(rx.unsubscribe(t, a));
  EXPECT_TRUE(rx.unsubscribe(t, b));
  EXPECT_TRUE(rx.contains(t));
}

// --- SourceRegistry -------------------------------------------------------------------------------------

TEST(SourceRegistry, MapsStringKeysToSourcesAndLooksUpByStringView) {
  keel::World world = make_world();
  auto& rx = world.resource<keel::ReactorNotify>();
  keel::SourceRegistry<std::string> by_symbol;
  EXPECT_TRUE(by_symbol.empty());
  const keel::DataSource btc = rx.register_source();
  const keel::DataSource eth = rx.register_source();
  EXPECT_TRUE(by_symbol.insert("BTC", btc));
  EXPECT_TRUE(by_symbol.insert("ETH", eth));
  EXPECT_EQ(by_symbol.size(), 2u);
  EXPECT_EQ(by_symbol.get(std::string_view("BTC")), btc);
  EXPECT_EQ(by_symbol.get(std::string("ETH")), eth);
  EXPECT_EQ(by_symbol.get(std::string_view("SOL")), std::nullopt);
  EXPECT_TRUE(by_symbol.contains(std::string_view("ETH")));
  EXPECT_EQ(by_symbol.get("BTC"), btc);  // a literal builds no std::string
  EXPECT_EQ(by_symbol.remove("ETH"), eth);
  EXPECT_FALSE(by_symbol.contains("ETH"));

  spawn_logger(world, 1, {btc});
  if (auto src = by_symbol.get(std::string_view("BTC"))) rx.mark(*src);
  EXPECT_EQ(world.dispatch_reactors(), 1u);
}

TEST(SourceRegistry, InsertReplacesAndRemoveReturnsTheUnmappedSource) {
  keel::World world = make_world();
  auto& rx = world.resource<keel::ReactorNotify>();
  keel::SourceRegistry<std::uint32_t> by_id;
  const keel::DataSource a = rx.register_source();
  const keel::DataSource b = rx.register_source();
  EXPECT_TRUE(by_id.insert(42, a));
  EXPECT_FALSE(by_id.insert(42, b));  // replaced
  EXPECT_EQ(by_id.get(42u), b);
  EXPECT_EQ(by_id.remove(42u), b);
  EXPECT_EQ(by_id.remove(42u), std::nullopt);
  EXPECT_FALSE(by_id.contains(42u));
  EXPECT_TRUE(rx.contains(b));  // the registry holds handles only
}

// --- errors ---------------------------------------------------------------------------------------------

TEST(ReactorNotify, AMissingResourceIsAConfigErrorNamingTheTypeAndTheReactor) {
  keel::World world = make_world();
  auto& rx = world.resource<keel::ReactorNotify>();
  const std::string named = config_error_message(
      [&] { static_cast<void>(rx.spawn(QuoteCtx{}, world.registry(), reactor_test::needs_missing)); });
  EXPECT_TRUE(Contains(named, "reactor_test::Missing"));
  EXPECT_TRUE(Contains(named, "reactor_test::needs_missing"));
  const std::string lambda = config_error_message([&] {
    static_cast<void>(rx.spawn(Id{}, world.registry(), [](Id&, keel::ResMut<reactor_test::Missing>) {}));
  });
  EXPECT_TRUE(Contains(lambda, "reactor_test::Missing"));
  EXPECT_TRUE(Contains(lambda, "lambda at "));
  EXPECT_TRUE(Contains(lambda, "reactor_test.cc"));
  EXPECT_EQ(rx.reactor_count(), 0u);  // nothing was spawned
}

TEST(ReactorNotify, SpawningWithAnotherWorldsRegistryIsAConfigError) {
  keel::World world = make_world();
  keel::World other = make_world();
  auto& rx = world.resource<keel::ReactorNotify>();
  EXPECT_THROW(static_cast<void>(rx.spawn(Id{}, other.registry(), log_run)), keel::ConfigError);
  EXPECT_EQ(rx.reactor_count(), 0u);
}

// --- exceptions -----------------------------------------------------------------------------------------

struct Thrower {
  int id = 0;
  bool armed = true;
  keel::ReactorToken victim;
};
void maybe_throw(Thrower& ctx, keel::ResMut<keel::ReactorNotify> rx, keel::ResMut<Log> log) {
  log->runs.push_back(ctx.id);
  if (ctx.victim) rx->remove(ctx.victim);
  if (ctx.armed) {
    ctx.armed = false;
    throw std::runtime_error("reactor failed");
  }
}

TEST(ReactorNotify, AThrowingReactorPropagatesAndTheRestOfItsPassRunsNext) {
  keel::World world = make_world();
  auto& rx = world.resource<keel::ReactorNotify>();
  const keel::DataSource a = rx.register_source();
  const keel::DataSource b = rx.register_source();
  const keel::ReactorToken doomed = spawn_logger(world, 9, {b});
  const keel::ReactorToken thrower =
      rx.spawn(Thrower{.id = 1, .armed = true, .victim = doomed}, world.registry(), maybe_throw).subscribe(a);
  spawn_logger(world, 2, {a});
  spawn_logger(world, 3, {a, b});
  rx.mark(a);
  EXPECT_THROW(world.dispatch_reactors(), std::runtime_error);
  EXPECT_FALSE(rx.dispatching());
  EXPECT_TRUE(rx.contains(thrower));
  EXPECT_FALSE(rx.contains(doomed));  // its removal was applied
  EXPECT_TRUE(rx.pending());
  // 2 and 3 were woken but did not run; they run first in the next pass,
  // once each even though 3 is woken again through b.
  rx.context<Thrower>(thrower)->victim = keel::ReactorToken{};
  rx.mark(b);
  EXPECT_EQ(world.dispatch_reactors(), 2u);
  EXPECT_EQ(world.resource<Log>().runs, (std::vector<int>{1, 2, 3}));
  EXPECT_FALSE(rx.pending());
}

}  // namespace
