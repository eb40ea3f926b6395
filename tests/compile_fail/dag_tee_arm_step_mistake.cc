// Must not compile: a step inside a tee() arm takes an `int` before its
// input (a Tick, by const&). Expected: the step static_assert, naming the
// type, its position and the step, as for any pipeline step.
#include "rt/dag.h"

struct Tick {
  double bid = 0;
  double ask = 0;
};
struct Tape {
  int ticks = 0;
};

void build(keel::World& world) {
  const keel::Registry& registry = world.registry();
  auto d = keel::dag<Tick>(registry)
               .root([](const Tick& t) { return t; })
               .tee([](auto side) {
                 return side.then([](keel::ResMut<Tape> tape, int every, const Tick&) { tape->ticks += every; });
               })
               .then([](Tick t) { (void)t; })
               .build();
  d.run(world, Tick{});
}
