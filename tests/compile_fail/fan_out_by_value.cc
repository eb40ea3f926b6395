// Must not compile: fan_out() hands every handler the same `const Quote&`,
// and the second handler takes its Quote by value. Expected: the static_assert
// pointing to keel::cloned, naming the shared event, the handler's event and
// its position, and nothing after it: the rejected fan-out is still a
// complete handler that code using it compiles against.
#include "rt/fan_out.h"

struct Book {
  int orders = 0;
};
struct Quote {
  int price = 0;
};

void update_book(keel::ResMut<Book> book, const Quote& q) { book->orders += q.price; }
void keep_quote(Quote q) { (void)q; }

void build(const keel::Registry& registry) {
  auto both = keel::fan_out(keel::handler(registry, update_book), keel::handler(registry, keep_quote));
  static_cast<void>(both.name());
}
