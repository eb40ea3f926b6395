// Must compile: the channel snippets' positive control — the three kinds
// with a move-only message, send() awaited as a statement (its result is
// not [[nodiscard]]), try_send() tested as a bool, send_blocking() on a
// cross-thread sender.
#include <memory>
#include <optional>

#include "async/channel.h"
#include "async/task.h"

struct Order {
  std::unique_ptr<int> qty;
};

keel::async::Task<void> relay(keel::async::local::Receiver<Order> rx, keel::async::mpsc::Sender<Order> tx) {
  while (std::optional<Order> o = co_await rx.recv()) co_await tx.send(std::move(*o));
}

int main() {
  auto [ltx, lrx] = keel::async::local::channel<Order>(4);
  auto [stx, srx] = keel::async::spsc::channel<Order>(4);
  auto [mtx, mrx] = keel::async::mpsc::channel<Order>(4);
  if (!ltx.try_send(Order{})) return 1;
  if (!stx.send_blocking(Order{})) return 1;
  keel::async::Task<void> t = relay(std::move(lrx), mtx);
  return srx.try_recv() ? 0 : 1;
}
