// Must not compile: on_wake() runs handlers of `const keel::Woken&`, and
// this type of the user's own handles readiness. Expected: the on_wake()
// static_assert, the handler's event named in 'HandlerOfAnotherEvent<...>'.
#include <string_view>

#include "rt/uring.h"

struct OnReady {
  using event_type = const keel::Readiness&;
  void run(keel::World&, const keel::Readiness&) {}
  std::string_view name() const noexcept { return "OnReady"; }
};

void build(keel::Uring& uring) { uring.on_wake(OnReady{}); }
