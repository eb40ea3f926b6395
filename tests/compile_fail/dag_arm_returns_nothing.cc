// Must not compile: an arm function that builds its steps but does not
// return the builder (a missing `return`). Expected: the static_assert
// naming what the arm function returns.
#include "rt/dag.h"

void build(const keel::Registry& registry) {
  auto d = keel::dag<int>(registry)
               .root([](int x) { return x; })
               .fork()
               .arm([](auto a) { a.then([](const int& x) { (void)x; }); })
               .join()
               .build();
  (void)d;
}
