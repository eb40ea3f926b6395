// Must not compile: a lambda capturing 64 bytes does not fit
// InlineHandler<E, 16>. Expected: the "does not fit" static_assert, with the
// size, alignment and capacity in HandlerDoesNotFitInlineHandler<64, 8, 16>.
#include <array>
#include <cstdint>

#include "rt/handler.h"

struct Book {
  std::int64_t orders = 0;
};

void build(const keel::Registry& registry) {
  std::array<std::int64_t, 8> weights{};  // 64 bytes
  keel::InlineHandler<int, 16> slot =
      keel::handler(registry, [weights](keel::ResMut<Book> book, int e) { book->orders += weights[0] * e; });
  (void)slot;
}
