// Must not compile: the event comes before a keel parameter. Expected: the
// "event must be the last parameter" static_assert, naming Quote.
#include "rt/handler.h"

struct Book {
  int orders = 0;
};
struct Quote {
  int price = 0;
};

void on_quote(const Quote& q, keel::ResMut<Book> book) { book->orders += q.price; }

void build(const keel::Registry& registry) { keel::handler(registry, on_quote); }
