// Must not compile: a predicate takes its input first and a keel parameter
// after it. Expected: the static_assert naming the keel parameter, its
// position and the step (filter()).
#include <optional>

#include "rt/pipeline.h"

struct Quote {
  int px = 0;
};
struct Limits {
  int min_px = 0;
};

bool is_tradable(const Quote& q, keel::Res<Limits> limits) { return q.px >= limits->min_px; }

void build(const keel::Registry& registry) {
  auto p = keel::pipeline<int>(registry)
               .then([](int px) { return std::optional<Quote>(Quote{px}); })
               .filter(is_tradable)
               .build();
  (void)p;
}
