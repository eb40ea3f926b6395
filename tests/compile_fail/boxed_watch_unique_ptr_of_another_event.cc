// Must not compile: Uring::watch() runs handlers of `const keel::Readiness&`,
// and this std::unique_ptr points to a handler of `const Quote&`. Expected:
// the watch() static_assert saying what it takes, the handler's event named
// in 'HandlerOfAnotherEvent<const Quote&>', and no error after it.
#include <memory>
#include <string_view>

#include "rt/uring.h"

struct Quote {
  int price = 0;
};

struct OnQuote : keel::Handler<const Quote&> {
  void run(keel::World&, const Quote&) override {}
  std::string_view name() const noexcept override { return "OnQuote"; }
};

void build(keel::Uring& uring, int fd) { uring.watch(fd, keel::Readable, std::make_unique<OnQuote>()); }
