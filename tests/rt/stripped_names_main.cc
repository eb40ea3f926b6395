// Prints the name of a handler built from an anonymous-namespace function,
// for stripped_names_test.sh: named after the function while the binary has
// its symbol table, after the call site once it is stripped.
#include <iostream>

#include "rt/handler.h"
#include "rt/world.h"

namespace {
struct Count {
  int n = 0;
};
void on_tick(keel::ResMut<Count> count, int ticks) { count->n += ticks; }
}  // namespace

int main() {
  keel::WorldBuilder wb;
  wb.emplace<Count>();
  keel::World world = std::move(wb).build();
  auto handler = keel::handler(world.registry(), on_tick);  // the call site: line 20
  handler.run(world, 2);
  std::cout << handler.name() << " ran: " << world.resource<Count>().n << "\n";
}
