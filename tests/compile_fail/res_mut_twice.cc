// Must not compile: one handler takes ResMut<Book> twice (two mutable
// references to one object). Expected: the aliasing static_assert, naming Book.
#include "rt/handler.h"

struct Book {
  int orders = 0;
};
struct Quote {
  int price = 0;
};

void on_quote(keel::ResMut<Book> a, keel::ResMut<Book> b, const Quote& q) { a->orders = b->orders + q.price; }

void build(const keel::Registry& registry) { keel::handler(registry, on_quote); }
