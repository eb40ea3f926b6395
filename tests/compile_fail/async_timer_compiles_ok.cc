// Must compile: the timers and cancellation tokens used as documented —
// the positive control of the async compile-fail tests.
#include <chrono>
#include <expected>

#include "async/cancel.h"
#include "async/task.h"
#include "async/timer.h"
#include "rt/timer.h"

using namespace std::chrono_literals;

keel::async::Task<int> fetch_depth();
keel::async::Task<void> flush();

keel::async::Task<int> session(keel::async::CancellationToken stop) {
  co_await keel::async::sleep(5ms);
  co_await keel::async::sleep(std::chrono::duration<double, std::milli>(0.5));
  co_await keel::async::sleep_until(std::chrono::steady_clock::now() + 1ms);
  std::expected<int, keel::async::TimedOut> depth = co_await keel::async::timeout(1s, fetch_depth());
  keel::async::Task<void> pending = flush();
  std::expected<void, keel::async::TimedOut> flushed =
      co_await keel::async::timeout_at(std::chrono::steady_clock::now() + 1s, std::move(pending));
  keel::async::Interval tick(10ms, keel::MissedTicks::kBurst);
  const keel::Instant at = co_await tick.next();
  keel::async::CancellationToken child = stop.child();
  if (!child.is_cancelled()) co_await child.cancelled();
  co_return depth.value_or(0) + flushed.has_value() + (at > keel::Instant{});
}
