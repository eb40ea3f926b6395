// Must not compile: a system takes keel::World& and ResMut<Book>. Expected:
// the World-beside-resource static_assert, naming the parameter.
#include "rt/system.h"

struct Book {
  int orders = 0;
};

bool update(keel::World& world, keel::ResMut<Book> book) {
  world.next_sequence();
  return ++book->orders > 0;
}

void build(const keel::Registry& registry) { (void)keel::system(registry, update); }
