// Timers: order timeouts cancelled by fills, a periodic status line, a
// heartbeat that re-arms itself — on a virtual clock, so the output is the
// same on every run. docs/timers.md quotes this file.
//
//   bazel run //examples:timers
#include <chrono>
#include <cstdint>
#include <iostream>
#include <map>

#include "rt/handler.h"
#include "rt/testing.h"
#include "rt/timer.h"
#include "rt/world.h"

using namespace std::chrono_literals;

// 1. Resources and the start instant.
struct Orders {
  std::map<int, keel::TimerToken> timeouts;  // open orders and their timeout timers
  int expired = 0;
  int filled = 0;
};

const keel::Instant kStart = keel::Instant{} + 1h;

long ms(keel::Instant at) {
  return static_cast<long>(std::chrono::duration_cast<std::chrono::milliseconds>(at - kStart).count());
}

// 2. A callback: its context is the order it guards. The event is the
//    deadline the timer fired for.
struct OrderTimeout {
  int order_id;
};

void on_order_timeout(OrderTimeout& ctx, keel::ResMut<Orders> orders, keel::Instant at) {
  orders->timeouts.erase(ctx.order_id);
  ++orders->expired;
  std::cout << "order " << ctx.order_id << " timed out at " << ms(at) << " ms\n";
}

// 3. A fill cancels its order's timeout; cancel() says whether it was still
//    pending (false once the timeout has fired).
void on_fill(keel::ResMut<Orders> orders, keel::ResMut<keel::TimerWheel> wheel, int order_id) {
  const auto it = orders->timeouts.find(order_id);
  if (it == orders->timeouts.end()) return;
  const bool cancelled = wheel->cancel(it->second);
  orders->timeouts.erase(it);
  ++orders->filled;
  std::cout << "order " << order_id << " filled, timeout cancelled: " << std::boolalpha << cancelled << "\n";
}

// 4. A periodic status line.
void print_status(keel::Res<Orders> orders, keel::Seq seq, keel::Instant at) {
  std::cout << "status at " << ms(at) << " ms: " << orders->timeouts.size() << " open, " << orders->filled
            << " filled, " << orders->expired << " expired (event #" << seq.value() << ")\n";
}

// 5. A heartbeat that re-arms itself, three times: firing() is the token of
//    the timer whose handler is running.
struct Heartbeat {
  int beats = 0;
};

void on_heartbeat(Heartbeat& hb, keel::ResMut<keel::TimerWheel> wheel, keel::Instant at) {
  ++hb.beats;
  std::cout << "heartbeat " << hb.beats << " at " << ms(at) << " ms\n";
  if (hb.beats < 3) wheel->reschedule(wheel->firing(), at + 70ms);
}

int main() {
  // 6. Install the driver: it registers the TimerWheel resource and returns
  //    the poller the loop calls.
  keel::WorldBuilder wb;
  wb.emplace<Orders>();
  keel::TimerPoller timers = wb.install_driver(keel::TimerInstaller{.resolution = 100us});
  keel::World world = std::move(wb).build();
  auto& wheel = world.resource<keel::TimerWheel>();
  keel::testing::VirtualClock clock(kStart);

  // 7. Schedule: two order timeouts, a status line every 100 ms, a heartbeat.
  const auto& reg = world.registry();
  auto& orders = world.resource<Orders>();
  for (int id : {1, 2}) {
    orders.timeouts[id] = wheel.schedule(clock.now() + 50ms, keel::callback(OrderTimeout{id}, reg, on_order_timeout));
  }
  wheel.schedule_periodic(clock.now() + 100ms, 100ms, keel::fn<&print_status>);
  wheel.schedule(clock.now() + 20ms, keel::callback(Heartbeat{}, reg, on_heartbeat));
  auto fill = keel::handler(reg, on_fill);
  std::cout << "next deadline in " << ms(*wheel.next_deadline()) << " ms, " << wheel.size() << " timers\n";

  // 8. The loop: advance the clock, poll. A real loop passes
  //    steady_clock::now() and lets the poll source sleep until
  //    wheel.next_deadline().
  for (int step = 1; step <= 30; ++step) {
    clock.advance(10ms);
    if (ms(clock.now()) == 30) {
      world.next_sequence();
      fill.run(world, 1);  // order 1 fills before its timeout
    }
    timers.poll(world, clock.now());
  }
  std::cout << "done: " << orders.filled << " filled, " << orders.expired << " expired, " << wheel.size()
            << " timer pending\n";
}
