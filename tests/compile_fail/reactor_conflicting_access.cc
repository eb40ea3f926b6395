// Must not compile: one reactor reads and writes the same resource through
// two parameters (a shared and a mutable reference to one object).
// Expected: the "takes the same resource twice" static_assert, naming the
// resource.
#include "rt/reactor.h"

struct Book {
  int orders = 0;
};
struct QuoteCtx {
  int instrument = 0;
  int runs = 0;
};

void requote(QuoteCtx& ctx, keel::Res<Book> in, keel::ResMut<Book> out) {
  out->orders = 2 * in->orders;
  ++ctx.runs;
}

void build(keel::World& world) {
  auto& rx = world.resource<keel::ReactorNotify>();
  static_cast<void>(rx.spawn(QuoteCtx{}, world.registry(), requote));
}
