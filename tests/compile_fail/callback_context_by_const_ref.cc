// Must not compile: a callback that takes its context by const reference,
// so it could not update the context it owns. Expected: the "first
// parameter is its context, taken by non-const reference" static_assert,
// naming the function, and no error after it.
#include "rt/callback.h"

struct Quote {
  int px = 0;
};
struct Seen {
  int quotes = 0;
};

void count(const Seen& seen, const Quote& q) { (void)(seen.quotes + q.px); }

void build(keel::World& world) {
  auto cb = keel::callback(Seen{}, world.registry(), count);
  cb.run(world, Quote{});
}
