// Must not compile: a system returns bool or void, not int. Expected: the
// "a system returns bool" static_assert, naming the returned type, and no
// error after it where the rejected system is used.
#include "rt/system.h"

struct Book {
  int orders = 0;
};

int count_orders(keel::Res<Book> book) { return book->orders; }

void build(keel::World& world) {
  auto counter = keel::system(world.registry(), count_orders);
  (void)counter.run(world);
}
