// Must not compile: join() on a fork without arms. Expected: the
// static_assert asking for arms.
#include "rt/dag.h"

void build(const keel::Registry& registry) {
  auto d = keel::dag<int>(registry).root([](int x) { return x; }).fork().join().build();
  (void)d;
}
