// The event, resources and handler function shared by bench/dispatch.cc and
// bench/dispatch_erased.cc.
#pragma once

#include <array>
#include <cstdint>
#include <memory>

#include "rt/handler.h"

namespace keel::bench {

struct Quote {
  std::int32_t level;
  std::int64_t price;
  std::int64_t quantity;
};

// The work: an order-book level update.
struct OrderBook {
  std::array<std::int64_t, 8> prices{};
  std::array<std::int64_t, 8> quantities{};
  std::uint64_t updates = 0;

  void apply(const Quote& q) {
    prices[q.level & 7] = q.price;
    quantities[q.level & 7] = q.quantity;
    ++updates;
  }
};

inline void on_quote(keel::ResMut<OrderBook> book, const Quote& q) { book->apply(q); }

// Built in another translation unit, so that the call site cannot see the
// handler's dynamic type (or the inline handler's operation table) and
// really pays for the erased call.
std::unique_ptr<keel::Handler<const Quote&>> make_boxed_on_quote(const keel::Registry& registry);
keel::InlineHandler<const Quote&, 64> make_inline_on_quote(const keel::Registry& registry);

}  // namespace keel::bench
