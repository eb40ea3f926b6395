// Must not compile: spawn() is given a handler (keel::handler(...) of a
// Quote) where it takes a reactor function of a context. Expected: the
// "not a handler" static_assert, which points to the mailbox, and no
// "cannot read this reactor's parameter list" after it.
#include "rt/handler.h"
#include "rt/reactor.h"

struct Book {};
struct Quote {};
void on_quote(keel::ResMut<Book>, const Quote&) {}

void build(keel::World& world) {
  auto& rx = world.resource<keel::ReactorNotify>();
  keel::ReactorToken t = rx.spawn(Book{}, world.registry(), keel::handler(world.registry(), on_quote));
  static_cast<void>(t);
}
