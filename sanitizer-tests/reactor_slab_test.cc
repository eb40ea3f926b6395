// Sanitizer test for the reactor storage (rt/internal/reactor_slab.h): each
// reactor is a heap object behind the virtual ErasedReactor; run() moves it
// out of its slot, runs it and moves it back by index; removal during a pass
// is deferred to the end of the pass; slots are reused through a free list.
// Run under --config=asan: a reactor destroyed while it runs is a
// heap-use-after-free in its own frame; a slot reached through a reference
// taken before slot-vector growth is a use-after-free of the old vector; a
// reactor destroyed twice (deferred and again at teardown) is a double free;
// one never destroyed is a leak. Every reactor here owns heap memory
// (std::string, std::vector) so that each of those mistakes touches it.
#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "rt/internal/reactor_slab.h"
#include "rt/param.h"
#include "rt/reactor.h"
#include "rt/world.h"

namespace {

// Shared by the reactors of one test: what ran, and the live-object count.
struct Journal {
  std::vector<std::string> lines;
  int live = 0;
  int destroyed = 0;
};

// A context that owns heap memory and counts itself in the Journal.
struct Payload {
  Payload(Journal* journal, std::string name)
      : journal(journal), name(std::move(name) + std::string(48, '#')), history(16, 7) {
    ++journal->live;
  }
  Payload(Payload&& other) noexcept
      : journal(std::exchange(other.journal, nullptr)), name(std::move(other.name)),
        history(std::move(other.history)), victims(std::move(other.victims)), self(other.self),
        children(other.children), source(other.source) {}
  Payload& operator=(Payload&&) = delete;
  ~Payload() {
    if (journal != nullptr) {
      --journal->live;
      ++journal->destroyed;
    }
  }

  Journal* journal;
  std::string name;
  std::vector<int> history;
  std::vector<keel::ReactorToken> victims;  // removed when this reactor runs
  keel::ReactorToken self;
  int children = 0;  // reactors to spawn when this one runs
  keel::DataSource source;
};

// Touches every byte it owns, removes its victims, spawns its children.
void busy(Payload& p, keel::ResMut<keel::ReactorNotify> rx, keel::RegistryRef reg) {
  p.history.push_back(static_cast<int>(p.name.size()));
  p.journal->lines.push_back(p.name);
  for (const keel::ReactorToken victim : p.victims) rx->remove(victim);
  p.victims.clear();
  for (int i = 0; i < p.children; ++i) {
    const keel::ReactorToken child =
        rx->spawn(Payload(p.journal, p.name + "/child" + std::to_string(i)), *reg, busy).subscribe(p.source);
    // The spawner's own context is still ours: growth moved slots, not it.
    p.history.push_back(static_cast<int>(child == keel::ReactorToken{}));
  }
  p.children = 0;
  // Read our heap data after the slab may have grown and reactors died.
  p.journal->lines.back() += std::to_string(p.history.size());
}

struct Fixture {
  Journal journal;
  keel::World world = keel::WorldBuilder{}.build();
  keel::ReactorNotify& rx = world.resource<keel::ReactorNotify>();

