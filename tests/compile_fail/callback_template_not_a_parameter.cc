// Must not compile: a CallbackTemplate of a function with a plain `int`
// between its context and its event. Expected: the "must be a keel
// parameter" static_assert, naming the type and its position, and nothing
// after it: generate() and run() compile on against the stand-in.
#include "rt/callback.h"

struct Quote {};
struct Seen {
  int quotes = 0;
};

void count(Seen& seen, int, const Quote&) { ++seen.quotes; }

void build(keel::World& world) {
  keel::CallbackTemplate counter(world.registry(), count);
  auto cb = counter.generate(Seen{});
  cb.run(world, Quote{});
}
