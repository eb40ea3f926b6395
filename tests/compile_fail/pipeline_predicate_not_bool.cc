// Must not compile: a filter() predicate that returns the Quote instead of
// a bool. Expected: the predicate static_assert naming what it returns.
#include <optional>

#include "rt/pipeline.h"

struct Quote {
  int px = 0;
};

void build(const keel::Registry& registry) {
  auto p = keel::pipeline<int>(registry)
               .then([](int px) { return std::optional<Quote>(Quote{px}); })
               .filter([](const Quote& q) { return q; })
               .build();
  (void)p;
}
