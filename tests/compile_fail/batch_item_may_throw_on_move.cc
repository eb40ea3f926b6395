// Must not compile: a batch of items whose move constructor may throw (a
// partly run batch could not keep its unrun items). Expected: the batch
// static_assert, naming the item type.
#include "rt/pipeline.h"

struct Quote {
  Quote() = default;
  Quote(const Quote&) = default;
  Quote(Quote&&) noexcept(false) {}
  int px = 0;
};

void build(const keel::Registry& registry) {
  auto batch = keel::pipeline<Quote>(registry).then([](Quote q) { (void)q; }).build_batch(16);
  (void)batch;
}
