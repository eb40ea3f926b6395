// Must compile: the positive control for the compile-fail tests. It includes
// the same header by the same path, with every parameter kind used above in a
// valid arrangement, so a broken include path or a missing header fails this
// test instead of making every compile-fail test pass for the wrong reason.
#include <array>
#include <cstdint>

#include "rt/handler.h"

struct Book {
  std::int64_t orders = 0;
};
struct Limits {
  int max_orders = 0;
};
struct Quote {
  int price = 0;
};

void on_quote(keel::ResMut<Book> book, keel::Res<Limits> limits, keel::Local<int> seen, keel::Seq seq,
              const Quote& q) {
  ++*seen;
  book->orders += q.price + limits->max_orders + static_cast<std::int64_t>(seq.value());
}

void build(const keel::Registry& registry) {
  auto h = keel::handler(registry, on_quote);
  std::array<std::int64_t, 1> weights{};
  keel::InlineHandler<int, 64> slot =
      keel::handler(registry, [weights](keel::ResMut<Book> book, int e) { book->orders += weights[0] * e; });
  auto boxed = keel::boxed(std::move(h));
  (void)slot;
  (void)boxed;
}
