// Must not compile: Keel calls name() on const handlers (in error messages,
// and through keel::Handler<E>::name() const), and this type's name() is not
// const. Expected: the static_assert asking for `name() const noexcept`,
// naming the type.
#include <string_view>

#include "rt/uring.h"

struct OnReady {
  using event_type = const keel::Readiness&;
  void run(keel::World&, const keel::Readiness&) {}
  std::string_view name() noexcept { return "OnReady"; }
};

void build(keel::Uring& uring, int fd) { uring.watch(fd, keel::Readable, OnReady{}); }
