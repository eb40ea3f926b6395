// Must not compile: splat() on a chain carrying an int, which has no
// elements to spread. Expected: the splat static_assert naming the type.
#include "rt/pipeline.h"

void build(const keel::Registry& registry) {
  auto p = keel::pipeline<int>(registry).then([](int x) { return x + 1; }).splat().then([](int x) { (void)x; }).build();
  (void)p;
}
