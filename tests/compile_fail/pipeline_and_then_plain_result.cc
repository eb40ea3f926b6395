// Must not compile: and_then() on std::optional with a function returning a
// plain Order (that is map()). Expected: the and_then static_assert naming
// what the function returns.
#include <optional>

#include "rt/pipeline.h"

struct Order {
  int qty = 0;
};

void build(const keel::Registry& registry) {
  auto p = keel::pipeline<int>(registry)
               .then([](int qty) { return std::optional<int>(qty); })
               .and_then([](int qty) { return Order{qty}; })
               .build();
  (void)p;
}
