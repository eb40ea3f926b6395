// Must not compile: every parameter is a keel parameter, so there is no
// event; such a function is a system or a startup function. Expected: the
// "last parameter of a handler is its event" static_assert, naming the function type.
#include "rt/handler.h"

struct Book {
  int orders = 0;
};
struct Limits {
  int max_orders = 0;
};

void rebalance(keel::ResMut<Book> book, keel::Res<Limits> limits) { book->orders = limits->max_orders; }

void build(const keel::Registry& registry) { keel::handler(registry, rebalance); }
