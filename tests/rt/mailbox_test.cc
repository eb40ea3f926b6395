// Tests for rt/mailbox.h: keel::Inbox, keel::Address, keel::Delivery and
// ReactorNotify::address(), send() and publish(); how sends wake reactors
// within the pass semantics of rt/reactor.h; what happens to queued events
// when a reactor is removed, throws, or the World is destroyed; and that a
// send and its drain allocate nothing once the wake list has grown.
#include "rt/mailbox.h"

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <new>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "rt/error.h"
#include "rt/handler.h"
#include "rt/param.h"
#include "rt/reactor.h"
#include "rt/world.h"
#include "tests/rt/fixtures.h"
#include "tests/rt/tracking.h"

// Every operator new in this binary counts itself, so that a test can check
// that a stretch of code allocates nothing.
namespace {
std::size_t allocations = 0;
}  // namespace

void* operator new(std::size_t size) {
  ++allocations;
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

// Named namespace: reactor names from the symbol table carry no
// '{anonymous}::' (see handler_test.cc).
namespace mailbox_test {

struct Order {
  int id = 0;
};

// What the reactors saw, in order: (reactor, event id) pairs and runs.
struct Log {
  std::vector<std::pair<int, int>> events;
  std::vector<int> runs;
};

// A reactor with an inbox.
struct Book {
  keel::Inbox<Order> inbox{8};
  int instrument = 0;
};
void on_orders(Book& book, keel::ResMut<Log> log) {
  log->runs.push_back(book.instrument);
  book.inbox.drain([&](Order& o) { log->events.emplace_back(book.instrument, o.id); });
}

// A reactor without one.
struct Watcher {
  int id = 0;
};
void on_watch(Watcher& w, keel::ResMut<Log> log) { log->runs.push_back(w.id); }

}  // namespace mailbox_test

namespace {

using keel::Delivery;
using keel_test::config_error_message;
using keel_test::Contains;
using mailbox_test::Book;
using mailbox_test::Log;
using mailbox_test::Order;
using mailbox_test::Watcher;

keel::World make_world() {
  keel::WorldBuilder wb;
  wb.insert(Log{});
  return std::move(wb).build();
}

keel::ReactorToken spawn_book(keel::World& world, int instrument, std::size_t capacity = 8) {
  return world.resource<keel::ReactorNotify>()
      .spawn(Book{.inbox = keel::Inbox<Order>(capacity), .instrument = instrument}, world.registry(),
             mailbox_test::on_orders)
      .token();
}

// A reactor context whose events count their copies, moves and destructions.
struct Tracker {
  keel::Inbox<keel_test::Tracked> inbox{4};
};

// --- Inbox and Address on their own -----------------------------------------------------------

TEST(Address, IsSmallTriviallyCopyableAndEmptyByDefault) {
  static_assert(std::is_trivially_copyable_v<keel::Address<Order>>);
  static_assert(sizeof(keel::Address<Order>) == 16);
  const keel::Address<Order> none;
  EXPECT_FALSE(none);
  EXPECT_FALSE(none.reactor());
  EXPECT_EQ(none, keel::Address<Order>{});
}

TEST(Inbox, StartsEmptyWithTheCapacityItWasGiven) {
  keel::Inbox<Order> inbox(3);
  EXPECT_EQ(inbox.capacity(), 3u);
  EXPECT_EQ(inbox.size(), 0u);
  EXPECT_TRUE(inbox.empty());
  EXPECT_EQ(inbox.dropped(), 0u);
  EXPECT_EQ(inbox.drain([](Order&) { ADD_FAILURE() << "an empty inbox has nothing to drain"; }), 0u);
}

TEST(Inbox, ACapacityOfZeroIsAConfigErrorNamingTheEventType) {
  const std::string message = config_error_message([] { keel::Inbox<Order> inbox(0); });
  EXPECT_TRUE(Contains(message, "Inbox<mailbox_test::Order>"));
  EXPECT_TRUE(Contains(message, "capacity 0"));
}

TEST(Inbox, AMovedFromInboxHasNoCapacityAndRefusesEvents) {
  keel::World world = make_world();
  auto& rx = world.resource<keel::ReactorNotify>();
  const keel::ReactorToken t = spawn_book(world, 1, 4);
  const keel::Address<Order> to = rx.address(t, &Book::inbox);
  ASSERT_EQ(rx.send(to, Order{1}), Delivery::delivered);
  Book& book = *rx.context<Book>(t);
  keel::Inbox<Order> taken = std::move(book.inbox);
  EXPECT_EQ(taken.size(), 1u);
  EXPECT_EQ(taken.capacity(), 4u);
  EXPECT_EQ(book.inbox.capacity(), 0u);
  EXPECT_EQ(rx.send(to, Order{2}), Delivery::full);
  EXPECT_EQ(book.inbox.dropped(), 1u);
  // Assigning a fresh inbox gives the reactor's Address somewhere to deliver again.
  book.inbox = keel::Inbox<Order>(2);
  EXPECT_EQ(rx.send(to, Order{3}), Delivery::delivered);
  EXPECT_EQ(book.inbox.size(), 1u);
}

// --- send and wake ----------------------------------------------------------------------------

TEST(Mailbox, ASendWakesAReactorThatSubscribesToNothing) {
  keel::World world = make_world();
  auto& rx = world.resource<keel::ReactorNotify>();
  const keel::ReactorToken t = spawn_book(world, 7);
  const keel::Address<Order> to = rx.address(t, &Book::inbox);
  ASSERT_TRUE(to);
  EXPECT_EQ(to.reactor(), t);
  EXPECT_FALSE(rx.pending());

  EXPECT_EQ(rx.send(to, Order{1}), Delivery::delivered);
  EXPECT_EQ(rx.send(to, Order{2}), Delivery::delivered);
  EXPECT_EQ(rx.context<Book>(t)->inbox.size(), 2u);
  EXPECT_TRUE(rx.pending());
  EXPECT_EQ(world.dispatch_reactors(), 1u);  // once, for both events
  EXPECT_EQ(world.resource<Log>().events, (std::vector<std::pair<int, int>>{{7, 1}, {7, 2}}));
  EXPECT_TRUE(rx.context<Book>(t)->inbox.empty());
  EXPECT_FALSE(rx.pending());
  EXPECT_EQ(world.dispatch_reactors(), 0u);  // a send wakes one pass only
}

// Handlers send as they handle events; the inbox keeps the order in which
// the sends were made, whoever made them.
TEST(Mailbox, EventsArriveInTheOrderTheyWereSentAcrossSeveralSenders) {
  struct Routes {
    keel::Address<Order> btc;
  };
  keel::WorldBuilder wb;
  wb.insert(Log{});
  wb.insert(Routes{});
  keel::World world = std::move(wb).build();
  auto& rx = world.resource<keel::ReactorNotify>();
  const keel::ReactorToken t = spawn_book(world, 1, 64);
  world.resource<Routes>().btc = rx.address(t, &Book::inbox);
  auto from_feed = keel::handler(world.registry(), [](keel::ResMut<keel::ReactorNotify> rx, keel::Res<Routes> routes,
                                                       const int& id) {
    EXPECT_EQ(rx->send(routes->btc, Order{id}), Delivery::delivered);
  });
  auto from_risk = keel::handler(world.registry(), [](keel::ResMut<keel::ReactorNotify> rx, keel::Res<Routes> routes,
                                                       const int& id) {
    EXPECT_EQ(rx->send(routes->btc, Order{id + 100}), Delivery::delivered);
  });
  for (int i = 1; i <= 10; ++i) {
    if (i % 3 == 0) {
      from_risk.run(world, i);
    } else {
      from_feed.run(world, i);
    }
  }
  const Order direct{1000};
  EXPECT_EQ(rx.send(world.resource<Routes>().btc, direct), Delivery::delivered);
  EXPECT_EQ(world.dispatch_reactors(), 1u);
  std::vector<int> ids;
  for (const auto& [reactor, id] : world.resource<Log>().events) ids.push_back(id);
  EXPECT_EQ(ids, (std::vector<int>{1, 2, 103, 4, 5, 106, 7, 8, 109, 10, 1000}));
}

// Marks and sends share one wake list: reactors run in the order of the
// first mark or send that woke them.
TEST(Mailbox, MarksAndSendsWakeInTheOrderTheyWereMade) {
  keel::World world = make_world();
  auto& rx = world.resource<keel::ReactorNotify>();
  const keel::DataSource src = rx.register_source();
  const keel::ReactorToken book1 = spawn_book(world, 1);
  const keel::ReactorToken book2 = spawn_book(world, 2);
  rx.spawn(Watcher{.id = 10}, world.registry(), mailbox_test::on_watch).subscribe(src);
  rx.subscribe(book1, src);  // book 1 is woken by the mark and by a send
  const keel::Address<Order> to1 = rx.address(book1, &Book::inbox);
  const keel::Address<Order> to2 = rx.address(book2, &Book::inbox);

  EXPECT_EQ(rx.send(to2, Order{1}), Delivery::delivered);
  rx.mark(src);
  EXPECT_EQ(rx.send(to1, Order{2}), Delivery::delivered);
  EXPECT_EQ(rx.send(to2, Order{3}), Delivery::delivered);
  EXPECT_EQ(world.dispatch_reactors(), 3u);  // each once
  EXPECT_EQ(world.resource<Log>().runs, (std::vector<int>{2, 10, 1}));
  EXPECT_EQ(world.resource<Log>().events, (std::vector<std::pair<int, int>>{{2, 1}, {2, 3}, {1, 2}}));
}

// A send made during a pass wakes its reactor for the next pass. If the
// target has not run yet in this pass, the event is already in its inbox
// when it does, and is handled then; the target still runs in the next
// pass, with nothing left to drain.
TEST(Mailbox, ASendDuringAPassWakesTheReactorInTheNextPass) {
  struct Relay {
    keel::Address<Order> to;
    int id = 0;
  };
  keel::World world = make_world();
  auto& rx = world.resource<keel::ReactorNotify>();
  const keel::DataSource src = rx.register_source();
  auto relay = [](Relay& r, keel::ResMut<keel::ReactorNotify> rx, keel::ResMut<Log> log) {
    log->runs.push_back(r.id);
    EXPECT_EQ(rx->send(r.to, Order{r.id}), Delivery::delivered);
  };
  const keel::ReactorToken early = spawn_book(world, 1);
  const keel::ReactorToken late = spawn_book(world, 2);
  rx.subscribe(early, src);
  rx.spawn(Relay{.to = rx.address(early, &Book::inbox), .id = 10}, world.registry(), relay).subscribe(src);
  rx.spawn(Relay{.to = rx.address(late, &Book::inbox), .id = 20}, world.registry(), relay).subscribe(src);
  rx.subscribe(late, src);

  rx.mark(src);
  EXPECT_EQ(world.dispatch_reactors(), 4u);
  EXPECT_EQ(world.resource<Log>().runs, (std::vector<int>{1, 10, 20, 2}));
  EXPECT_EQ(world.resource<Log>().events, (std::vector<std::pair<int, int>>{{2, 20}}));
  EXPECT_TRUE(rx.pending());
  world.resource<Log>() = Log{};
  EXPECT_EQ(world.dispatch_reactors(), 2u);  // both targets, in the order they were sent to
  EXPECT_EQ(world.resource<Log>().runs, (std::vector<int>{1, 2}));
  EXPECT_EQ(world.resource<Log>().events, (std::vector<std::pair<int, int>>{{1, 10}}));
  EXPECT_FALSE(rx.pending());
}

// --- capacity ---------------------------------------------------------------------------------

TEST(Mailbox, AFullInboxRefusesTheNewestEventAndCountsIt) {
  keel::World world = make_world();
  auto& rx = world.resource<keel::ReactorNotify>();
  const keel::ReactorToken t = spawn_book(world, 1, 3);
  const keel::Address<Order> to = rx.address(t, &Book::inbox);
  for (int id = 1; id <= 3; ++id) EXPECT_EQ(rx.send(to, Order{id}), Delivery::delivered);
  EXPECT_EQ(rx.send(to, Order{4}), Delivery::full);
  EXPECT_EQ(rx.send(to, Order{5}), Delivery::full);
  const keel::Inbox<Order>& inbox = rx.context<Book>(t)->inbox;
  EXPECT_EQ(inbox.size(), 3u);
  EXPECT_EQ(inbox.dropped(), 2u);
  EXPECT_EQ(world.dispatch_reactors(), 1u);
  // The queued events were kept, not overwritten.
  EXPECT_EQ(world.resource<Log>().events, (std::vector<std::pair<int, int>>{{1, 1}, {1, 2}, {1, 3}}));
  // Drained, it takes events again, wrapping around its storage.
  for (int round = 0; round < 5; ++round) {
    world.resource<Log>() = Log{};
    for (int id = 1; id <= 3; ++id) EXPECT_EQ(rx.send(to, Order{round * 10 + id}), Delivery::delivered);
    EXPECT_EQ(world.dispatch_reactors(), 1u);
    EXPECT_EQ(world.resource<Log>().events,
              (std::vector<std::pair<int, int>>{{1, round * 10 + 1}, {1, round * 10 + 2}, {1, round * 10 + 3}}));
  }
  EXPECT_EQ(inbox.dropped(), 2u);
}

// Storage is rounded up to a power of two; the capacity is not.
TEST(Mailbox, AnInboxHoldsExactlyItsCapacityWhateverItsStorage) {
  for (const std::size_t capacity : {1u, 3u, 5u, 8u, 100u}) {
    keel::World world = make_world();
    auto& rx = world.resource<keel::ReactorNotify>();
    const keel::ReactorToken t = spawn_book(world, 1, capacity);
    const keel::Address<Order> to = rx.address(t, &Book::inbox);
    std::size_t delivered = 0;
    while (rx.send(to, Order{static_cast<int>(delivered)}) == Delivery::delivered) ++delivered;
    EXPECT_EQ(delivered, capacity);
    EXPECT_EQ(rx.context<Book>(t)->inbox.capacity(), capacity);
    EXPECT_EQ(rx.context<Book>(t)->inbox.dropped(), 1u);
  }
}

// A refused event wakes nothing: the reactor does not run for it.
TEST(Mailbox, ARefusedEventWakesNothing) {
  keel::World world = make_world();
  auto& rx = world.resource<keel::ReactorNotify>();
  int runs = 0;
  const keel::ReactorToken t = rx.spawn(Book{.inbox = keel::Inbox<Order>(1)}, world.registry(),
                                        [&runs](Book&) { ++runs; })  // never drains
                                   .token();
  const keel::Address<Order> to = rx.address(t, &Book::inbox);
  ASSERT_EQ(rx.send(to, Order{1}), Delivery::delivered);
  EXPECT_EQ(world.dispatch_reactors(), 1u);
  EXPECT_EQ(rx.send(to, Order{2}), Delivery::full);
  EXPECT_FALSE(rx.pending());
  EXPECT_EQ(world.dispatch_reactors(), 0u);
  EXPECT_EQ(runs, 1);
}

TEST(Mailbox, ARefusedRvalueIsNotMovedFrom) {
  struct Jobs {
    keel::Inbox<std::unique_ptr<int>> inbox{1};
  };
  keel::World world = make_world();
  auto& rx = world.resource<keel::ReactorNotify>();
  const keel::ReactorToken t = rx.spawn(Jobs{}, world.registry(), [](Jobs&) {}).token();
  const auto to = rx.address(t, &Jobs::inbox);
  auto first = std::make_unique<int>(1);
  auto second = std::make_unique<int>(2);
  EXPECT_EQ(rx.send(to, std::move(first)), Delivery::delivered);
  EXPECT_EQ(first, nullptr);  // delivered: moved into the inbox
  EXPECT_EQ(rx.send(to, std::move(second)), Delivery::full);
  ASSERT_NE(second, nullptr);  // refused: the caller still has it
  EXPECT_EQ(*second, 2);
  rx.remove(t);
  EXPECT_EQ(rx.send(to, std::move(second)), Delivery::gone);
  ASSERT_NE(second, nullptr);
  EXPECT_EQ(*second, 2);
}

// --- addresses and removal --------------------------------------------------------------------

TEST(Mailbox, AddressOfAStaleTokenIsEmptyAndSendingToItIsGone) {
  keel::World world = make_world();
  auto& rx = world.resource<keel::ReactorNotify>();
  const keel::ReactorToken t = spawn_book(world, 1);
  rx.remove(t);
  const keel::Address<Order> to = rx.address(t, &Book::inbox);
  EXPECT_FALSE(to);
  EXPECT_EQ(rx.send(to, Order{1}), Delivery::gone);
  EXPECT_EQ(rx.send(keel::Address<Order>{}, Order{1}), Delivery::gone);
  EXPECT_FALSE(rx.address(keel::ReactorToken{}, &Book::inbox));
  EXPECT_FALSE(rx.pending());
}

TEST(Mailbox, AddressingAReactorOfAnotherContextTypeIsAConfigErrorNamingBoth) {
  keel::World world = make_world();
  auto& rx = world.resource<keel::ReactorNotify>();
  const keel::ReactorToken watcher = rx.spawn(Watcher{}, world.registry(), mailbox_test::on_watch).token();
  const std::string message = config_error_message([&] { static_cast<void>(rx.address(watcher, &Book::inbox)); });
  EXPECT_TRUE(Contains(message, "mailbox_test::Book"));
  EXPECT_TRUE(Contains(message, "'mailbox_test::on_watch'"));
  const std::string null_member = config_error_message([&] {
    keel::Inbox<Order> Book::*none = nullptr;
    static_cast<void>(rx.address(spawn_book(world, 1), none));
  });
  EXPECT_TRUE(Contains(null_member, "null pointer to an inbox member"));
}

TEST(Mailbox, AnAddressGoesStaleWhenItsReactorIsRemovedAlsoAfterTheSlotIsReused) {
  keel::World world = make_world();
  auto& rx = world.resource<keel::ReactorNotify>();
  const keel::ReactorToken old_book = spawn_book(world, 1);
  const keel::Address<Order> old_to = rx.address(old_book, &Book::inbox);
  ASSERT_EQ(rx.send(old_to, Order{1}), Delivery::delivered);
  EXPECT_TRUE(rx.remove(old_book));  // outside a pass: destroyed now, with the queued event
  EXPECT_EQ(rx.send(old_to, Order{2}), Delivery::gone);
  EXPECT_TRUE(old_to);  // stale, not empty: only ReactorNotify can tell
  const keel::ReactorToken new_book = spawn_book(world, 2);  // reuses the slot
  EXPECT_EQ(rx.send(old_to, Order{3}), Delivery::gone);
  EXPECT_EQ(rx.context<Book>(new_book)->inbox.size(), 0u);
  // The send made before the removal wakes nobody: not the reactor now in its slot.
  EXPECT_EQ(world.dispatch_reactors(), 0u);
  EXPECT_TRUE(world.resource<Log>().runs.empty());
}

// A reactor removed during a pass is destroyed when the pass ends; until
// then its context still exists, but sends are refused at once, so no event
// reaches an inbox that is about to be destroyed.
TEST(Mailbox, SendsToAReactorRemovedDuringThePassAreGoneAtOnce) {
  struct Remover {
    keel::Address<Order> target;
    std::vector<Delivery> results;
  };
  keel::World world = make_world();
  auto& rx = world.resource<keel::ReactorNotify>();
  const keel::DataSource src = rx.register_source();
  const keel::ReactorToken target = spawn_book(world, 1);
  auto remove_then_send = [](Remover& r, keel::ResMut<keel::ReactorNotify> rx) {
    r.results.push_back(rx->send(r.target, Order{1}));
    rx->remove(r.target.reactor());
    r.results.push_back(rx->send(r.target, Order{2}));
  };
  const keel::ReactorToken remover =
      rx.spawn(Remover{.target = rx.address(target, &Book::inbox), .results = {}}, world.registry(), remove_then_send)
          .token();
  rx.subscribe(remover, src);
  rx.subscribe(target, src);  // due after the remover in the same pass
  rx.mark(src);
  EXPECT_EQ(world.dispatch_reactors(), 1u);  // the target was removed before its turn
  EXPECT_EQ(rx.context<Remover>(remover)->results, (std::vector<Delivery>{Delivery::delivered, Delivery::gone}));
  EXPECT_TRUE(world.resource<Log>().runs.empty());
  // The first send's wake is still listed, and wakes nobody: the reactor is gone.
  EXPECT_EQ(world.dispatch_reactors(), 0u);
  EXPECT_FALSE(rx.pending());
}

TEST(Mailbox, AReactorThatRemovesItselfCannotSendToItself) {
  struct Self {
    keel::Inbox<Order> inbox{4};
    keel::Address<Order> me;
  };
  std::vector<Delivery> seen;
  keel::World world = make_world();
  auto& rx = world.resource<keel::ReactorNotify>();
  auto remove_then_send = [&seen](Self& s, keel::ResMut<keel::ReactorNotify> rx) {
    rx->remove(s.me.reactor());
    seen.push_back(rx->send(s.me, Order{1}));
  };
  const keel::ReactorToken t = rx.spawn(Self{}, world.registry(), remove_then_send).token();
  rx.context<Self>(t)->me = rx.address(t, &Self::inbox);
  ASSERT_EQ(rx.send(rx.context<Self>(t)->me, Order{0}), Delivery::delivered);
  EXPECT_EQ(world.dispatch_reactors(), 1u);
  EXPECT_EQ(seen, std::vector<Delivery>{Delivery::gone});
  EXPECT_FALSE(rx.contains(t));
  EXPECT_FALSE(rx.pending());
}

// --- publish ----------------------------------------------------------------------------------

TEST(Mailbox, PublishCopiesToEachSubscriberWithThatContextAndMarksTheSource) {
  keel::World world = make_world();
  auto& rx = world.resource<keel::ReactorNotify>();
  const keel::DataSource src = rx.register_source();
  const keel::DataSource elsewhere = rx.register_source();
  const keel::ReactorToken b1 = spawn_book(world, 1);
  rx.spawn(Watcher{.id = 10}, world.registry(), mailbox_test::on_watch).subscribe(src);  // no inbox
  const keel::ReactorToken b2 = spawn_book(world, 2);
  const keel::ReactorToken full = spawn_book(world, 3, 1);
  const keel::ReactorToken other = spawn_book(world, 4);  // not subscribed to src
  rx.subscribe(b2, src);
  rx.subscribe(full, src);
  rx.subscribe(b1, src);
  rx.subscribe(other, elsewhere);
  ASSERT_EQ(rx.send(rx.address(full, &Book::inbox), Order{99}), Delivery::delivered);  // now full

  EXPECT_EQ(rx.publish(src, &Book::inbox, Order{5}), 2u);  // b2 and b1; `full` refused it
  EXPECT_EQ(rx.context<Book>(full)->inbox.dropped(), 1u);
  EXPECT_TRUE(rx.context<Book>(other)->inbox.empty());
  EXPECT_EQ(world.dispatch_reactors(), 4u);
  // The watcher ran too: publish marks the source. Order of first wake:
  // the send to `full`, then the mark, in subscription order.
  EXPECT_EQ(world.resource<Log>().runs, (std::vector<int>{3, 10, 2, 1}));
  EXPECT_EQ(world.resource<Log>().events, (std::vector<std::pair<int, int>>{{3, 99}, {2, 5}, {1, 5}}));
}

TEST(Mailbox, PublishToARemovedSourceDeliversAndMarksNothing) {
  keel::World world = make_world();
  auto& rx = world.resource<keel::ReactorNotify>();
  const keel::DataSource src = rx.register_source();
  spawn_book(world, 1);
  rx.remove_source(src);
  EXPECT_EQ(rx.publish(src, &Book::inbox, Order{1}), 0u);
  EXPECT_EQ(rx.publish(keel::DataSource{}, &Book::inbox, Order{1}), 0u);
  EXPECT_FALSE(rx.pending());
}

// A reactor that took a published event runs in the next pass even if it
// unsubscribed from the source in between: no accepted event is left
// without its wake.
TEST(Mailbox, AReactorThatTookAPublishedEventRunsEvenIfItUnsubscribesBeforeThePass) {
  keel::World world = make_world();
  auto& rx = world.resource<keel::ReactorNotify>();
  const keel::DataSource src = rx.register_source();
  const keel::ReactorToken t = spawn_book(world, 1);
  rx.subscribe(t, src);
  EXPECT_EQ(rx.publish(src, &Book::inbox, Order{7}), 1u);
  ASSERT_TRUE(rx.unsubscribe(t, src));
  EXPECT_EQ(world.dispatch_reactors(), 1u);
  EXPECT_EQ(world.resource<Log>().events, (std::vector<std::pair<int, int>>{{1, 7}}));
}

TEST(Mailbox, PublishCopiesAndSendMovesTheEvent) {
  keel_test::Counts counts;
  {
    keel::World world = make_world();
    auto& rx = world.resource<keel::ReactorNotify>();
    const keel::DataSource src = rx.register_source();
    const keel::ReactorToken a = rx.spawn(Tracker{}, world.registry(), [](Tracker&) {}).subscribe(src).token();
    rx.spawn(Tracker{}, world.registry(), [](Tracker&) {}).subscribe(src);
    const keel_test::Tracked event(counts, 1);
    EXPECT_EQ(rx.publish(src, &Tracker::inbox, event), 2u);
    EXPECT_EQ(counts.copies, 2);
    EXPECT_EQ(rx.send(rx.address(a, &Tracker::inbox), keel_test::Tracked(counts, 2)), Delivery::delivered);
    EXPECT_EQ(counts.copies, 2);
    EXPECT_EQ(counts.moves, 1);
    EXPECT_EQ(counts.live, 4);  // `event` and three queued
  }
  EXPECT_EQ(counts.live, 0);
  EXPECT_EQ(counts.instances, 0);
}

// --- drain ------------------------------------------------------------------------------------

// If the function throws, the event it was given is consumed and the rest
// stay queued, in order; the reactor is woken for the next pass, which
// handles them.
TEST(Mailbox, ADrainThatThrowsConsumesTheEventAndKeepsTheRestQueuedInOrder) {
  struct Fragile {
    keel::Inbox<Order> inbox{8};
    std::vector<int> handled;
  };
  keel::World world = make_world();
  auto& rx = world.resource<keel::ReactorNotify>();
  const keel::ReactorToken t = rx.spawn(Fragile{}, world.registry(), [](Fragile& f) {
                                   f.inbox.drain([&](const Order& o) {
                                     if (o.id < 0) throw std::runtime_error("bad order");
                                     f.handled.push_back(o.id);
                                   });
                                 }).token();
  const keel::Address<Order> to = rx.address(t, &Fragile::inbox);
  for (int id : {1, -2, 3, -4, 5}) ASSERT_EQ(rx.send(to, Order{id}), Delivery::delivered);
  Fragile& f = *rx.context<Fragile>(t);

  EXPECT_THROW(world.dispatch_reactors(), std::runtime_error);
  EXPECT_EQ(f.handled, (std::vector<int>{1}));
  EXPECT_EQ(f.inbox.size(), 3u);  // -2 was consumed
  EXPECT_TRUE(rx.pending());      // woken again for the rest
  EXPECT_THROW(world.dispatch_reactors(), std::runtime_error);
  EXPECT_EQ(f.handled, (std::vector<int>{1, 3}));
  EXPECT_EQ(f.inbox.size(), 1u);
  EXPECT_EQ(world.dispatch_reactors(), 1u);
  EXPECT_EQ(f.handled, (std::vector<int>{1, 3, 5}));
  EXPECT_TRUE(f.inbox.empty());
  EXPECT_FALSE(rx.pending());
}

// A drain whose function throws on its last event leaves nothing queued,
// and nothing to wake the reactor for.
TEST(Mailbox, ADrainThatThrowsOnItsLastEventWakesNothing) {
  struct Fragile {
    keel::Inbox<Order> inbox{8};
  };
  keel::World world = make_world();
  auto& rx = world.resource<keel::ReactorNotify>();
  const keel::ReactorToken t = rx.spawn(Fragile{}, world.registry(), [](Fragile& f) {
                                   f.inbox.drain([](Order) { throw std::runtime_error("bad order"); });
                                 }).token();
  ASSERT_EQ(rx.send(rx.address(t, &Fragile::inbox), Order{1}), Delivery::delivered);
  EXPECT_THROW(world.dispatch_reactors(), std::runtime_error);
  EXPECT_FALSE(rx.pending());
}

// Events a reactor sends to itself while draining wait for the next drain,
// and wake it for the next pass: a self-sending reactor runs once per pass.
TEST(Mailbox, EventsSentToItselfDuringADrainWaitForTheNextPass) {
  struct Countdown {
    keel::Inbox<Order> inbox{4};
    keel::Address<Order> me;
    std::vector<std::size_t> drained;
  };
  keel::World world = make_world();
  auto& rx = world.resource<keel::ReactorNotify>();
  const keel::ReactorToken t =
      rx.spawn(Countdown{}, world.registry(), [](Countdown& c, keel::ResMut<keel::ReactorNotify> rx) {
          c.drained.push_back(c.inbox.drain([&](Order& o) {
            if (o.id > 0) {
              EXPECT_EQ(rx->send(c.me, Order{o.id - 1}), Delivery::delivered);
            }
          }));
        }).token();
  Countdown& c = *rx.context<Countdown>(t);
  c.me = rx.address(t, &Countdown::inbox);
  ASSERT_EQ(rx.send(c.me, Order{2}), Delivery::delivered);
  ASSERT_EQ(rx.send(c.me, Order{0}), Delivery::delivered);
  int passes = 0;
  while (rx.pending() && passes < 10) {
    EXPECT_EQ(world.dispatch_reactors(), 1u);
    ++passes;
  }
  EXPECT_EQ(passes, 3);  // {2, 0}, then {1}, then {0}
  EXPECT_EQ(c.drained, (std::vector<std::size_t>{2, 1, 1}));
}

// A drain called from inside another drain's function takes the events
// present when it began; the outer drain then stops, handling none twice.
TEST(Mailbox, ADrainNestedInADrainHandlesEachEventOnce) {
  keel::World world = make_world();
  auto& rx = world.resource<keel::ReactorNotify>();
  const keel::ReactorToken t = spawn_book(world, 1);
  const keel::Address<Order> to = rx.address(t, &Book::inbox);
  for (int id = 1; id <= 4; ++id) ASSERT_EQ(rx.send(to, Order{id}), Delivery::delivered);
  keel::Inbox<Order>& box = rx.context<Book>(t)->inbox;
  std::vector<int> seen;
  const std::size_t outer = box.drain([&](Order& o) {
    seen.push_back(o.id);
    if (o.id == 2) {
      ASSERT_EQ(rx.send(to, Order{5}), Delivery::delivered);  // after the outer drain began
      const std::size_t inner = box.drain([&](Order& p) { seen.push_back(p.id * 10); });
      EXPECT_EQ(inner, 3u);  // 3, 4 and 5
    }
  });
  EXPECT_EQ(outer, 2u);
  EXPECT_EQ(seen, (std::vector<int>{1, 2, 30, 40, 50}));
  EXPECT_TRUE(box.empty());
}

// fn may move the inbox it drains: the events go with it, and the drain
// stops instead of reading storage it no longer owns.
TEST(Mailbox, MovingTheInboxFromInsideItsDrainStopsTheDrain) {
  keel::World world = make_world();
  auto& rx = world.resource<keel::ReactorNotify>();
  const keel::ReactorToken t = spawn_book(world, 1);
  const keel::Address<Order> to = rx.address(t, &Book::inbox);
  for (int id = 1; id <= 4; ++id) ASSERT_EQ(rx.send(to, Order{id}), Delivery::delivered);
  keel::Inbox<Order>& box = rx.context<Book>(t)->inbox;
  std::optional<keel::Inbox<Order>> taken;
  std::vector<int> seen;
  EXPECT_EQ(box.drain([&](Order& o) {
    seen.push_back(o.id);
    if (o.id == 2) taken.emplace(std::move(box));
  }),
            2u);
  EXPECT_EQ(seen, (std::vector<int>{1, 2}));
  ASSERT_TRUE(taken.has_value());
  EXPECT_EQ(taken->size(), 2u);
  EXPECT_EQ(taken->drain([&](Order& o) { seen.push_back(o.id); }), 2u);
  EXPECT_EQ(seen, (std::vector<int>{1, 2, 3, 4}));
  // Assigning over the inbox being drained stops that drain too.
  box = keel::Inbox<Order>(4);
  for (int id = 5; id <= 7; ++id) ASSERT_EQ(rx.send(to, Order{id}), Delivery::delivered);
  EXPECT_EQ(box.drain([&](Order& o) {
    seen.push_back(o.id);
    box = keel::Inbox<Order>(4);
  }),
            1u);
  EXPECT_EQ(seen.back(), 5);
  EXPECT_TRUE(box.empty());
}

TEST(Mailbox, DrainTakesTheEventAsAnyOfItsParameterForms) {
  keel::World world = make_world();
  auto& rx = world.resource<keel::ReactorNotify>();
  const keel::ReactorToken t = spawn_book(world, 1);
  const keel::Address<Order> to = rx.address(t, &Book::inbox);
  keel::Inbox<Order>& box = rx.context<Book>(t)->inbox;
  int sum = 0;
  auto fill = [&] {
    for (int id = 1; id <= 3; ++id) ASSERT_EQ(rx.send(to, Order{id}), Delivery::delivered);
  };
  fill();
  EXPECT_EQ(box.drain([&](Order& o) { sum += o.id; }), 3u);
  fill();
  EXPECT_EQ(box.drain([&](const Order& o) { sum += o.id; }), 3u);
  fill();
  EXPECT_EQ(box.drain([&](Order&& o) { sum += o.id; }), 3u);
  fill();
  EXPECT_EQ(box.drain([&](Order o) { return sum += o.id; }), 3u);  // a result is ignored
  EXPECT_EQ(sum, 24);
}

TEST(Mailbox, MoveOnlyEventsAreMovedInAndHandedOverByRvalue) {
  struct Jobs {
    keel::Inbox<std::unique_ptr<std::string>> inbox{4};
    std::vector<std::string> done;
  };
  keel::World world = make_world();
  auto& rx = world.resource<keel::ReactorNotify>();
  const keel::ReactorToken t = rx.spawn(Jobs{}, world.registry(), [](Jobs& j) {
                                   j.inbox.drain([&](std::unique_ptr<std::string> job) {  // by value: moved
                                     j.done.push_back(std::move(*job));
                                   });
                                 }).token();
  const auto to = rx.address(t, &Jobs::inbox);
  EXPECT_EQ(rx.send(to, std::make_unique<std::string>("first")), Delivery::delivered);
  auto second = std::make_unique<std::string>("second");
  EXPECT_EQ(rx.send(to, std::move(second)), Delivery::delivered);
  EXPECT_EQ(world.dispatch_reactors(), 1u);
  EXPECT_EQ(rx.context<Jobs>(t)->done, (std::vector<std::string>{"first", "second"}));
}

// --- lifetimes of queued events ---------------------------------------------------------------

TEST(Mailbox, EachEventIsDestroyedOnceRightAfterItIsHandled) {
  keel_test::Counts counts;
  {
    keel::World world = make_world();
    auto& rx = world.resource<keel::ReactorNotify>();
    std::vector<int> live_while_handled;
    const keel::ReactorToken t = rx.spawn(Tracker{}, world.registry(), [&](Tracker& tr) {
                                     tr.inbox.drain([&](keel_test::Tracked& e) {
                                       EXPECT_FALSE(e.moved_from());
                                       live_while_handled.push_back(counts.live);
                                     });
                                   }).token();
    const auto to = rx.address(t, &Tracker::inbox);
    for (int v = 1; v <= 3; ++v) ASSERT_EQ(rx.send(to, keel_test::Tracked(counts, v)), Delivery::delivered);
    EXPECT_EQ(counts.live, 3);
    EXPECT_EQ(world.dispatch_reactors(), 1u);
    EXPECT_EQ(live_while_handled, (std::vector<int>{3, 2, 1}));  // the earlier ones are gone already
    EXPECT_EQ(counts.live, 0);
    EXPECT_EQ(counts.destroyed, 3);
    EXPECT_EQ(counts.copies, 0);
  }
  EXPECT_EQ(counts.instances, 0);
}

TEST(Mailbox, EventsLeftInAnInboxAreDestroyedWhenItsReactorIsRemoved) {
  keel_test::Counts counts;
  keel::World world = make_world();
  auto& rx = world.resource<keel::ReactorNotify>();
  const keel::ReactorToken t = rx.spawn(Tracker{}, world.registry(), [](Tracker&) {}).token();
  const auto to = rx.address(t, &Tracker::inbox);
  for (int v = 1; v <= 4; ++v) ASSERT_EQ(rx.send(to, keel_test::Tracked(counts, v)), Delivery::delivered);
  EXPECT_EQ(rx.send(to, keel_test::Tracked(counts, 5)), Delivery::full);
  EXPECT_EQ(counts.live, 4);  // the refused one died with its temporary
  EXPECT_TRUE(rx.remove(t));
  EXPECT_EQ(counts.live, 0);
  EXPECT_EQ(counts.destroyed, 5);
  EXPECT_EQ(counts.instances, 0);
}

TEST(Mailbox, EventsLeftInAReactorRemovedDuringAPassAreDestroyedWhenThePassEnds) {
  struct SelfRemover {
    keel::Inbox<keel_test::Tracked> inbox{4};
    keel::ReactorToken self;
  };
  keel_test::Counts counts;
  keel::World world = make_world();
  auto& rx = world.resource<keel::ReactorNotify>();
  const keel::ReactorToken t =
      rx.spawn(SelfRemover{}, world.registry(), [&counts](SelfRemover& s, keel::ResMut<keel::ReactorNotify> rx) {
          rx->remove(s.self);  // without draining
          EXPECT_EQ(counts.live, 3);  // still queued while the pass runs
        }).token();
  rx.context<SelfRemover>(t)->self = t;
  const auto to = rx.address(t, &SelfRemover::inbox);
  for (int v = 1; v <= 3; ++v) ASSERT_EQ(rx.send(to, keel_test::Tracked(counts, v)), Delivery::delivered);
  EXPECT_EQ(world.dispatch_reactors(), 1u);
  EXPECT_EQ(rx.context<SelfRemover>(t), nullptr);
  EXPECT_EQ(counts.live, 0);  // destroyed with the context, after the pass
  EXPECT_EQ(counts.destroyed, 3);
}

TEST(Mailbox, DestroyingTheWorldDestroysTheEventsInFullInboxesOnce) {
  keel_test::Counts counts;
  {
    keel::World world = make_world();
    auto& rx = world.resource<keel::ReactorNotify>();
    for (int r = 0; r < 5; ++r) {
      const keel::ReactorToken t = rx.spawn(Tracker{}, world.registry(), [](Tracker&) {}).token();
      const auto to = rx.address(t, &Tracker::inbox);
      while (rx.send(to, keel_test::Tracked(counts, r)) == Delivery::delivered) {
      }
    }
    EXPECT_EQ(counts.live, 20);
    EXPECT_TRUE(rx.pending());
  }
  EXPECT_EQ(counts.live, 0);
  EXPECT_EQ(counts.instances, 0);
  EXPECT_EQ(counts.destroyed, 25);  // 20 queued, 5 refused
}

// A context destroyed with the World may send to other reactors from its
// destructor: reactors destroyed before it are gone, the others still take
// the event and destroy it with their own context.
TEST(Mailbox, SendsFromContextDestructorsDuringTeardownReachOnlyLiveReactors) {
  struct Parting {
    keel::Inbox<keel_test::Tracked> inbox{4};
    keel::ReactorNotify* rx = nullptr;
    keel::Address<keel_test::Tracked> other;
    keel_test::Counts* counts = nullptr;
    std::vector<Delivery>* results = nullptr;
    Parting() = default;
    Parting(Parting&& p) noexcept
        : inbox(std::move(p.inbox)),
          rx(std::exchange(p.rx, nullptr)),
          other(p.other),
          counts(p.counts),
          results(p.results) {}
    ~Parting() {
      if (rx != nullptr && other) results->push_back(rx->send(other, keel_test::Tracked(*counts, 0)));
    }
  };
  keel_test::Counts counts;
  std::vector<Delivery> results;
  {
    keel::World world = make_world();
    auto& rx = world.resource<keel::ReactorNotify>();
    const keel::ReactorToken first = rx.spawn(Parting{}, world.registry(), [](Parting&) {}).token();
    const keel::ReactorToken second = rx.spawn(Parting{}, world.registry(), [](Parting&) {}).token();
    for (keel::ReactorToken t : {first, second}) {
      Parting& p = *rx.context<Parting>(t);
      p.rx = &rx;
      p.counts = &counts;
      p.results = &results;
    }
    rx.context<Parting>(first)->other = rx.address(second, &Parting::inbox);  // not destroyed yet
    rx.context<Parting>(second)->other = rx.address(first, &Parting::inbox);  // destroyed already
  }
  EXPECT_EQ(results, (std::vector<Delivery>{Delivery::delivered, Delivery::gone}));
  EXPECT_EQ(counts.live, 0);
  EXPECT_EQ(counts.instances, 0);
}

// --- interaction with the pass semantics ------------------------------------------------------

// When a reactor throws, the woken reactors that have not run are carried
// to the next pass, those woken by sends included, with their events.
TEST(Mailbox, ReactorsWokenBySendsAreCarriedOverWhenAnEarlierOneThrows) {
  keel::World world = make_world();
  auto& rx = world.resource<keel::ReactorNotify>();
  const keel::DataSource src = rx.register_source();
  bool armed = true;
  rx.spawn(Watcher{.id = 10}, world.registry(), [&armed](Watcher&) {
      if (std::exchange(armed, false)) throw std::runtime_error("failed");
    }).subscribe(src);
  const keel::ReactorToken t = spawn_book(world, 1);
  rx.mark(src);
  ASSERT_EQ(rx.send(rx.address(t, &Book::inbox), Order{3}), Delivery::delivered);
  EXPECT_THROW(world.dispatch_reactors(), std::runtime_error);
  EXPECT_TRUE(world.resource<Log>().events.empty());
  EXPECT_TRUE(rx.pending());
  EXPECT_EQ(world.dispatch_reactors(), 1u);
  EXPECT_EQ(world.resource<Log>().events, (std::vector<std::pair<int, int>>{{1, 3}}));
}

// --- cost ---------------------------------------------------------------------------------------

// Once the wake list and run queue have grown to what a pass needs, sending
// to many reactors and draining them allocates nothing.
TEST(Mailbox, SendingAndDrainingAllocateNothingInSteadyState) {
  constexpr int kReactors = 64;
  keel::World world = make_world();
  auto& rx = world.resource<keel::ReactorNotify>();
  world.resource<Log>().events.reserve(1 << 16);
  world.resource<Log>().runs.reserve(1 << 16);
  const keel::DataSource src = rx.register_source();
  std::vector<keel::Address<Order>> to;
  for (int r = 0; r < kReactors; ++r) {
    const keel::ReactorToken t = spawn_book(world, r, 16);
    rx.subscribe(t, src);
    to.push_back(rx.address(t, &Book::inbox));
  }
  auto round = [&](int k) {
    for (int e = 0; e < 3 * kReactors; ++e) {
      if (rx.send(to[static_cast<std::size_t>((e * 7 + k) % kReactors)], Order{e}) != Delivery::delivered) return false;
    }
    if (rx.publish(src, &Book::inbox, Order{-1}) != static_cast<std::size_t>(kReactors)) return false;
    world.dispatch_reactors();
    return !rx.pending();
  };
  {  // the counter sees allocations
    const std::size_t at = allocations;
    ::operator delete(::operator new(16));
    ASSERT_EQ(allocations, at + 1);
  }
  ASSERT_TRUE(round(0));  // grows the wake list and the run queue
  world.resource<Log>() = Log{};
  world.resource<Log>().events.reserve(1 << 16);
  world.resource<Log>().runs.reserve(1 << 16);
  const std::size_t before = allocations;
  bool ok = true;
  for (int k = 1; k <= 50; ++k) ok = round(k) && ok;
  const std::size_t allocated = allocations - before;
  EXPECT_TRUE(ok);
  EXPECT_EQ(allocated, 0u);
  EXPECT_EQ(world.resource<Log>().events.size(), 50u * 4u * static_cast<std::size_t>(kReactors));
}

}  // namespace
