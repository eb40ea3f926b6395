// Must not compile: an inbox of events that cannot be moved (drain() moves
// each event out before handing it over). Expected: the Inbox
// static_assert, naming the event type.
#include "rt/mailbox.h"

struct Pinned {
  explicit Pinned(int v) : value(v) {}
  Pinned(Pinned&&) = delete;
  int value;
};

keel::Inbox<Pinned> inbox(4);
