// Task costs inside a running keel::async::Runtime: spawn + await of a task
// that is ready at once (frames from the arena, and from the heap for
// contrast), a detached spawn run to completion, and a task that wakes
// itself (yield_now). Each case runs beside a hand-written baseline in the
// same binary — the same work as a non-inlined function call, which is
// what the task would cost with no runtime at all — and reports per-op
// nanoseconds (candidate_ns) and the ratio.
//
//   bazel run --config=bench //bench:async -- --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <chrono>
#include <cstdint>
#include <utility>

#include "async/join_handle.h"
#include "async/runtime.h"
#include "async/task.h"
#include "bench/compare.h"
#include "benchmark/benchmark.h"
#include "rt/world.h"

namespace {

using keel::async::Runtime;
using keel::async::Task;

[[gnu::noinline]] std::int64_t work(std::int64_t i) { return keel::bench::opaque(i) * 3 + 1; }

Task<std::int64_t> ready(std::int64_t i) { co_return work(i); }

std::int64_t sink = 0;

// Times `loop(n)` — a task doing n operations — inside block_on, with the
// framework choosing n by batches; then, untimed, alternates it with the
// baseline in identical loop counts and reports both per-op times.
template <class Loop, class Baseline>
void compare_in_runtime(benchmark::State& state, Runtime& rt, Loop loop, Baseline baseline) {
  constexpr std::int64_t kBatch = 1000;
  for (auto _ : state) rt.block_on(loop(kBatch));
  state.SetItemsProcessed(state.iterations() * kBatch);
  const std::int64_t n = std::max<std::int64_t>(state.iterations() * kBatch, 100'000);
  double candidate_ns = 0;
  double baseline_ns = 0;
  for (int round = 0; round < 3; ++round) {
    baseline_ns += keel::bench::time_loop(n, baseline);
    const auto start = std::chrono::steady_clock::now();
    rt.block_on(loop(n));
    candidate_ns += std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start).count() /
                    static_cast<double>(n);
  }
  state.counters["baseline_ns"] = baseline_ns / 3;
  state.counters["candidate_ns"] = candidate_ns / 3;
  state.counters["ratio"] = candidate_ns / baseline_ns;
}

auto call_baseline = [](std::int64_t i) { sink += work(i); };

Task<void> spawn_and_await(std::int64_t n) {
  std::int64_t sum = 0;
  for (std::int64_t i = 0; i < n; ++i) sum += co_await keel::async::spawn(ready(i));
  sink += sum;
}

void BM_SpawnAwaitReady_Arena(benchmark::State& state) {
  keel::World world = keel::WorldBuilder().build();
  Runtime rt(world);
  compare_in_runtime(state, rt, spawn_and_await, call_baseline);
  state.counters["heap_fallbacks"] = static_cast<double>(rt.arena_stats().heap_fallbacks);
}
BENCHMARK(BM_SpawnAwaitReady_Arena);

void BM_SpawnAwaitReady_HeapOnly(benchmark::State& state) {
  keel::World world = keel::WorldBuilder().build();
  keel::async::RuntimeOptions options;
  options.arena.clear();  // every frame from the heap
  Runtime rt(world, options);
  compare_in_runtime(state, rt, spawn_and_await, call_baseline);
}
BENCHMARK(BM_SpawnAwaitReady_HeapOnly);

Task<void> ready_void(std::int64_t i) {
  sink += work(i);
  co_return;
}

// Detached spawns in groups of 64; the spawner yields after each group,
// and resumes once all 64 have run to completion (FIFO).
Task<void> spawn_detached(std::int64_t n) {
  constexpr std::int64_t kGroup = 64;
  for (std::int64_t i = 0; i < n; ++i) {
    keel::async::spawn(ready_void(i)).detach();
    if (i % kGroup == kGroup - 1) co_await keel::async::yield_now();
  }
  co_await keel::async::yield_now();
}

void BM_SpawnDetachedRunToCompletion(benchmark::State& state) {
  keel::World world = keel::WorldBuilder().build();
  Runtime rt(world);
  compare_in_runtime(state, rt, spawn_detached, call_baseline);
}
BENCHMARK(BM_SpawnDetachedRunToCompletion);

// One task woken by itself n times: each yield_now() queues it and the
// runtime resumes it (the ring is polled every event_interval resumes).
Task<void> self_wake(std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) {
    sink += work(i);
    co_await keel::async::yield_now();
  }
}

void BM_SelfWakePoll(benchmark::State& state) {
  keel::World world = keel::WorldBuilder().build();
  keel::async::RuntimeOptions options;
  options.ring_poll_interval = std::chrono::microseconds(state.range(0));
  Runtime rt(world, options);
  compare_in_runtime(state, rt, self_wake, call_baseline);
}
BENCHMARK(BM_SelfWakePoll)->Arg(0)->Arg(20)->Arg(1000);

// Awaiting a task that is ready at once, no spawn: the cost of one await
// through the trampoline.
Task<void> await_ready(std::int64_t n) {
  std::int64_t sum = 0;
  for (std::int64_t i = 0; i < n; ++i) sum += co_await ready(i);
  sink += sum;
}

void BM_AwaitReadyTask(benchmark::State& state) {
  keel::World world = keel::WorldBuilder().build();
  Runtime rt(world);
  compare_in_runtime(state, rt, await_ready, call_baseline);
}
BENCHMARK(BM_AwaitReadyTask);

}  // namespace

BENCHMARK_MAIN();
