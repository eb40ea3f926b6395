// Must not compile: one handler reads and writes the same resource (Res<Book>
// with ResMut<Book>). Expected: the aliasing static_assert, naming Book.
#include "rt/handler.h"

struct Book {
  int orders = 0;
};
struct Quote {
  int price = 0;
};

void on_quote(keel::Res<Book> seen, keel::ResMut<Book> book, const Quote& q) { book->orders = seen->orders + q.price; }

void build(const keel::Registry& registry) { keel::handler(registry, on_quote); }
