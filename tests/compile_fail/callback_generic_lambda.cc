// Must not compile: a callback whose event is an `auto` parameter, so Keel
// cannot read where its keel parameters end. Expected: the "cannot read this
// callable's parameter list" static_assert, naming the lambda, and no error
// after it where the rejected callback is run.
#include "rt/callback.h"

struct Quote {
  int px = 0;
};
struct Seen {
  int quotes = 0;
};

void build(keel::World& world) {
  auto cb = keel::callback(Seen{}, world.registry(), [](Seen& seen, const auto& q) { seen.quotes += q.px; });
  cb.run(world, Quote{});
}
