// Must not compile: a std::unique_ptr is taken only to a class derived from
// keel::Handler<E>; this one points to a handler type of the user's own,
// which is passed by value instead. Expected: the static_assert saying so,
// naming the pointer type.
#include <memory>
#include <string_view>

#include "rt/uring.h"

struct OnReady {
  using event_type = const keel::Readiness&;
  void run(keel::World&, const keel::Readiness&) {}
  std::string_view name() const noexcept { return "OnReady"; }
};

void build(keel::Uring& uring, int fd) { uring.watch(fd, keel::Readable, std::make_unique<OnReady>()); }
