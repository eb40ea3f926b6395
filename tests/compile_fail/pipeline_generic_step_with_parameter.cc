// Must not compile: a generic lambda (auto input) that also takes a keel
// parameter; Keel cannot read its parameter list, so it calls it with the
// input alone. Expected: the static_assert naming the step and what it is
// passed.
#include "rt/pipeline.h"

struct Book {
  int orders = 0;
};

void build(const keel::Registry& registry) {
  auto p = keel::pipeline<int>(registry)
               .then([](keel::ResMut<Book> book, const auto& qty) { book->orders += qty; })
               .build();
  (void)p;
}
