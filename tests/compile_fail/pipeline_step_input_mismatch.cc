// Must not compile: the second step takes a Quote, but the first produces an
// Order. Expected: the pipeline's static_assert, naming both types.
#include "rt/pipeline.h"

struct Quote {
  int px = 0;
};
struct Order {
  int qty = 0;
};

Order to_order(const int& x) { return Order{x}; }
void on_quote(const Quote& q) { (void)q; }

void build(const keel::Registry& registry) {
  auto p = keel::pipeline<int>(registry).then(to_order).then(on_quote).build();
  (void)p;
}
