// Handlers and tasks on one loop: fill notices arrive on a pipe (standing
// in for a socket); a readiness handler reads them and spawns one task per
// fill through the keel::async::Spawner resource; each task waits its turn,
// books the fill by running a handler resolved ahead of time, through
// with_world, and reports it on a local channel the main task reads. One
// thread, one ring, one wait. docs/async.md quotes this file.
//
//   bazel run //examples/async:handlers_and_tasks -- --fills=1000 --backend=epoll
#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "async/channel.h"
#include "async/runtime.h"
#include "async/spawner.h"
#include "async/task.h"
#include "examples/flags.h"
#include "rt/handler.h"
#include "rt/param.h"
#include "rt/uring.h"
#include "rt/world.h"

ABSL_FLAG(int, fills, 1000, "how many fill notices to send, 1 to 1000000");
ABSL_FLAG(std::string, backend, "auto", "the poll source: auto, io_uring or epoll");

struct Fill {
  std::uint32_t order_id = 0;
  std::uint32_t qty = 0;
};

struct Ledger {
  std::vector<int> booked;  // per order id: how many times it was booked
  std::uint64_t qty = 0;
  std::uint64_t readiness = 0;
  std::uint64_t spawned = 0;
};

struct Feed {
  int read_fd = -1;
  int write_fd = -1;
};

// The handler a task runs: books one fill in the ledger.
void book_fill(keel::ResMut<Ledger> ledger, const Fill& fill) {
  ++ledger->booked.at(fill.order_id);
  ledger->qty += fill.qty;
}

// A task per fill: it confirms the fill (here: waits for the other ready
// tasks, as a real one would wait for a reply), books it, and reports it.
template <class Booker>
keel::async::Task<void> confirm(Booker& book, Fill fill, keel::async::local::Sender<std::uint32_t> booked) {
  co_await keel::async::yield_now();
  co_await keel::async::with_world([&](keel::World& w) {
    w.next_sequence();
    book.run(w, fill);
  });
  co_await booked.send(fill.order_id);
}

int main(int argc, char** argv) {
  examples::parse_flags(argc, argv, "Spawns a task per fill notice from a readiness handler; tasks run handlers.");
  const int fills = examples::checked_flag(
      FLAGS_fills, [](int n) { return n >= 1 && n <= 1'000'000; }, "must be from 1 to 1000000");
  const keel::Backend backend = examples::backend_flag(FLAGS_backend);

  int fds[2];
  if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");

  keel::WorldBuilder wb;
  wb.install(keel::async::AsyncPlugin{});
  wb.insert(Ledger{.booked = std::vector<int>(static_cast<std::size_t>(fills), 0)});
  wb.insert(Feed{fds[0], fds[1]});
  wb.install_driver(keel::UringInstaller{.entries = 64, .backend = backend});
  keel::World world = std::move(wb).build();
  keel::async::Runtime rt(world);

  auto book = keel::handler(world.registry(), book_fill);
  using Booker = decltype(book);
  auto [booked_tx, booked_rx] = keel::async::local::channel<std::uint32_t>(1024);

  // The readiness handler: reads whole notices and spawns a task for each.
  auto on_notices = [&book, &booked_tx](keel::ResMut<keel::async::Spawner> tasks, keel::ResMut<Ledger> ledger,
                                        const keel::Readiness& r) {
    ++ledger->readiness;
    std::array<Fill, 64> batch;
    for (;;) {
      const ssize_t n = ::read(r.fd, batch.data(), sizeof(batch));
      if (n <= 0) break;  // EAGAIN: drained until the next readiness
      for (std::size_t i = 0; i < static_cast<std::size_t>(n) / sizeof(Fill); ++i) {
        tasks->spawn(confirm<Booker>(book, batch[i], booked_tx)).detach();
        ++ledger->spawned;
      }
    }
  };
  auto& uring = world.resource<keel::Uring>();
  keel::Watch watch = uring.watch(fds[0], keel::Readable, keel::handler(world.registry(), on_notices));

  // The main task sends the notices in bursts, then waits until every fill is booked.
  auto run = [&]() -> keel::async::Task<std::uint64_t> {
    const Feed& feed = world.resource<Feed>();
    const Ledger& ledger = world.resource<Ledger>();
    for (int sent = 0; sent < fills;) {
      std::array<Fill, 32> burst;
      int k = 0;
      for (; k < 32 && sent < fills; ++k, ++sent) burst[k] = Fill{static_cast<std::uint32_t>(sent), 1 + sent % 7u};
      const ssize_t size = static_cast<ssize_t>(k * sizeof(Fill));
      // A burst is under PIPE_BUF, so it goes in whole or not at all; a full
      // pipe (the handler has not drained it yet) is waited out, not an error.
      while (::write(feed.write_fd, burst.data(), static_cast<std::size_t>(size)) != size) {
        if (errno != EAGAIN) throw std::runtime_error("the pipe refused a burst");
        co_await keel::async::yield_now();
      }
      co_await keel::async::yield_now();  // let the handler and the tasks run
    }
    for (int i = 0; i < fills; ++i) co_await booked_rx.recv();  // one report per booked fill
    co_return ledger.qty;
  };
  const std::uint64_t qty = rt.block_on(run());
  uring.unwatch(watch);
  ::close(fds[0]);
  ::close(fds[1]);

  const Ledger& ledger = world.resource<Ledger>();
  std::uint64_t expected_qty = 0;
  bool once = true;
  for (int i = 0; i < fills; ++i) {
    expected_qty += 1 + static_cast<std::uint32_t>(i) % 7u;
    once = once && ledger.booked[static_cast<std::size_t>(i)] == 1;
  }
  std::printf("handlers and tasks on %s\n", std::string(keel::to_string(uring.backend())).c_str());
  std::printf("%llu readiness events spawned %llu tasks\n", static_cast<unsigned long long>(ledger.readiness),
              static_cast<unsigned long long>(ledger.spawned));
  std::printf("ledger: %d fills, quantity %llu\n", fills, static_cast<unsigned long long>(qty));
  if (!once || qty != expected_qty) {
    std::printf("MISMATCH: a fill was lost or booked twice\n");
    return 1;
  }
  std::printf("every fill booked exactly once\n");
  return 0;
}
