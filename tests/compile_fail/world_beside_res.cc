// Must not compile: a handler takes keel::World& and Res<Book>; the World
// reaches Book too, so the two could alias. Expected: the World-beside-
// resource static_assert, naming the parameter.
#include "rt/handler.h"

struct Book {
  int orders = 0;
};
struct Quote {
  int price = 0;
};

void on_quote(keel::World& world, keel::Res<Book> book, const Quote& q) {
  world.next_sequence();
  (void)book->orders;
  (void)q;
}

void build(const keel::Registry& registry) { keel::handler(registry, on_quote); }
