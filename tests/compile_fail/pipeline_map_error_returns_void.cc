// Must not compile: map_error() with a function that returns nothing (that
// is inspect_error() or on_error()). Expected: the map_error static_assert
// naming the step.
#include <expected>

#include "rt/pipeline.h"

enum class Reject { kZero };

void build(const keel::Registry& registry) {
  auto p = keel::pipeline<int>(registry)
               .then([](int x) -> std::expected<int, Reject> { return x; })
               .map_error([](Reject r) { (void)r; })
               .build();
  (void)p;
}
