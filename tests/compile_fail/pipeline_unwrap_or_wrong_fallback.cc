// Must not compile: unwrap_or() with a fallback that cannot make the chain's
// value type (a Quote for an optional<int>). Expected: the unwrap_or
// static_assert naming both types.
#include <optional>

#include "rt/pipeline.h"

struct Quote {
  int px = 0;
};

void build(const keel::Registry& registry) {
  auto p = keel::pipeline<int>(registry)
               .then([](int x) { return std::optional<int>(x); })
               .unwrap_or(Quote{})
               .build();
  (void)p;
}
