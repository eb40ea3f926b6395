// Must not compile: one system reads and writes the same resource through
// two parameters. Expected: the "one system takes the same resource twice"
// static_assert, naming the resource.
#include "rt/system.h"

struct Book {
  int orders = 0;
};

bool double_orders(keel::Res<Book> in, keel::ResMut<Book> out) {
  out->orders = 2 * in->orders;
  return true;
}

void build(const keel::Registry& registry) { keel::system(registry, double_orders); }
