// Must not compile: the merge function takes (Mid, Mid) but the arms produce
// a Mid and a Vol. Expected: the merge static_assert, naming both lists.
#include "rt/dag.h"

struct Tick {
  double bid = 0;
  double ask = 0;
};
struct Mid {
  double value = 0;
};
struct Vol {
  double value = 0;
};

Mid update_mid(const Tick& t) { return Mid{(t.bid + t.ask) / 2}; }
Vol update_vol(const Tick& t) { return Vol{t.ask - t.bid}; }
double compute_fair(const Mid& a, const Mid& b) { return a.value + b.value; }

void build(keel::World& world) {
  const keel::Registry& registry = world.registry();
  auto d = keel::dag<Tick>(registry)
               .root([](const Tick& t) { return t; })
               .fork()
               .arm([](auto a) { return a.then(update_mid); })
               .arm([](auto b) { return b.then(update_vol); })
               .merge(compute_fair)
               .then([](double fair) { (void)fair; })
               .build();
  d.run(world, Tick{});
}
