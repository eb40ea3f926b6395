// Must not compile: an inbox of references (an inbox holds its events by
// value). Expected: the Inbox static_assert, naming the event type.
#include "rt/mailbox.h"

struct Order {
  int qty = 0;
};

struct Book {
  keel::Inbox<Order&> inbox{4};
};

Book book;
