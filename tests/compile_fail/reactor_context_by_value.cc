// Must not compile: a reactor's first parameter is its context, which the
// reactor owns and mutates in place; here it is taken by value, so every
// run would change a copy. Expected: the "first parameter is its context,
// taken by non-const reference" static_assert, naming the function type.
#include "rt/reactor.h"

struct Book {
  int orders = 0;
};
struct QuoteCtx {
  int instrument = 0;
  int runs = 0;
};

void requote(QuoteCtx ctx, keel::Res<Book> book) { ctx.runs += book->orders; }

void build(keel::World& world) {
  auto& rx = world.resource<keel::ReactorNotify>();
  static_cast<void>(rx.spawn(QuoteCtx{}, world.registry(), requote));
}
