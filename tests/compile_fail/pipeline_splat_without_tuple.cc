// Must not compile: splat() on a chain carrying an int, which has no
// elements to spread. Expected: the splat static_assert naming the type.
#include "rt/pipeline.h"

void build(keel::World& world) {
  const keel::Registry& registry = world.registry();
  auto p = keel::pipeline<int>(registry).then([](int x) { return x + 1; }).splat().then([](int x) { (void)x; }).build();
  p.run(world, 1);
}
