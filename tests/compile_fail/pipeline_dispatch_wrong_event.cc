// Must not compile: dispatch() of a handler of Quote on a chain carrying an
// int. Expected: the dispatch static_assert naming the handler's event and
// what the chain passes.
#include "rt/pipeline.h"

struct Quote {
  int px = 0;
};

void on_quote(const Quote& q) { (void)q; }

void build(const keel::Registry& registry) {
  auto p = keel::pipeline<int>(registry).dispatch(keel::handler(registry, on_quote)).build();
  (void)p;
}
