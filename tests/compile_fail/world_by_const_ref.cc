// Must not compile: the World taken by const reference. Expected: the
// static_assert asking for keel::World&.
#include "rt/handler.h"

struct Quote {
  int price = 0;
};

void on_quote(const keel::World& world, const Quote& q) {
  (void)world;
  (void)q;
}

void build(const keel::Registry& registry) { keel::handler(registry, on_quote); }
