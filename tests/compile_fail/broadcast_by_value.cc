// Must not compile: a Broadcast<Quote> hands its handlers `const Quote&`, and
// this handler takes its Quote by value. Expected: the static_assert pointing
// to keel::cloned.
#include "rt/fan_out.h"

struct Quote {
  int price = 0;
};

void keep_quote(Quote q) { (void)q; }

void build(const keel::Registry& registry) {
  keel::Broadcast<Quote> subscribers;
  subscribers.add(keel::handler(registry, keep_quote));
}
