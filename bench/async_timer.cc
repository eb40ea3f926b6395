// Async timer and cancellation costs, each beside a baseline measured in
// the same run with the same loop (the method of bench/compare.h, with the
// loops inside one task on a Runtime):
//
//   sleep(0)                      vs yield_now()                  the run-queue round trip a due sleep takes
//   sleep_until(a past instant)   vs yield_now()                  the same, with the clock read
//   sleep(1ns)                    vs TimerWheel schedule + fire   a timer that is due at the next poll: the
//                                                                 wheel round trip, the wake and the turn
//   timeout(1s, a ready task)     vs co_await the task            what timeout() adds around a task that
//                                                                 finishes at once (clock, schedule, cancel)
//   timeout(1s, a ready task)     vs a timeout built on spawning  spawn, timer, join, cancel, by hand
//   timeout_at(deadline, ready)   vs co_await the task            the same without the clock read
//   token.child(), dropped        vs std::make_shared of a node   a child token's allocation and links
//
// Each row reports the candidate's ns per operation and `ratio` =
// candidate / baseline.
//
//   bazel run --config=bench //bench:async_timer -- --benchmark_repetitions=5
#include <chrono>
#include <coroutine>
#include <cstdint>
#include <memory>

#include "async/cancel.h"
#include "async/internal/timer_wake.h"
#include "async/join_handle.h"
#include "async/waker.h"
#include "async/runtime.h"
#include "async/task.h"
#include "async/timer.h"
#include "bench/compare.h"
#include "benchmark/benchmark.h"
#include "rt/handler.h"
#include "rt/timer.h"
#include "rt/world.h"

