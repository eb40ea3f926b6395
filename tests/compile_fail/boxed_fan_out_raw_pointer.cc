// Must not compile: fan_out() owns its members, and a raw pointer does not
// say who deletes the handler. Expected: the static_assert pointing to
// std::unique_ptr, naming the pointer type.
#include <string_view>

#include "rt/fan_out.h"

struct Quote {
  int price = 0;
};

struct OnQuote {
  using event_type = const Quote&;
  void run(keel::World&, const Quote&) {}
  std::string_view name() const noexcept { return "OnQuote"; }
};

void build(OnQuote* second) { (void)keel::fan_out(OnQuote{}, second); }
