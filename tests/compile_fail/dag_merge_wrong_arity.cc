// Must not compile: two arms, and a merge function taking one input after
// its keel parameter. Expected: the arity static_assert, naming how many
// inputs the function takes, the number of arms and the merge function.
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
struct Skew {
  double bps = 0;
};

Mid update_mid(const Tick& t) { return Mid{(t.bid + t.ask) / 2}; }
Vol update_vol(const Tick& t) { return Vol{t.ask - t.bid}; }
double compute_fair(keel::Res<Skew> skew, const Mid& m) { return m.value * (1 + skew->bps); }

void build(const keel::Registry& registry) {
  auto d = keel::dag<Tick>(registry)
               .root([](const Tick& t) { return t; })
               .fork()
               .arm([](auto a) { return a.then(update_mid); })
               .arm([](auto b) { return b.then(update_vol); })
               .merge(compute_fair)
               .build();
  (void)d;
}