namespace {

using namespace std::chrono_literals;
using keel::Instant;
using keel::async::Runtime;
using keel::async::Task;

// `n` awaits of op(i) in one task; ns per await.
template <class Op>
double time_awaits(Runtime& rt, std::int64_t n, Op& op) {
  return rt.block_on([](std::int64_t count, Op& next) -> Task<double> {
    const auto start = std::chrono::steady_clock::now();
    for (std::int64_t i = 0; i < count; ++i) {
      co_await next(i);
      benchmark::ClobberMemory();
    }
    const auto stop = std::chrono::steady_clock::now();
    co_return std::chrono::duration<double, std::nano>(stop - start).count() / static_cast<double>(count);
  }(n, op));
}

// bench/compare.h's compare(), for operations that are awaited: the
// framework times the candidate's loop (inside one task), then the baseline
// and the candidate run again in identical untimed loops, alternating.
template <class Candidate, class Baseline>
void compare_awaits(benchmark::State& state, Runtime& rt, Candidate candidate, Baseline baseline) {
  rt.block_on([](benchmark::State& s, Candidate& next) -> Task<void> {
    std::int64_t i = 0;
    for (auto _ : s) {
      co_await next(i++);
      benchmark::ClobberMemory();
    }
  }(state, candidate));
  const std::int64_t n = state.iterations() < 1000 ? 1000 : state.iterations();
  double candidate_ns = 0;
  double baseline_ns = 0;
  for (int round = 0; round < 3; ++round) {
    baseline_ns += time_awaits(rt, n, baseline);
    candidate_ns += time_awaits(rt, n, candidate);
  }
  state.counters["baseline_ns"] = baseline_ns / 3;
  state.counters["candidate_ns"] = candidate_ns / 3;
  state.counters["ratio"] = candidate_ns / baseline_ns;
}

// A World and a Runtime on it.
struct Setup {
  keel::World world = keel::WorldBuilder().build();
  Runtime rt{world};
};

Task<int> ready(std::int64_t i) { co_return static_cast<int>(i & 0xff); }

void BM_SleepZero(benchmark::State& state) {
  Setup s;
  compare_awaits(
      state, s.rt, [](std::int64_t) { return keel::async::sleep(0ns); },
      [](std::int64_t) { return keel::async::yield_now(); });
}
BENCHMARK(BM_SleepZero);

void BM_SleepUntilPast(benchmark::State& state) {
  Setup s;
  const Instant past = s.rt.now() - 1s;
  compare_awaits(
      state, s.rt, [past](std::int64_t) { return keel::async::sleep_until(past); },
      [](std::int64_t) { return keel::async::yield_now(); });
}
BENCHMARK(BM_SleepUntilPast);

// The baseline schedules a handler on the runtime's wheel and polls it at
// the deadline: the wheel's part of a sleep's round trip, without the task.
void BM_SleepDueAtTheNextPoll(benchmark::State& state) {
  Setup s;
  std::uint64_t fired = 0;
  auto on_fire = keel::handler(s.world.registry(), [&fired](Instant) { ++fired; });
  keel::TimerWheel& wheel = s.rt.timers();
  compare_awaits(
      state, s.rt, [](std::int64_t) { return keel::async::sleep(1ns); },
      [&](std::int64_t) {
        const Instant now = s.rt.now();
        wheel.schedule(now, on_fire);
        keel::TimerPoller(wheel).poll(s.world, now);
        return std::suspend_never{};
      });
  benchmark::DoNotOptimize(fired);
}
BENCHMARK(BM_SleepDueAtTheNextPoll);

void BM_TimeoutOfAReadyTask(benchmark::State& state) {
  Setup s;
  compare_awaits(
      state, s.rt, [](std::int64_t i) { return keel::async::timeout(1s, ready(i)); },
      [](std::int64_t i) { return ready(i); });
}
BENCHMARK(BM_TimeoutOfAReadyTask);

// A timeout built on spawning, written by hand: the task spawned, a timer
// at the deadline (whose handler would wake the awaiting task), the join,
// the timer cancelled. The same clock read, the same wheel.
Task<int> spawned_with_deadline(keel::TimerWheel& wheel, const keel::async::internal::WakeAtDeadline& on_fire,
                                std::int64_t i) {
  const Instant deadline = std::chrono::steady_clock::now() + 1s;
  keel::async::JoinHandle<int> task = keel::async::spawn(ready(i));
  const keel::TimerToken timer = wheel.schedule(deadline, on_fire);
  const int value = co_await task;
  wheel.cancel(timer);
  co_return value;
}

void BM_TimeoutOfAReadyTaskAgainstSpawning(benchmark::State& state) {
  Setup s;
  const keel::async::internal::WakeAtDeadline on_fire{keel::async::Waker()};
  compare_awaits(
      state, s.rt, [](std::int64_t i) { return keel::async::timeout(1s, ready(i)); },
      [&](std::int64_t i) { return spawned_with_deadline(s.rt.timers(), on_fire, i); });
}
BENCHMARK(BM_TimeoutOfAReadyTaskAgainstSpawning);

// timeout_at() with a deadline computed once: no clock read per call.
void BM_TimeoutAtOfAReadyTask(benchmark::State& state) {
  Setup s;
  const Instant deadline = s.rt.now() + 1h;
  compare_awaits(
      state, s.rt, [deadline](std::int64_t i) { return keel::async::timeout_at(deadline, ready(i)); },
      [](std::int64_t i) { return ready(i); });
}
BENCHMARK(BM_TimeoutAtOfAReadyTask);

// Both sides allocate one node and drop it; the token also links it under
// its parent and unlinks it.
void BM_ChildToken(benchmark::State& state) {
  struct Node {
    void* links[5];
    std::size_t holds;
    bool cancelled;
  };
  keel::async::CancellationToken root;
  keel::bench::compare(
      state, [&](std::int64_t) { benchmark::DoNotOptimize(root.child()); },
      [&](std::int64_t) { benchmark::DoNotOptimize(std::make_shared<Node>()); });
}
BENCHMARK(BM_ChildToken);

}  // namespace

BENCHMARK_MAIN();
