// Must not compile: send_blocking() on a local channel (its receiver is a
// task of the same thread, which the blocked thread would never run).
// Expected: the static_assert saying so, naming the message type.
#include "async/channel.h"

struct Order {
  int qty = 0;
};

int main() {
  auto [tx, rx] = keel::async::local::channel<Order>(4);
  static_cast<void>(tx.send_blocking(Order{}));
}
