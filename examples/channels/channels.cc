// Channels between tasks and threads (docs/channels.md): a local channel
// between two tasks with backpressure, a market-data thread feeding a task
// through an spsc channel, fills from several threads through an mpsc
// channel, and what close() does.
//
//   bazel run //examples/channels
#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "async/channel.h"
#include "async/join_handle.h"
#include "async/runtime.h"
#include "async/task.h"
#include "rt/world.h"

namespace {

using keel::async::Task;

struct Order {
  std::string symbol;
  std::int64_t qty = 0;
};

struct Tick {
  std::uint64_t seq = 0;
  double price = 0;
};

struct Fill {
  int venue = 0;
  std::int64_t qty = 0;
};

// 1. Two tasks of one thread ----------------------------------------------------------------------

Task<void> produce_orders(keel::async::local::Sender<Order> tx) {
  for (std::int64_t i = 1; i <= 5; ++i) {
    Order order{"ESZ5", i};
    co_await tx.send(std::move(order));  // waits while the channel is full
  }
}  // the last sender goes: the receiver sees the end

Task<std::int64_t> consume_orders(keel::async::local::Receiver<Order> rx) {
  std::int64_t total = 0;
  while (std::optional<Order> o = co_await rx.recv()) total += o->qty;
  co_return total;  // nullopt: every sender is gone and the queue is empty
}

Task<void> local_orders() {
  auto [tx, rx] = keel::async::local::channel<Order>(2);
  keel::async::spawn(produce_orders(std::move(tx))).detach();
  const std::int64_t total = co_await keel::async::spawn(consume_orders(std::move(rx)));
  std::printf("local: 5 orders, total qty %lld\n", static_cast<long long>(total));
}

// 2. A plain thread feeding a task -----------------------------------------------------------------

Task<std::uint64_t> count_ticks(keel::async::spsc::Receiver<Tick>& rx) {
  std::uint64_t seen = 0;
  while (std::optional<Tick> t = co_await rx.recv()) {
    if (t->seq == seen) ++seen;  // in order, each once
  }
  co_return seen;
}

void feed_from_a_thread(keel::async::Runtime& rt) {
  auto [tx, rx] = keel::async::spsc::channel<Tick>(1024);
  std::thread feed([tx = std::move(tx)]() mutable {
    for (std::uint64_t seq = 0; seq < 100000; ++seq) {
      if (!tx.send_blocking(Tick{seq, 100.0 + static_cast<double>(seq % 7)})) return;  // closed: stop
    }
  });  // the thread's sender goes with it: the stream ends
  const std::uint64_t seen = rt.block_on(count_ticks(rx));
  feed.join();
  std::printf("spsc: %llu ticks from a plain thread, in order\n", static_cast<unsigned long long>(seen));
}

// 3. Many threads to one task ----------------------------------------------------------------------

Task<std::int64_t> book_fills(keel::async::mpsc::Receiver<Fill>& rx) {
  std::int64_t filled = 0;
  while (std::optional<Fill> f = co_await rx.recv()) filled += f->qty;
  co_return filled;
}

void fills_from_venues(keel::async::Runtime& rt) {
  auto [tx, rx] = keel::async::mpsc::channel<Fill>(256);
  std::vector<std::thread> venues;
  for (int venue = 0; venue < 3; ++venue) {
    venues.emplace_back([venue, tx] {  // each thread holds a copy of the sender
      for (int i = 0; i < 1000; ++i) {
        auto sent = tx.try_send(Fill{venue, 1});
        while (!sent && sent.error().full()) sent = tx.try_send(sent.error().message);
      }
    });
  }
  { auto mine = std::move(tx); }  // drop this thread's copy, or the stream never ends
  const std::int64_t filled = rt.block_on(book_fills(rx));
  for (std::thread& t : venues) t.join();
  std::printf("mpsc: %lld fills from 3 threads\n", static_cast<long long>(filled));
}

// 4. close() ----------------------------------------------------------------------------------------

void close_and_drain() {
  auto [tx, rx] = keel::async::local::channel<std::unique_ptr<Order>>(4);
  static_cast<void>(tx.try_send(std::make_unique<Order>(Order{"NQZ5", 1})));
  rx.close();                                                     // no more sends...
  auto refused = tx.try_send(std::make_unique<Order>(Order{"NQZ5", 2}));
  if (!refused && refused.error().closed()) {
    std::printf("closed: message %lld came back\n", static_cast<long long>(refused.error().message->qty));
  }
  auto first = rx.try_recv();                                     // ...but the queue still drains
  auto after = rx.try_recv();
  if (first && !after && after.error() == keel::async::TryRecvError::closed) {
    std::printf("closed: drained %lld, then the end\n", static_cast<long long>((*first)->qty));
  }
}

}  // namespace

int main() {
  keel::World world = keel::WorldBuilder().build();
  keel::async::Runtime rt(world);
  rt.block_on(local_orders());
  feed_from_a_thread(rt);
  fills_from_venues(rt);
  close_and_drain();
  return 0;
}
