// Must not compile: map() on a chain carrying a plain int (map applies to
// std::optional or std::expected; then() is for plain values). Expected:
// the map static_assert, naming the chain's type.
#include "rt/pipeline.h"

struct Quote {
  int px = 0;
};

void build(keel::World& world) {
  const keel::Registry& registry = world.registry();
  auto p = keel::pipeline<Quote>(registry)
               .then([](const Quote& q) { return q.px; })
               .map([](int px) { return px * 2; })
               .then([](int doubled) { (void)doubled; })
               .build();
  p.run(world, Quote{});
}
