// Must not compile: the last of six steps takes an `int` before its input,
// and an int is not a keel parameter (the order gateway a user built from
// the docs). Expected: one static_assert naming the type, its position and
// the step (map() and the lambda), with a backtrace short enough to read:
// the chain of five steps before it is spelled out once.
#include <expected>
#include <optional>

#include "rt/pipeline.h"

struct RawMsg {
  int px = 0;
  int qty = 0;
};
struct Quote {
  int px = 0;
  int qty = 0;
};
struct Order {
  int qty = 0;
};
enum class Reject { kZeroQty, kOverLimit };
struct Limits {
  int max_qty = 0;
};

std::optional<Quote> decode(const RawMsg& m) {
  if (m.px <= 0) return std::nullopt;
  return Quote{m.px, m.qty};
}
bool is_tradable(const Quote& q) { return q.qty > 0; }
std::expected<Order, Reject> to_order(const Quote& q) {
  if (q.qty == 0) return std::unexpected(Reject::kZeroQty);
  return Order{q.qty};
}
std::expected<Order, Reject> check_risk(keel::Res<Limits> limits, Order o) {
  if (o.qty > limits->max_qty) return std::unexpected(Reject::kOverLimit);
  return o;
}
void log_reject(Reject why) { (void)why; }

void build(keel::World& world) {
  const keel::Registry& registry = world.registry();
  auto p = keel::pipeline<RawMsg>(registry)
               .then(decode)
               .filter(is_tradable)
               .map(to_order)
               .and_then(check_risk)
               .on_error(log_reject)
               .map([](int extra, const Order& o) { (void)(extra + o.qty); })
               .build();
  p.run(world, RawMsg{});
}
