// A tour of Keel's DAGs: a fair-value DAG (fork two arms, merge),
// arms with combinators inside, join, route, tee, and a DAG boxed as a
// handler.
//
//   bazel run //examples:dag
//
// Explained in docs/dag.md; each numbered section there matches one here.
#include <cmath>
#include <cstdint>
#include <expected>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "rt/dag.h"

// --- events and resources ------------------------------------------------------

struct Tick {
  double bid = 0, ask = 0;
  std::int64_t bid_qty = 0, ask_qty = 0;
};
struct Mid {
  double px;
};
struct Vol {
  double px;  // an imbalance-weighted adjustment
};
struct Fair {
  double px;
};

struct Quotes {  // what we publish
  std::vector<double> fair;
};
struct Tape {  // every tick, for the record
  std::uint64_t ticks = 0;
};
struct Alerts {
  std::uint64_t crossed = 0, wide = 0;
};
struct Skew {
  double bps = 0;  // added to every fair value
};

// --- 1. steps: keel parameters first, the input last ------------------------------

Tick decode(const Tick& raw) { return raw; }

Mid update_mid(const Tick& t) { return Mid{(t.bid + t.ask) / 2}; }

Vol update_vol(const Tick& t) {
  const double total = static_cast<double>(t.bid_qty + t.ask_qty);
  const double imbalance = total == 0 ? 0 : static_cast<double>(t.bid_qty - t.ask_qty) / total;
  return Vol{imbalance * (t.ask - t.bid) / 2};
}

// The merge step: one input per arm, in arm order, after its parameters
// (optionally preceded by the fork value, section 2).
Fair compute_fair(keel::Res<Skew> skew, const Mid& mid, const Vol& vol) {
  return Fair{(mid.px + vol.px) * (1 + skew->bps / 10'000)};
}

void publish(keel::ResMut<Quotes> q, Fair f) { q->fair.push_back(std::round(f.px * 100) / 100); }

int main() {
  keel::WorldBuilder wb;
  wb.emplace<Quotes>();
  wb.emplace<Tape>();
  wb.emplace<Alerts>();
  wb.insert(Skew{.bps = 0});
  keel::World world = std::move(wb).build();
  const keel::Registry& reg = world.registry();

  // --- 2. fork, arms, merge ----------------------------------------------------------
  auto fair = keel::dag<Tick>(reg)
                  .root(decode)
                  .fork()                                          // the arms read decode's Tick by const&
                  .arm([](auto a) { return a.then(update_mid); })  // arm 1: Mid
                  .arm([](auto b) { return b.then(update_vol); })  // arm 2: Vol
                  .merge(compute_fair)                             // (const Mid&, const Vol&) -> Fair
                  .then(publish)
                  .build();
  fair.run(world, Tick{.bid = 100, .ask = 102, .bid_qty = 30, .ask_qty = 10});
  fair.run(world, Tick{.bid = 100, .ask = 101, .bid_qty = 10, .ask_qty = 10});
  std::cout << "2. fair:";
  for (double px : world.resource<Quotes>().fair) std::cout << " " << px;
  std::cout << "\n";  // 2. fair: 101.5 100.5

  // A merge function may take the fork value first: one argument more than
  // there are arms. Here the fair value's edge over the tick's bid.
  auto edge = keel::dag<Tick>(reg)
                  .root(decode)
                  .fork()
                  .arm([](auto a) { return a.then(update_mid); })
                  .arm([](auto b) { return b.then(update_vol); })
                  .merge([](const Tick& t, const Mid& mid, const Vol& vol) {  // the fork value, then arm 1, arm 2
                    return Fair{mid.px + vol.px - t.bid};
                  })
                  .then([](Fair f) { std::cout << "2. edge over the bid " << f.px << "\n"; })
                  .build();
  edge.run(world, Tick{.bid = 100, .ask = 102, .bid_qty = 30, .ask_qty = 10});  // 2. edge over the bid 1.5

  // --- 3. combinators inside arms -------------------------------------------------------
  // Arm 1 keeps only uncrossed ticks (an optional); arm 2 may fail (an
  // expected) and recovers with a fallback. The merge takes what the arms end with.
  auto checked = keel::dag<Tick>(reg)
                     .root(decode)
                     .fork()
                     .arm([](auto a) {
                       return a.filter([](const Tick& t) { return t.bid < t.ask; }).map(update_mid);
                     })
                     .arm([](auto b) {
                       return b
                           .then([](const Tick& t) -> std::expected<double, std::string> {
                             if (t.ask - t.bid > 5) return std::unexpected("wide");
                             return t.ask - t.bid;
                           })
                           .inspect_error([](keel::ResMut<Alerts> al, const std::string&) { ++al->wide; })
                           .unwrap_or(5.0);
                     })
                     .merge([](keel::ResMut<Alerts> al, std::optional<Mid> mid, double spread) {
                       if (!mid) {
                         ++al->crossed;
                         return;
                       }
                       std::cout << "3. mid " << mid->px << ", spread " << spread << "\n";
                     })
                     .build();
  checked.run(world, Tick{.bid = 100, .ask = 101});
  checked.run(world, Tick{.bid = 101, .ask = 100});  // crossed: arm 1 is empty
  checked.run(world, Tick{.bid = 90, .ask = 110});   // wide: arm 2's error, recovered
  std::cout << "3. crossed " << world.resource<Alerts>().crossed << ", wide " << world.resource<Alerts>().wide << "\n";

  // --- 4. join: arms as sinks ----------------------------------------------------------
  auto record = keel::dag<Tick>(reg)
                    .root(decode)
                    .fork()
                    .arm([](auto a) { return a.then([](keel::ResMut<Tape> tape, const Tick&) { ++tape->ticks; }); })
                    .arm([](auto b) { return b.then(update_mid).then([](Mid m) { std::cout << "4. mid " << m.px << "\n"; }); })
                    .join()  // ends the DAG: the arms are sinks, run in the order they were added
                    .build();
  record.run(world, Tick{.bid = 10, .ask = 12});

  // --- 5. route and tee -----------------------------------------------------------------
  auto quoted = keel::dag<Tick>(reg)
                    .root(decode)
                    .tee([](auto side) { return side.then([](keel::ResMut<Tape> tape, const Tick&) { ++tape->ticks; }); })
                    .route([](const Tick& t) { return t.ask - t.bid <= 1; },       // which arm runs
                           [](auto tight) { return tight.then(update_mid); },      // both arms produce a Mid
                           [](auto wide) { return wide.then([](const Tick& t) { return Mid{t.bid}; }); })
                    .then([](Mid m) { std::cout << "5. quote at " << m.px << "\n"; })
                    .build();
  quoted.run(world, Tick{.bid = 100, .ask = 101});  // tight: quote the mid
  quoted.run(world, Tick{.bid = 100, .ask = 104});  // wide: quote the bid
  std::cout << "5. tape has " << world.resource<Tape>().ticks << " ticks\n";

  // --- 6. as a handler -----------------------------------------------------------------
  std::unique_ptr<keel::Handler<Tick>> boxed = keel::boxed(std::move(fair));
  world.resource<Skew>().bps = 100;  // +1%
  boxed->run(world, Tick{.bid = 100, .ask = 100});
  std::cout << "6. " << boxed->name() << ": last fair " << world.resource<Quotes>().fair.back() << "\n";
}
