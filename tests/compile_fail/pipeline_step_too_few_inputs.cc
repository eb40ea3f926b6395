// Must not compile: after splat() of a three-element tuple, the step takes
// two inputs. Expected: the arity static_assert, naming how many inputs the
// step takes, how many it is passed, and the step (then() after splat()).
#include <tuple>

#include "rt/pipeline.h"

void build(keel::World& world) {
  const keel::Registry& registry = world.registry();
  auto p = keel::pipeline<int>(registry)
               .then([](int x) { return std::tuple(x, 2 * x, 0.5); })
               .splat()
               .then([](int a, int b) { (void)(a + b); })
               .build();
  p.run(world, 1);
}
