// Hand-written baselines that must not be devirtualised: their definitions
// live in virtual_baseline.cc, another translation unit, so the compiler
// cannot see through the virtual call (in the same file GCC devirtualises
// and even vectorises the loop, which would make any ratio meaningless).
#pragma once

#include <cstdint>
#include <memory>

namespace keel::bench {

struct ReactorCounter {
  std::int64_t total = 0;
};

// One virtual call per reactor, doing a reactor's work by hand.
struct VirtualReactor {
  virtual ~VirtualReactor();
  virtual void run(ReactorCounter& counter) = 0;
};

std::unique_ptr<VirtualReactor> make_virtual_requote(std::int64_t instrument);

}  // namespace keel::bench
