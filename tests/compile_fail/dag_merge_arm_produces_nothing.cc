// Must not compile: the second arm ends with a step returning void, so it
// has no output to merge. Expected: the static_assert naming the arm's
// number and the merge function.
#include "rt/dag.h"

struct Tick {
  double bid = 0;
  double ask = 0;
};

void build(const keel::Registry& registry) {
  auto d = keel::dag<Tick>(registry)
               .root([](const Tick& t) { return t; })
               .fork()
               .arm([](auto a) { return a.then([](const Tick& t) { return t.bid; }); })
               .arm([](auto b) { return b.then([](const Tick& t) { (void)t; }); })
               .merge([](double bid, double ask) { return bid + ask; })
               .build();
  (void)d;
}
