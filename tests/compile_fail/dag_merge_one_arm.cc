// Must not compile: merge() after a single arm. Expected: the static_assert
// asking for two or more arms.
#include "rt/dag.h"

void build(const keel::Registry& registry) {
  auto d = keel::dag<int>(registry)
               .root([](int x) { return x; })
               .fork()
               .arm([](auto a) { return a.then([](const int& x) { return x + 1; }); })
               .merge([](int y) { return y; })
               .build();
  (void)d;
}
