// Must not compile: a keel::Handler<E> reference names an object of some
// class derived from it; watch() cannot copy it without knowing which.
// Expected: the static_assert asking for a std::unique_ptr, naming the
// abstract class.
#include "rt/uring.h"

void build(keel::Uring& uring, int fd, keel::Handler<const keel::Readiness&>& handler) {
  uring.watch(fd, keel::Readable, handler);
}
