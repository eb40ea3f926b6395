// Must not compile: a system returns bool or void, not int. Expected: the
// "a system returns bool" static_assert, naming the returned type.
#include "rt/system.h"

struct Book {
  int orders = 0;
};

int count_orders(keel::Res<Book> book) { return book->orders; }

void build(const keel::Registry& registry) { keel::system(registry, count_orders); }
