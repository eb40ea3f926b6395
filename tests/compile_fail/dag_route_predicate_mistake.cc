// Must not compile: route()'s predicate takes a Quote where the DAG carries
// a Tick (the predicate reads the value by const&). Expected: the input
// static_assert, naming both types and the step (route() and the
// predicate).
#include "rt/dag.h"

struct Tick {
  double bid = 0;
  double ask = 0;
};
struct Quote {
  double px = 0;
};

bool is_tight(const Quote& q) { return q.px > 0; }

void build(keel::World& world) {
  const keel::Registry& registry = world.registry();
  auto d = keel::dag<Tick>(registry)
               .root([](const Tick& t) { return t; })
               .route(is_tight, [](auto tight) { return tight.then([](const Tick& t) { return t.bid; }); },
                      [](auto wide) { return wide.then([](const Tick& t) { return t.ask; }); })
               .then([](double px) { (void)px; })
               .build();
  d.run(world, Tick{});
}
