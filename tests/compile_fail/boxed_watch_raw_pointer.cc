// Must not compile: a raw pointer may be null and does not say who deletes
// the handler, so Uring::watch() refuses it. Expected: the static_assert
// pointing to std::unique_ptr, naming the pointer type.
#include <string_view>

#include "rt/uring.h"

struct OnReady : keel::Handler<const keel::Readiness&> {
  void run(keel::World&, const keel::Readiness&) override {}
  std::string_view name() const noexcept override { return "OnReady"; }
};

void build(keel::Uring& uring, int fd, OnReady* handler) { uring.watch(fd, keel::Readable, handler); }
