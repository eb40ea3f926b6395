#include "fills.h"

#include "rt/handler.h"

namespace downstream {
namespace {

void on_fill(keel::ResMut<Position> position, keel::Res<Limits> limits, const Fill& fill) {
  if (position->qty + fill.qty > limits->max_qty) {
    ++position->rejected;
    return;
  }
  position->qty += fill.qty;
}

}  // namespace

void install(keel::WorldBuilder& wb, long max_qty) {
  wb.emplace<Position>();
  wb.insert(Limits{.max_qty = max_qty});
}

std::string_view apply(keel::World& world, const Fill& fill) {
  auto handler = keel::handler(world.registry(), on_fill);
  world.next_sequence();
  handler.run(world, fill);
  return handler.name();
}

}  // namespace downstream
