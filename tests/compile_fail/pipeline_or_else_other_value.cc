// Must not compile: or_else() on std::expected<int, Reject> recovering into
// std::expected<long, Reject> (another value type). Expected: the or_else
// static_assert naming what it returns and the chain's value type.
#include <expected>

#include "rt/pipeline.h"

enum class Reject { kZero };

void build(const keel::Registry& registry) {
  auto p = keel::pipeline<int>(registry)
               .then([](int x) -> std::expected<int, Reject> { return x; })
               .or_else([](Reject r) -> std::expected<long, Reject> { return std::unexpected(r); })
               .build();
  (void)p;
}
