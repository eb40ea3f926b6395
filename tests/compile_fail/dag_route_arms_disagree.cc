// Must not compile: route()'s arms produce different types (int and Quote).
// Expected: the route static_assert, naming both types.
#include "rt/dag.h"

struct Quote {
  int px = 0;
};

void build(const keel::Registry& registry) {
  auto d = keel::dag<int>(registry)
               .root([](int x) { return x; })
               .route([](const int& x) { return x > 0; },
                      [](auto yes) { return yes.then([](const int& x) { return x; }); },
                      [](auto no) { return no.then([](const int& x) { return Quote{x}; }); })
               .then([](int x) { (void)x; })
               .build();
  (void)d;
}
