// Must not compile: after its context, a reactor takes keel parameters only
// (it has no event); here it also takes an `int`. Expected: the "must be a
// keel parameter" static_assert, naming the type and its position, counted
// from the first parameter after the context.
#include "rt/reactor.h"

struct Book {
  int orders = 0;
};
struct QuoteCtx {
  int instrument = 0;
  int runs = 0;
};

void requote(QuoteCtx& ctx, keel::Res<Book> book, int extra) { ctx.runs += book->orders + extra; }

void build(keel::World& world) {
  auto& rx = world.resource<keel::ReactorNotify>();
  static_cast<void>(rx.spawn(QuoteCtx{}, world.registry(), requote));
}
