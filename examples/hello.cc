// The README's example, verbatim: two resources, one handler, three events.
//
//   bazel run //examples:hello
#include <iostream>

#include "rt/handler.h"

struct Position { long qty = 0; };   // resources: plain structs, one per type
struct Limits { long max_qty = 0; };
struct Fill { long qty; };           // the event

// Keel parameters first (resolved once), the event last.
void on_fill(keel::ResMut<Position> pos, keel::Res<Limits> lim, const Fill& f) {
  if (pos->qty + f.qty <= lim->max_qty) pos->qty += f.qty;
}

int main() {
  keel::WorldBuilder wb;
  wb.emplace<Position>();
  wb.insert(Limits{.max_qty = 50});
  keel::World world = std::move(wb).build();

  auto h = keel::handler(world.registry(), on_fill);  // resolves Position and Limits now
  for (long qty : {20, 20, 20}) {
    world.next_sequence();
    h.run(world, Fill{qty});  // one load per parameter, then the call
  }
  std::cout << h.name() << ": position " << world.resource<Position>().qty << "\n";  // on_fill: position 40
}
