// Must not compile: unfilled() on a batch of std::string items, whose
// objects raw bytes cannot make. Expected: the unfilled static_assert,
// naming the item type.
#include <string>

#include "rt/pipeline.h"

void build(const keel::Registry& registry) {
  auto batch = keel::pipeline<std::string>(registry).then([](std::string s) { (void)s; }).build_batch(16);
  auto slots = batch.unfilled();
  (void)slots;
}
