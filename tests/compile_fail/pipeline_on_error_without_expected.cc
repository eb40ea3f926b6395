// Must not compile: on_error() on a chain carrying std::optional<int>, which
// has no error to handle (on_none() is its counterpart). Expected: the
// error-combinator static_assert, naming the chain's type.
#include <optional>

#include "rt/pipeline.h"

struct Reject {
  int code = 0;
};

void build(const keel::Registry& registry) {
  auto p = keel::pipeline<int>(registry)
               .then([](int x) -> std::optional<int> { return x; })
               .on_error([](Reject r) { (void)r; })
               .map([](int x) { (void)x; })
               .build();
  (void)p;
}