  keel::ReactorToken spawn(std::string name, keel::DataSource src) {
    const keel::ReactorToken t = rx.spawn(Payload(&journal, std::move(name)), world.registry(), busy).subscribe(src);
    rx.context<Payload>(t)->self = t;
    rx.context<Payload>(t)->source = src;
    return t;
  }
};

TEST(ReactorSlab, ReactorsRemovingThemselvesAreDestroyedOnceAfterThePass) {
  Fixture f;
  const keel::DataSource src = f.rx.register_source();
  std::vector<keel::ReactorToken> tokens;
  for (int i = 0; i < 64; ++i) tokens.push_back(f.spawn("self-" + std::to_string(i), src));
  for (int i = 0; i < 64; i += 2) f.rx.context<Payload>(tokens[i])->victims.push_back(tokens[i]);
  f.rx.mark(src);
  EXPECT_EQ(f.world.dispatch_reactors(), 64u);
  EXPECT_EQ(f.journal.destroyed, 32);
  EXPECT_EQ(f.journal.live, 32);
  f.rx.mark(src);
  EXPECT_EQ(f.world.dispatch_reactors(), 32u);
  for (int i = 0; i < 64; ++i) EXPECT_EQ(f.rx.contains(tokens[i]), i % 2 == 1);
}

TEST(ReactorSlab, ReactorsRemovingOthersBeforeAndAfterTheyRunDoNotTouchFreedMemory) {
  Fixture f;
  const keel::DataSource src = f.rx.register_source();
  std::vector<keel::ReactorToken> tokens;
  for (int i = 0; i < 100; ++i) tokens.push_back(f.spawn("other-" + std::to_string(i), src));
  // Reactor i removes i+50 (not run yet) and i-1 (already ran), for i < 50.
  for (int i = 0; i < 50; ++i) {
    auto& victims = f.rx.context<Payload>(tokens[i])->victims;
    victims.push_back(tokens[i + 50]);
    if (i > 0) victims.push_back(tokens[i - 1]);
    victims.push_back(tokens[i + 50]);  // twice: the second is a no-op
  }
  f.rx.mark(src);
  EXPECT_EQ(f.world.dispatch_reactors(), 50u);  // 50..99 were removed before their turn
  EXPECT_EQ(f.journal.destroyed, 99);           // all but the last of the first half
  EXPECT_EQ(f.journal.live, 1);
  EXPECT_EQ(f.rx.reactor_count(), 1u);
  f.rx.mark(src);
  EXPECT_EQ(f.world.dispatch_reactors(), 1u);
}

TEST(ReactorSlab, SpawningDuringAPassGrowsTheSlabUnderTheRunningReactor) {
  Fixture f;
  const keel::DataSource src = f.rx.register_source();
  const keel::ReactorToken root = f.spawn("root", src);
  f.rx.context<Payload>(root)->children = 1000;  // many reallocations of the slot vector
  f.rx.mark(src);
  EXPECT_EQ(f.world.dispatch_reactors(), 1u);
  EXPECT_EQ(f.rx.reactor_count(), 1001u);
  EXPECT_EQ(f.journal.live, 1001);
  EXPECT_EQ(f.rx.context<Payload>(root)->history.size(), 16u + 1u + 1000u);
  f.rx.mark(src);
  EXPECT_EQ(f.world.dispatch_reactors(), 1001u);
}

TEST(ReactorSlab, SpawnRemoveAndGrowInOnePassThenReuseFreedSlots) {
  Fixture f;
  const keel::DataSource src = f.rx.register_source();
  std::vector<keel::ReactorToken> tokens;
  for (int i = 0; i < 8; ++i) tokens.push_back(f.spawn("mix-" + std::to_string(i), src));
  // The first removes itself and everyone else, then spawns 200 children:
  // the slots it frees are only reusable after the pass.
  Payload& first = *f.rx.context<Payload>(tokens[0]);
  for (int i = 7; i >= 0; --i) first.victims.push_back(tokens[i]);
  first.children = 200;
  f.rx.mark(src);
  EXPECT_EQ(f.world.dispatch_reactors(), 1u);
  EXPECT_EQ(f.journal.destroyed, 8);
  EXPECT_EQ(f.rx.reactor_count(), 200u);
  for (keel::ReactorToken t : tokens) EXPECT_FALSE(f.rx.contains(t));
  // Freed slots are reused by new reactors; stale tokens stay inert.
  for (int i = 0; i < 8; ++i) f.spawn("reuse-" + std::to_string(i), src);
  for (keel::ReactorToken t : tokens) EXPECT_FALSE(f.rx.remove(t));
  f.rx.mark(src);
  EXPECT_EQ(f.world.dispatch_reactors(), 208u);
}

TEST(ReactorSlab, AThrowingReactorIsPutBackAndItsPassStillAppliesRemovals) {
  Fixture f;
  const keel::DataSource src = f.rx.register_source();
  const keel::ReactorToken victim = f.spawn("victim", src);
  std::string big(200, 'x');
  auto thrower = [](Payload& p, keel::ResMut<keel::ReactorNotify> rx) {
    for (const keel::ReactorToken v : p.victims) rx->remove(v);
    p.victims.clear();
    p.history.assign(100, 1);
    if (p.children++ == 0) throw std::runtime_error(p.name);
  };
  const keel::ReactorToken t =
      f.rx.spawn(Payload(&f.journal, big), f.world.registry(), thrower).subscribe(src).token();
  f.rx.context<Payload>(t)->victims = {victim, t};  // removes itself too, then throws
  f.rx.mark(src);
  EXPECT_THROW(f.world.dispatch_reactors(), std::runtime_error);
  EXPECT_FALSE(f.rx.contains(t));
  EXPECT_FALSE(f.rx.contains(victim));
  EXPECT_EQ(f.journal.live, 0);
  EXPECT_EQ(f.journal.destroyed, 2);
}

// A context whose destructor removes another reactor: destruction must find
// the storage consistent, during a pass's end and during teardown.
struct Chained {
  keel::ReactorNotify* rx;
  keel::ReactorToken next;
  std::unique_ptr<std::string> data = std::make_unique<std::string>(64, 'c');
  int* destroyed;
  Chained(keel::ReactorNotify* rx, int* destroyed) : rx(rx), destroyed(destroyed) {}
  Chained(Chained&& o) noexcept
      : rx(std::exchange(o.rx, nullptr)), next(o.next), data(std::move(o.data)), destroyed(o.destroyed) {}
  Chained& operator=(Chained&&) = delete;
  ~Chained() {
    if (rx == nullptr) return;
    ++*destroyed;
    rx->remove(next);  // may destroy the next one, recursively
  }
};
void chained_run(Chained& c) { c.data->push_back('r'); }

TEST(ReactorSlab, DestructorsThatRemoveOtherReactorsFindTheStorageConsistent) {
  int destroyed = 0;
  {
    keel::World world = keel::WorldBuilder{}.build();
    auto& rx = world.resource<keel::ReactorNotify>();
    const keel::DataSource src = rx.register_source();
    std::vector<keel::ReactorToken> chain;
    for (int i = 0; i < 20; ++i)
      chain.push_back(rx.spawn(Chained(&rx, &destroyed), world.registry(), chained_run).subscribe(src));
    for (int i = 0; i + 1 < 20; ++i) rx.context<Chained>(chain[i])->next = chain[i + 1];
    // Removing the head outside a pass destroys the whole first chain.
    rx.remove(chain[0]);
    EXPECT_EQ(destroyed, 20);
    EXPECT_EQ(rx.reactor_count(), 0u);

    // A second chain, left for the World's destruction.
    std::vector<keel::ReactorToken> tail;
    for (int i = 0; i < 20; ++i)
      tail.push_back(rx.spawn(Chained(&rx, &destroyed), world.registry(), chained_run).subscribe(src));
    for (int i = 0; i + 1 < 20; ++i) rx.context<Chained>(tail[i + 1])->next = tail[i];  // backwards
    rx.mark(src);
    EXPECT_EQ(world.dispatch_reactors(), 20u);
  }
  EXPECT_EQ(destroyed, 40);
}

// While a reactor runs it is out of its slot; its context stays reachable
// through its token (the slab remembers the reactor it moved out), also
// after the slot vector was reallocated by spawns, and never as another type.
struct SelfLookup {
  Journal* journal = nullptr;
  keel::ReactorToken self{};
  std::string text = std::string(80, 's');
  int spawn = 0;
  bool found_self = false;
  bool wrong_type_is_null = false;
};
void look_up_self(SelfLookup& ctx, keel::ResMut<keel::ReactorNotify> rx, keel::RegistryRef reg) {
  for (int i = 0; i < ctx.spawn; ++i) static_cast<void>(rx->spawn(Payload(ctx.journal, "x"), *reg, busy));
  SelfLookup* found = rx->context<SelfLookup>(ctx.self);
  ctx.found_self = found == &ctx && found->text.size() == 80;
  ctx.wrong_type_is_null = rx->context<Payload>(ctx.self) == nullptr;
}

TEST(ReactorSlab, AContextIsReachableWhileItsReactorRunsAndNeverAsAnotherType) {
  Journal journal;
  keel::World world = keel::WorldBuilder{}.build();
  auto& rx = world.resource<keel::ReactorNotify>();
  const keel::DataSource src = rx.register_source();
  const keel::ReactorToken t =
      rx.spawn(SelfLookup{.journal = &journal}, world.registry(), look_up_self).subscribe(src);
  rx.context<SelfLookup>(t)->self = t;
  rx.context<SelfLookup>(t)->spawn = 300;
  rx.mark(src);
  EXPECT_EQ(world.dispatch_reactors(), 1u);
  EXPECT_TRUE(rx.context<SelfLookup>(t)->found_self);
  EXPECT_TRUE(rx.context<SelfLookup>(t)->wrong_type_is_null);
  EXPECT_EQ(rx.context<Payload>(t), nullptr);
  EXPECT_EQ(journal.live, 300);
  rx.remove(t);
  EXPECT_EQ(rx.context<SelfLookup>(t), nullptr);
}

TEST(ReactorSlab, RawSlabMovesOutRunsAndMovesBackByIndex) {
  // The slab on its own, without ReactorNotify: a reactor that inserts into
  // and retires from the slab that is running it.
  struct Probe final : keel::internal::ErasedReactor {
    keel::internal::ReactorSlab* slab;
    std::vector<std::string> notes;
    int spawn = 0;
    bool retire_self = false;
    std::uint32_t index = 0;
    explicit Probe(keel::internal::ReactorSlab* s) : ErasedReactor("probe"), slab(s), notes(4, std::string(40, 'p')) {}
    void run(keel::World&) override {
      for (int i = 0; i < spawn; ++i) slab->insert(std::make_unique<Probe>(slab));
      spawn = 0;
      if (retire_self) slab->retire(index);
      notes.push_back(notes.front());  // our own memory, after growth and retire
    }
    void* context(keel::internal::TypeKey) noexcept override { return nullptr; }
  };
  keel::World world = keel::WorldBuilder{}.build();
  keel::internal::ReactorSlab slab;
  auto probe = std::make_unique<Probe>(&slab);
  Probe* raw = probe.get();
  const std::uint32_t index = slab.insert(std::move(probe));
  raw->index = index;
  raw->spawn = 500;
  raw->retire_self = true;
  slab.begin_pass();
  EXPECT_TRUE(slab.run(index, world));
  EXPECT_EQ(slab.get(index), raw);  // moved back while retired
  EXPECT_FALSE(slab.run(index, world));  // retired: skipped
  slab.end_pass();
  EXPECT_EQ(slab.size(), 500u);
  EXPECT_FALSE(slab.is_live(index));
  // The freed slot is reused with a new generation.
  const std::uint32_t generation_before = slab.generation(index);
  const std::uint32_t reused = slab.insert(std::make_unique<Probe>(&slab));
  EXPECT_EQ(reused, index);
  EXPECT_EQ(slab.generation(reused), generation_before);
  EXPECT_TRUE(slab.live(reused, generation_before));
}

// clear() passes again until a pass finds nothing, so a reactor that a
// destructor spawns into a slot already passed (the slot just freed is the
// first one reused) is destroyed by clear() too. ~ReactorNotify clears the
// slab while its source tables are whole; a reactor left for the slab's own
// destructor would be destroyed after those tables, and its destructor could
// call back into them.
TEST(ReactorSlab, ClearDestroysReactorsThatDestructorsInsertBehindIt) {
  struct Refill final : keel::internal::ErasedReactor {
    keel::internal::ReactorSlab* slab;
    int* live;
    bool refill;
    std::string text = std::string(40, 'r');
    Refill(keel::internal::ReactorSlab* s, int* l, bool r) : ErasedReactor("refill"), slab(s), live(l), refill(r) {
      ++*live;
    }
    ~Refill() override {
      --*live;
      if (refill) slab->insert(std::make_unique<Refill>(slab, live, false));
    }
    void run(keel::World&) override {}
    void* context(keel::internal::TypeKey) noexcept override { return nullptr; }
  };
  int live = 0;
  keel::internal::ReactorSlab slab;
  slab.insert(std::make_unique<Refill>(&slab, &live, true));
  for (int i = 0; i < 3; ++i) slab.insert(std::make_unique<Refill>(&slab, &live, false));
  slab.clear();
  EXPECT_EQ(slab.size(), 0u);
  EXPECT_EQ(slab.capacity(), 4u);
  EXPECT_EQ(live, 0);
}

}  // namespace
