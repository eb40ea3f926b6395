// Must not compile: the event comes before a keel parameter. Expected: the
// "event must be the last parameter" static_assert, naming Quote, and no
// error after it where the rejected handler is used.
#include "rt/handler.h"

struct Book {
  int orders = 0;
};
struct Quote {
  int price = 0;
};

void on_quote(const Quote& q, keel::ResMut<Book> book) { book->orders += q.price; }

void build(keel::World& world) {
  auto h = keel::handler(world.registry(), on_quote);
  h.run(world, Quote{});
}
