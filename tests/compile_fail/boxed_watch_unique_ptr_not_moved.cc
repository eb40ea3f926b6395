// Must not compile: watch() takes ownership of a std::unique_ptr, and an
// lvalue would be emptied behind the caller's back. Expected: the
// static_assert asking for std::move(ptr).
#include <memory>
#include <string_view>

#include "rt/uring.h"

struct OnReady : keel::Handler<const keel::Readiness&> {
  void run(keel::World&, const keel::Readiness&) override {}
  std::string_view name() const noexcept override { return "OnReady"; }
};

void build(keel::Uring& uring, int fd) {
  auto handler = std::make_unique<OnReady>();
  uring.watch(fd, keel::Readable, handler);
}
