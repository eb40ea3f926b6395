// Sanitizer test for patterns 22 and 23 (docs/soundness.md): EventRing
// builds events in raw storage from std::allocator at the back of a ring,
// moves them out of the front and destroys them in place, wrapping around a
// buffer that is never grown; keel::Inbox drives it, and keel::Address
// reaches an inbox inside a reactor's context. Events own heap memory (std::string past the
// small-string size) and count their live instances, so a slot constructed
// twice, destroyed twice, read after destruction or never destroyed, and a
// send that reaches a destroyed context, show up under ASan/LSan or in the
// count.
#include <gtest/gtest.h>

#include <cstddef>
#include <deque>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "rt/internal/event_ring.h"
#include "rt/mailbox.h"
#include "rt/reactor.h"
#include "rt/world.h"

namespace {

using keel::Delivery;
using keel::internal::EventRing;

int live = 0;

// Heap-owning event whose bytes are checked on every read.
struct Event {
  explicit Event(int v) : value(v), text(64, static_cast<char>('a' + v % 26)) { ++live; }
  Event(const Event& other) : value(other.value), text(other.text) { ++live; }
  Event(Event&& other) noexcept : value(other.value), text(std::move(other.text)) {
    ++live;
    other.value = -1;
  }
  Event& operator=(const Event&) = delete;
  ~Event() {
    --live;
    value = -2;
  }
  bool intact() const { return value >= 0 && text == std::string(64, static_cast<char>('a' + value % 26)); }
  int value;
  std::string text;
};

// An event whose move constructor throws on demand.
struct Fragile {
  static inline bool fail_moves = false;
  explicit Fragile(int v) : event(v) {}
  Fragile(Fragile&& other) : event(other.event.value) {
    if (fail_moves) throw std::runtime_error("move failed");
    other.event.value = -1;
  }
  Event event;
};

struct Fixture : ::testing::Test {
  void SetUp() override {
    live = 0;
    Fragile::fail_moves = false;
  }
  void TearDown() override { EXPECT_EQ(live, 0) << "an event was leaked or destroyed twice"; }
};
using EventRingTest = Fixture;
using InboxMemoryTest = Fixture;

TEST_F(EventRingTest, EventsWrapAroundTheStorageInFifoOrderIntact) {
  EventRing<Event> ring(5);
  std::deque<int> model;
  int next = 0;
  for (int round = 0; round < 200; ++round) {
    // Push a few (up to full), take a few: the head walks around the ring.
    for (int k = round % 4 + 1; k > 0; --k) {
      const bool pushed = ring.try_emplace_back(next);
      EXPECT_EQ(pushed, model.size() < 5);
      if (pushed) model.push_back(next);
      ++next;
    }
    for (int k = round % 3 + 1; k > 0 && !ring.empty(); --k) {
      const Event e = ring.take_front();
      ASSERT_TRUE(e.intact());
      EXPECT_EQ(e.value, model.front());
      model.pop_front();
    }
    EXPECT_EQ(ring.size(), model.size());
    EXPECT_EQ(live, static_cast<int>(model.size()));
  }
}

TEST_F(EventRingTest, EventsLeftWhenTheRingDiesAreDestroyedOnceAlsoAcrossTheWrap) {
  for (std::size_t taken = 0; taken < 6; ++taken) {
    EventRing<Event> ring(6);
    for (int v = 0; v < 6; ++v) ASSERT_TRUE(ring.try_emplace_back(v));
    for (std::size_t k = 0; k < taken; ++k) static_cast<void>(ring.take_front());
    for (int v = 10; ring.try_emplace_back(v); ++v) {
    }
    EXPECT_EQ(live, 6);
  }
}

TEST_F(EventRingTest, AFullRingDoesNotTouchTheArguments) {
  EventRing<Event> ring(1);
  ASSERT_TRUE(ring.try_emplace_back(1));
  Event kept(2);
  EXPECT_FALSE(ring.try_emplace_back(std::move(kept)));
  EXPECT_TRUE(kept.intact());
  EXPECT_EQ(ring.take_front().value, 1);
}

TEST_F(EventRingTest, AThrowingMoveLeavesTheFrontEventQueued) {
  EventRing<Fragile> ring(3);
  ASSERT_TRUE(ring.try_emplace_back(1));
  ASSERT_TRUE(ring.try_emplace_back(2));
  Fragile::fail_moves = true;
  EXPECT_THROW(static_cast<void>(ring.take_front()), std::runtime_error);
  EXPECT_EQ(ring.size(), 2u);
  Fragile::fail_moves = false;
  const Fragile first = ring.take_front();
  EXPECT_TRUE(first.event.intact());
  EXPECT_EQ(first.event.value, 1);
}

TEST_F(EventRingTest, MovingTheRingHandsOverItsEventsWithoutTouchingThem) {
  EventRing<Event> a(4);
  for (int v = 0; v < 4; ++v) ASSERT_TRUE(a.try_emplace_back(v));
  static_cast<void>(a.take_front());
  ASSERT_TRUE(a.try_emplace_back(4));  // wrapped
  EventRing<Event> b(std::move(a));
  EXPECT_EQ(a.capacity(), 0u);
  EXPECT_FALSE(a.try_emplace_back(9));
  EventRing<Event> c(2);
  ASSERT_TRUE(c.try_emplace_back(7));
  c = std::move(b);  // destroys c's event
  EXPECT_EQ(live, 4);
  for (int v = 1; v <= 4; ++v) EXPECT_EQ(c.take_front().value, v);
}

TEST_F(EventRingTest, AZeroCapacityRingRefusesEverythingAndAllocatesNothing) {
  EventRing<Event> ring;
  EXPECT_FALSE(ring.try_emplace_back(1));
  EventRing<Event> sized(0);
  EXPECT_FALSE(sized.try_emplace_back(1));
  EXPECT_EQ(live, 0);
}

// --- through keel::Inbox, inside reactors ------------------------------------------------------

struct Desk {
  keel::Inbox<Event> inbox{4};
  std::vector<int> seen;
};
void on_desk(Desk& d) {
  d.inbox.drain([&](Event& e) {
    EXPECT_TRUE(e.intact());
    d.seen.push_back(e.value);
  });
}

TEST_F(InboxMemoryTest, DestroyingAWorldWithFullInboxesDestroysEveryEventOnce) {
  {
    keel::World world = keel::WorldBuilder{}.build();
    auto& rx = world.resource<keel::ReactorNotify>();
    for (int r = 0; r < 20; ++r) {
      const keel::Address<Event> to = rx.address(rx.spawn(Desk{}, world.registry(), on_desk), &Desk::inbox);
      for (int v = 0; v < 4; ++v) ASSERT_EQ(rx.send(to, Event(r * 4 + v)), Delivery::delivered);
      EXPECT_EQ(rx.send(to, Event(0)), Delivery::full);
    }
    EXPECT_EQ(live, 80);
  }
  EXPECT_EQ(live, 0);
}

// Sends to reactors removed outside a pass, during a pass (before and after
// they ran) and to slots reused by newer reactors must never reach the
// freed context: under ASan, a heap-use-after-free.
TEST_F(InboxMemoryTest, SendsToRemovedReactorsNeverReachTheirFreedContexts) {
  struct Killer {
    std::vector<keel::Address<Event>> targets;
    std::vector<Delivery> results;
  };
  keel::World world = keel::WorldBuilder{}.build();
  auto& rx = world.resource<keel::ReactorNotify>();
  const keel::DataSource src = rx.register_source();
  std::vector<keel::Address<Event>> desks;
  for (int r = 0; r < 8; ++r) {
    desks.push_back(rx.address(rx.spawn(Desk{}, world.registry(), on_desk).subscribe(src), &Desk::inbox));
  }
  auto kill_and_send = [](Killer& k, keel::ResMut<keel::ReactorNotify> rx) {
    for (const keel::Address<Event>& to : k.targets) {
      rx->remove(to.reactor());
      for (int v = 0; v < 3; ++v) k.results.push_back(rx->send(to, Event(v)));
    }
  };
  // The killer runs after desks 0-3 and before desks 4-7.
  for (int r = 0; r < 4; ++r) rx.unsubscribe(desks[static_cast<std::size_t>(r)].reactor(), src);
  for (int r = 0; r < 4; ++r) rx.subscribe(desks[static_cast<std::size_t>(r)].reactor(), src);
  const keel::ReactorToken killer =
      rx.spawn(Killer{.targets = {desks[0], desks[5], desks[7]}, .results = {}}, world.registry(), kill_and_send)
          .token();
  for (int r = 4; r < 8; ++r) rx.unsubscribe(desks[static_cast<std::size_t>(r)].reactor(), src);
  rx.subscribe(killer, src);
  for (int r = 4; r < 8; ++r) rx.subscribe(desks[static_cast<std::size_t>(r)].reactor(), src);
  for (const keel::Address<Event>& to : desks) ASSERT_EQ(rx.send(to, Event(50)), Delivery::delivered);
  rx.mark(src);
  world.dispatch_reactors();
  for (const Delivery d : rx.context<Killer>(killer)->results) EXPECT_EQ(d, Delivery::gone);
  EXPECT_EQ(rx.context<Killer>(killer)->results.size(), 9u);
  // The removed desks' events died with them at the end of the pass.
  EXPECT_EQ(live, 0);
  // Their slots are reused; the old addresses still miss.
  for (int r = 0; r < 3; ++r) static_cast<void>(rx.spawn(Desk{}, world.registry(), on_desk));
  for (const std::size_t r : {0u, 5u, 7u}) EXPECT_EQ(rx.send(desks[r], Event(1)), Delivery::gone);
  EXPECT_EQ(rx.send(desks[1], Event(60)), Delivery::delivered);
  world.dispatch_reactors();
  EXPECT_EQ(live, 0);
}

// A reactor that sends to itself while draining, and then removes itself:
// the events it sent are destroyed with its context after the pass.
TEST_F(InboxMemoryTest, SelfSendsDuringADrainThenSelfRemovalLeakNothing) {
  struct Echo {
    keel::Inbox<Event> inbox{3};
    keel::Address<Event> me;
  };
  keel::World world = keel::WorldBuilder{}.build();
  auto& rx = world.resource<keel::ReactorNotify>();
  const keel::ReactorToken t = rx.spawn(Echo{}, world.registry(), [](Echo& e, keel::ResMut<keel::ReactorNotify> rx) {
                                   e.inbox.drain([&](Event& ev) {
                                     ASSERT_TRUE(ev.intact());
                                     for (int k = 0; k < 3; ++k) static_cast<void>(rx->send(e.me, Event(ev.value + 1)));
                                   });
                                   if (e.inbox.size() == 3) rx->remove(e.me.reactor());
                                 }).token();
  rx.context<Echo>(t)->me = rx.address(t, &Echo::inbox);
  ASSERT_EQ(rx.send(rx.context<Echo>(t)->me, Event(1)), Delivery::delivered);
  for (int pass = 0; pass < 5 && rx.pending(); ++pass) world.dispatch_reactors();
  EXPECT_FALSE(rx.contains(t));
  EXPECT_EQ(live, 0);
}

// While the World is destroyed, reactors die in slot order without being
// unsubscribed first. A context destructor that publishes to a source must
// skip the subscribers already destroyed (their slots are free, and the
// slab's last-run pointer may name one of them) and its own reactor.
TEST_F(InboxMemoryTest, PublishingFromAContextDestructorDuringTeardownSkipsDestroyedSubscribers) {
  struct Publisher {
    keel::Inbox<Event> inbox{4};
    keel::ReactorNotify* rx = nullptr;
    keel::DataSource src;
    std::size_t* took = nullptr;
    Publisher() = default;
    Publisher(Publisher&& p) noexcept
        : inbox(std::move(p.inbox)), rx(std::exchange(p.rx, nullptr)), src(p.src), took(p.took) {}
    ~Publisher() {
      if (rx != nullptr) *took = rx->publish(src, &Publisher::inbox, Event(7));
    }
  };
  std::size_t took = 99;
  {
    keel::World world = keel::WorldBuilder{}.build();
    auto& rx = world.resource<keel::ReactorNotify>();
    const keel::DataSource src = rx.register_source();
    auto run = [](Publisher& p) { p.inbox.drain([](Event& e) { EXPECT_TRUE(e.intact()); }); };
    const keel::ReactorToken first = rx.spawn(Publisher{}, world.registry(), run).subscribe(src).token();
    const keel::ReactorToken publisher = rx.spawn(Publisher{}, world.registry(), run).subscribe(src).token();
    rx.spawn(Publisher{}, world.registry(), run).subscribe(src);
    Publisher& p = *rx.context<Publisher>(publisher);
    p.rx = &rx;
    p.src = src;
    p.took = &took;
    // `first` runs last in a pass, so the slab's last-run pointer names it
    // when teardown destroys it first.
    ASSERT_EQ(rx.send(rx.address(first, &Publisher::inbox), Event(1)), Delivery::delivered);
    world.dispatch_reactors();
  }
  EXPECT_EQ(took, 1u);  // only the third reactor was still alive
  EXPECT_EQ(live, 0);
}

}  // namespace
