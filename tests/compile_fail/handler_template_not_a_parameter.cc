// Must not compile: a HandlerTemplate of a function with a plain `int`
// before its keel parameters. Expected: the "must be a keel parameter"
// static_assert, naming the type and its position, and nothing after it —
// the template stamps a complete stand-in, so generate() and run() compile
// on.
#include "rt/handler.h"

struct Book {};
struct Quote {};

void on_quote(int, keel::ResMut<Book>, const Quote&) {}

void build(keel::World& world) {
  keel::HandlerTemplate quotes(world.registry(), on_quote);
  auto h = quotes.generate();
  h.run(world, Quote{});
}
