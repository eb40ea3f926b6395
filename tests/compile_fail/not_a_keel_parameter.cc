// Must not compile: a parameter before the event (here `int`) is not a keel
// parameter. Expected: the "must be a keel parameter" static_assert, naming
// the type and its position.
#include "rt/handler.h"

struct Book {
  int orders = 0;
};
struct Quote {
  int price = 0;
};

void on_quote(keel::ResMut<Book> book, int scale, const Quote& q) { book->orders += scale * q.price; }

void build(const keel::Registry& registry) { keel::handler(registry, on_quote); }
