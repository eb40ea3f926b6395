// Time in tasks: a quote request bounded by timeout(), whose guard takes
// the request back when the deadline wins; a heartbeat on an Interval; a
// session that closes at a set instant with sleep_until. Everything runs
// on one Runtime, on the runtime's own timer wheel. docs/async-timers.md
// quotes this file; the numbered comments match its sections.
//
//   bazel run //examples/async_timers:timers
#include <chrono>
#include <expected>
#include <iostream>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "async/join_handle.h"
#include "async/runtime.h"
#include "async/task.h"
#include "async/timer.h"
#include "rt/timer.h"
#include "rt/world.h"

using namespace std::chrono_literals;

struct Venue {
  std::string name;
  std::chrono::milliseconds latency;
  double price;
};

// 2. sleep: a venue answers after its latency.
//
// 5. The request is registered while the task waits for the answer. When
// timeout() destroys the task, the guard's destructor takes the request
// back out: a timed-out request leaves nothing behind.
class PendingRequest {
 public:
  PendingRequest(std::set<std::string>& pending, std::string venue)
      : pending_(&pending), venue_(std::move(venue)) {
    pending_->insert(venue_);
  }
  PendingRequest(const PendingRequest&) = delete;
  PendingRequest& operator=(const PendingRequest&) = delete;
  ~PendingRequest() { pending_->erase(venue_); }

 private:
  std::set<std::string>* pending_;
  std::string venue_;
};

keel::async::Task<double> request_quote(Venue venue, std::set<std::string>& pending) {
  PendingRequest request(pending, venue.name);
  co_await keel::async::sleep(venue.latency);
  co_return venue.price;
}

// 3. timeout: each venue gets 20 ms; a slow one gives TimedOut, and its
// request task is gone before timeout() returns.
keel::async::Task<void> collect_quotes(std::set<std::string>& pending) {
  const std::vector<Venue> venues{{"A", 2ms, 101.5}, {"B", 500ms, 101.25}};
  for (const Venue& venue : venues) {
    std::expected<double, keel::async::TimedOut> quote =
        co_await keel::async::timeout(20ms, request_quote(venue, pending));
    if (quote) {
      std::cout << "venue " << venue.name << " quoted " << *quote << "\n";
    } else {
      std::cout << "venue " << venue.name << " timed out; requests still pending: " << pending.size() << "\n";
    }
  }
}

// 3. One deadline for several steps: compute it once, pass it to each.
//
// 5. The venues are named, not written as braced temporaries inside the
// co_await: g++ 12 destroys an aggregate temporary in a co_await
// expression twice.
keel::async::Task<int> two_steps_by(keel::Instant deadline, std::set<std::string>& pending) {
  const Venue first{"C", 1ms, 100.0};
  const Venue second{"D", 1ms, 100.5};
  int answered = 0;
  if (co_await keel::async::timeout_at(deadline, request_quote(first, pending))) ++answered;
  if (co_await keel::async::timeout_at(deadline, request_quote(second, pending))) ++answered;
  co_return answered;
}

// 4. Interval: a heartbeat every 5 ms. kBurst: after a stall, every missed
// beat still comes, one per co_await, so the count of beats is exact.
keel::async::Task<void> heartbeat(int beats) {
  keel::async::Interval tick(5ms, keel::MissedTicks::kBurst);
  const keel::Instant first = tick.deadline();
  for (int beat = 0; beat < beats; ++beat) {
    const keel::Instant at = co_await tick.next();
    std::cout << "beat " << beat << " at +" << (at - first) / 1ms << " ms\n";
  }
}

// 2. sleep_until: the session ends at a set instant, whatever ran before.
keel::async::Task<void> session(keel::async::Runtime& runtime, std::set<std::string>& pending) {
  const keel::Instant close = runtime.now() + 100ms;
  keel::async::JoinHandle<void> beats = keel::async::spawn(heartbeat(3));
  co_await collect_quotes(pending);
  std::cout << "answered by the shared deadline: " << co_await two_steps_by(runtime.now() + 50ms, pending) << "\n";
  co_await beats;
  co_await keel::async::sleep_until(close);
  std::cout << "session closed\n";
}

int main() {
  keel::World world = keel::WorldBuilder().build();
  keel::async::Runtime runtime(world);
  std::set<std::string> pending;
  runtime.block_on(session(runtime, pending));
  std::cout << "timers left on the runtime's wheel: " << runtime.timers().size() << "\n";
}
