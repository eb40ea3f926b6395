// Must not compile: a step follows one that returns void (the pipeline has
// ended). Expected: the "pipeline has ended" static_assert, and nothing about
// void expressions from the chain's internals.
#include "rt/pipeline.h"

void build(const keel::Registry& registry) {
  auto p = keel::pipeline<int>(registry)
               .then([](int x) { (void)x; })
               .then([](int x) { return x + 1; })
               .then([](int x) { (void)x; })
               .build();
  (void)p;
}
