// Must not compile: drain() given a function that cannot take the event.
// Expected: the drain static_assert, naming the event type.
#include <string>

#include "rt/mailbox.h"

struct Order {
  int qty = 0;
};

std::size_t drain_all(keel::Inbox<Order>& inbox) {
  return inbox.drain([](const std::string& text) { (void)text; });
}
