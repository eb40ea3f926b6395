// A position kept from fills, capped by a limit: the smallest thing a
// trading system builds on Keel.
#pragma once

#include <string_view>

#include "rt/world.h"

namespace downstream {

struct Position {
  long qty = 0;
  long rejected = 0;
};
struct Limits {
  long max_qty = 0;
};
struct Fill {
  long qty = 0;
};

// Registers Position and Limits.
void install(keel::WorldBuilder& wb, long max_qty);

// Applies one fill through a handler built from a function in an anonymous
// namespace; returns that handler's name.
std::string_view apply(keel::World& world, const Fill& fill);

}  // namespace downstream
