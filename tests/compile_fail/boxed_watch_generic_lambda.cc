// Must not compile: a generic lambda has no parameter list Keel can read.
// Expected: watch()'s static_assert saying what it takes, naming the
// lambda, and no "invalid use of void expression" after it.
#include "rt/uring.h"

void build(keel::Uring& uring, int fd) {
  uring.watch(fd, keel::Readable, [](const auto&) {});
}
