// Must not compile: map() hands its step the Quote inside the chain's
// std::optional<Quote>, and the step takes an Order after its keel
// parameter. Expected: the input static_assert, naming what the step takes,
// what it is passed, the position (2: after Res<Limits>) and the step.
#include <optional>

#include "rt/pipeline.h"

struct Quote {
  int px = 0;
};
struct Order {
  int qty = 0;
};
struct Limits {
  int max_qty = 0;
};

std::optional<Quote> decode(const int& px) { return Quote{px}; }
int size_order(keel::Res<Limits> limits, const Order& o) { return o.qty < limits->max_qty ? o.qty : 0; }

void build(const keel::Registry& registry) {
  auto p = keel::pipeline<int>(registry).then(decode).map(size_order).build();
  (void)p;
}
