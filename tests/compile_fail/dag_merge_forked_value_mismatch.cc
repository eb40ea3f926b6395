// Must not compile: a merge function taking one argument more than there are
// arms takes the forked value first, but this one takes it as a Quote where
// the fork passes a Tick. Expected: the forked-value static_assert, naming
// what the function takes, what the fork passes, the position and the merge.
#include "rt/dag.h"

struct Tick {
  double bid = 0;
  double ask = 0;
};
struct Quote {
  double px = 0;
};
struct Mid {
  double value = 0;
};
struct Vol {
  double value = 0;
};

Mid update_mid(const Tick& t) { return Mid{(t.bid + t.ask) / 2}; }
Vol update_vol(const Tick& t) { return Vol{t.ask - t.bid}; }
double compute_fair(const Quote& q, const Mid& m, const Vol& v) { return q.px + m.value + v.value; }

void build(keel::World& world) {
  const keel::Registry& registry = world.registry();
  auto d = keel::dag<Tick>(registry)
               .root([](const Tick& t) { return t; })
               .fork()
               .arm([](auto a) { return a.then(update_mid); })
               .arm([](auto b) { return b.then(update_vol); })
               .merge(compute_fair)
               .build();
  d.run(world, Tick{});
}
