// Must not compile: keel::World& after another keel parameter. Expected:
// the first-parameter static_assert with its position.
#include "rt/handler.h"

struct Quote {
  int price = 0;
};

void on_quote(keel::Seq seq, keel::World& world, const Quote& q) {
  (void)seq;
  (void)world;
  (void)q;
}

void build(const keel::Registry& registry) { keel::handler(registry, on_quote); }
