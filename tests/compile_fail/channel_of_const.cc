// Must not compile: a channel of const messages (a message is moved out of
// the queue). Expected: the channel static_assert, naming the type.
#include "async/channel.h"

struct Order {
  int qty = 0;
};

int main() {
  auto ch = keel::async::local::channel<const Order>(4);
  static_cast<void>(ch);
}
