// Must not compile: a step follows one that returns void (the pipeline has
// ended). Expected: the "pipeline has ended" static_assert naming the step,
// and nothing about void expressions from the chain's internals, where the
// pipeline is built or run.
#include "rt/pipeline.h"

void build(keel::World& world) {
  const keel::Registry& registry = world.registry();
  auto p = keel::pipeline<int>(registry)
               .then([](int x) { (void)x; })
               .then([](int x) { return x + 1; })
               .then([](int x) { (void)x; })
               .build();
  p.run(world, 1);
}
