// Must not compile: a generic lambda has no parameter list Keel can read.
// Expected: the "cannot read this callable's parameter list" static_assert,
// naming the lambda's closure type.
#include "rt/handler.h"

struct Book {
  int orders = 0;
};

void build(const keel::Registry& registry) {
  keel::handler(registry, [](keel::ResMut<Book> book, auto e) { book->orders += e; });
}
