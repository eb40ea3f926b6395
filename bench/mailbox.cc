// Mailbox cost: typed sends to reactors' inboxes (rt/mailbox.h) against the
// same thing written by hand on top of marks: a fixed power-of-two ring in
// each reactor's context, a data source per reactor, and a drain in the
// reactor. Both sides are Keel reactors in a World of their own, doing the
// same work per event (an order-book level update), in the same binary
// (ratios from bench/compare.h).
//
//   bazel run --config=bench //bench:mailbox -- --benchmark_repetitions=9 --benchmark_report_aggregates_only=true
#include <array>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "bench/compare.h"
#include "bench/dispatch_fixture.h"
#include "benchmark/benchmark.h"
#include "rt/handler.h"
#include "rt/mailbox.h"
#include "rt/reactor.h"
#include "rt/world.h"

namespace {

// The event and the work (an order-book level update), as in the dispatch benchmarks.
using keel::bench::OrderBook;
using keel::bench::Quote;

constexpr std::size_t kReactors = 64;
constexpr std::size_t kEventsPerPass = 16;
constexpr std::size_t kCapacity = 64;  // per inbox; a power of two for the hand-written ring

Quote quote(std::int64_t i) {
  return Quote{static_cast<std::int32_t>(i), 100 + (i & 15), 1 + (i & 7)};
}

// The reactor that event k of pass i goes to: with `spread` reactors per
// pass, consecutive events go to distinct reactors (37 is odd, so x -> 37x
// is a bijection modulo 64).
std::size_t target(std::int64_t i, std::size_t k, std::size_t spread) {
  const auto x = static_cast<std::size_t>(i) * spread + k % spread;
  return (x * 37) % kReactors;
}

// --- candidate: keel::Inbox ---------------------------------------------------------------------

struct Desk {
  keel::Inbox<Quote> inbox{kCapacity};
  OrderBook book;
};
void on_quotes(Desk& desk) {
  desk.inbox.drain([&](const Quote& q) { desk.book.apply(q); });
}

// --- baseline: a hand-written ring, a source per reactor, marks ---------------------------------

struct HandRing {
  std::array<Quote, kCapacity> slots;
  std::uint32_t head = 0;
  std::uint32_t size = 0;
  bool push(const Quote& q) {
    if (size == kCapacity) return false;
    slots[(head + size) & (kCapacity - 1)] = q;
    ++size;
    return true;
  }
};
struct HandDesk {
  HandRing ring;
  OrderBook book;
};
void on_hand_quotes(HandDesk& desk) {
  HandRing& ring = desk.ring;
  while (ring.size != 0) {
    desk.book.apply(ring.slots[ring.head]);
    ring.head = (ring.head + 1) & (kCapacity - 1);
    --ring.size;
  }
}

struct Fixture {
  Fixture() {
    auto& rx = world.resource<keel::ReactorNotify>();
    auto& hand_rx = hand_world.resource<keel::ReactorNotify>();
    for (std::size_t r = 0; r < kReactors; ++r) {
      const keel::ReactorToken t = rx.spawn(Desk{}, world.registry(), keel::fn<&on_quotes>);
      to.push_back(rx.address(t, &Desk::inbox));
      const keel::DataSource src = hand_rx.register_source();
      const keel::ReactorToken h = hand_rx.spawn(HandDesk{}, hand_world.registry(), keel::fn<&on_hand_quotes>)
                                       .subscribe(src)
                                       .token();
      hand_sources.push_back(src);
      hand_desks.push_back(hand_rx.context<HandDesk>(h));
      desks.push_back(rx.context<Desk>(t));
    }
  }
  keel::World world = keel::WorldBuilder{}.build();
  keel::World hand_world = keel::WorldBuilder{}.build();
  std::vector<keel::Address<Quote>> to;
  std::vector<Desk*> desks;
  std::vector<keel::DataSource> hand_sources;
  std::vector<HandDesk*> hand_desks;
};

// Per iteration: 16 events sent over `spread` reactors (16: each to its own
// reactor; 1: all to one), then one pass that drains them. ns per pass.
void BM_SendAndDrain(benchmark::State& state) {
  const auto spread = static_cast<std::size_t>(state.range(0));
  Fixture f;
  auto& rx = f.world.resource<keel::ReactorNotify>();
  auto& hand_rx = f.hand_world.resource<keel::ReactorNotify>();
  std::int64_t refused = 0;
  keel::bench::compare(
      state,
      [&](std::int64_t i) {
        for (std::size_t k = 0; k < kEventsPerPass; ++k) {
          if (rx.send(f.to[target(i, k, spread)], quote(i + static_cast<std::int64_t>(k))) != keel::Delivery::delivered)
            ++refused;
        }
        f.world.dispatch_reactors();
      },
      [&](std::int64_t i) {
        for (std::size_t k = 0; k < kEventsPerPass; ++k) {
          const std::size_t r = target(i, k, spread);
          if (f.hand_desks[r]->ring.push(quote(i + static_cast<std::int64_t>(k)))) {
            hand_rx.mark(f.hand_sources[r]);
          } else {
            ++refused;
          }
        }
        f.hand_world.dispatch_reactors();
      });
  if (refused != 0) state.SkipWithError("an inbox refused an event");
  state.counters["events_per_pass"] = static_cast<double>(kEventsPerPass);
  state.counters["reactors_per_pass"] = static_cast<double>(spread);
}
BENCHMARK(BM_SendAndDrain)->Arg(16)->Arg(1);

// The send alone: one event per iteration, round the 64 reactors; an inbox
// found full is drained on the spot (no pass), on both sides alike, once
// per 64 sends to it. ns per event.
void BM_SendAlone(benchmark::State& state) {
  Fixture f;
  auto& rx = f.world.resource<keel::ReactorNotify>();
  auto& hand_rx = f.hand_world.resource<keel::ReactorNotify>();
  keel::bench::compare(
      state,
      [&](std::int64_t i) {
        const std::size_t r = target(i, 0, 1);
        if (rx.send(f.to[r], quote(i)) != keel::Delivery::delivered) [[unlikely]] {
          on_quotes(*f.desks[r]);
          static_cast<void>(rx.send(f.to[r], quote(i)));
        }
      },
      [&](std::int64_t i) {
        const std::size_t r = target(i, 0, 1);
        if (!f.hand_desks[r]->ring.push(quote(i))) [[unlikely]] {
          on_hand_quotes(*f.hand_desks[r]);
          f.hand_desks[r]->ring.push(quote(i));
        }
        hand_rx.mark(f.hand_sources[r]);
      });
}
BENCHMARK(BM_SendAlone);

}  // namespace

BENCHMARK_MAIN();
