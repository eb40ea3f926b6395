// Must not compile: and_then() on std::expected<int, Reject> with a function
// returning std::expected<int, int> (another error type). Expected: the
// and_then static_assert naming what it returns and the chain's error type.
#include <expected>

#include "rt/pipeline.h"

enum class Reject { kZero };

void build(const keel::Registry& registry) {
  auto p = keel::pipeline<int>(registry)
               .then([](int x) -> std::expected<int, Reject> { return x; })
               .and_then([](int x) -> std::expected<int, int> { return x; })
               .build();
  (void)p;
}
